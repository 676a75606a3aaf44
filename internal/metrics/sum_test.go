package metrics

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestSumAddsInstancesUpAndTakesTheYoungestUptime(t *testing.T) {
	at := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	a := Sample{At: at, Requests: 100, Errors: 2, UptimeSeconds: 50, Mode: 1,
		Buckets: []Bucket{{0.005, 60}, {0.1, 98}, {math.Inf(1), 100}}}
	b := Sample{At: at.Add(time.Second), Requests: 40, Errors: 0, UptimeSeconds: 7, Chaos: 2,
		Buckets: []Bucket{{0.005, 40}, {0.1, 40}, {math.Inf(1), 40}}}
	got := Sum(a, b)
	want := Sample{At: at.Add(time.Second), Requests: 140, Errors: 2, UptimeSeconds: 7, Mode: 1, Chaos: 2,
		Buckets: []Bucket{{0.005, 100}, {0.1, 138}, {math.Inf(1), 140}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sum = %+v\nwant  %+v", got, want)
	}
	if w := Compute(a, Sum(a, b)); !w.Reset {
		t.Errorf("an instance joining a sum of one older instance reads as %+v, want a counter reset", w)
	}
}
