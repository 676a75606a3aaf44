package stats

import (
	"math"
	"testing"
)

// near reports whether got is within rel of want, relatively (absolutely
// when want is 0).
func near(got, want, rel float64) bool {
	if got == want {
		return true
	}
	if want == 0 {
		return math.Abs(got) <= rel
	}
	return math.Abs(got-want) <= rel*math.Abs(want)
}

func expectClose(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if !near(got, want, rel) {
		t.Errorf("%s = %.17g, want %.17g (relative error %.3g > %.3g)", what, got, want, math.Abs(got-want)/math.Abs(want), rel)
	}
}

// finite reports whether every figure is a number JSON can carry.
func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
