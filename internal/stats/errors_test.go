package stats

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestErrorsNeededIsTheFirstSignificant checks the bisection against a
// linear scan over every canary outcome, and on the way that the p-value
// never rises with the canary's failures (which the bisection relies on).
func TestErrorsNeededIsTheFirstSignificant(t *testing.T) {
	for _, alpha := range []float64{0.05, 0.01, 1e-4} {
		for n1 := int64(0); n1 <= 25; n1++ {
			for n2 := int64(0); n2 <= 40; n2 += 3 {
				for c := int64(0); c <= n2; c++ {
					stable := Counts{n2, c}
					want, prev := int64(-1), 2.0
					for a := int64(0); a <= n1; a++ {
						p := fisherGreater(Counts{n1, a}, stable)
						if p > prev {
							t.Fatalf("p rises from %g to %g at %d of %d against %v", prev, p, a, n1, stable)
						}
						prev = p
						if want < 0 && p <= alpha {
							want = a
						}
					}
					if got, _ := ErrorsNeeded(stable, n1, alpha); got != want {
						t.Errorf("ErrorsNeeded(%v, %d, %g) = %d, want %d", stable, n1, alpha, got, want)
					}
				}
			}
		}
	}
}

func TestErrorsNeededAtScale(t *testing.T) {
	stable := Counts{900000, 4500}
	got, err := ErrorsNeeded(stable, 100000, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if p := fisherGreater(Counts{100000, got}, stable); p > 0.01 {
		t.Errorf("%d errors give p = %g > 0.01", got, p)
	}
	if p := fisherGreater(Counts{100000, got - 1}, stable); p <= 0.01 {
		t.Errorf("%d errors already give p = %g", got-1, p)
	}
	// Stable fails at 0.5 %: the canary's 100,000 would fail about 500
	// times at the same rate, and 2.33 standard deviations (√500 ≈ 22) more
	// are needed at 1 %.
	if got < 540 || got > 560 {
		t.Errorf("ErrorsNeeded = %d, want about 552", got)
	}
}

func TestErrorsNeededSaysWhenNoOutcomeCouldReachAlpha(t *testing.T) {
	for _, c := range []struct {
		stable Counts
		n      int64
		alpha  float64
		want   int64
	}{
		{Counts{300, 0}, 1, 0.05, 1},   // p = 1/301
		{Counts{10, 0}, 1, 0.05, -1},   // p = 1/11 at best
		{Counts{10, 0}, 2, 0.05, 2},    // p = 1/66
		{Counts{300, 0}, 30, 0, -1},    // nothing left to spend
		{Counts{300, 0}, 0, 0.05, -1},  // no canary request
		{Counts{20, 20}, 50, 0.05, -1}, // stable failing throughout
	} {
		if got, _ := ErrorsNeeded(c.stable, c.n, c.alpha); got != c.want {
			t.Errorf("ErrorsNeeded(%v, %d, %g) = %d, want %d", c.stable, c.n, c.alpha, got, c.want)
		}
	}
}

// TestASignificantTestHasAnIntervalAbove0 checks, over a grid of windows
// like a release step's, that whenever Fisher's test is significant at α
// the Newcombe interval at 1-2α lies above 0: an abort's evidence, its
// interval at the release's overall level, never says the difference could
// be nil (a look's smaller nominal level only lowers the p-value needed).
// The converse does not hold: the interval is the more liberal of the two;
// see NewcombeInterval. Nor does it hold at every level: at 1-2·10⁻⁶ the
// score intervals' normal approximation is too far out in its tail (18 of
// 50 against 0 of 50 has p < 10⁻⁶ but an interval from -2.6 points).
func TestASignificantTestHasAnIntervalAbove0(t *testing.T) {
	for _, alpha := range []float64{0.1, 0.05, 0.01, 1e-3} {
		for _, n := range [][2]int64{{10, 90}, {30, 300}, {100, 900}, {20, 20}, {50, 50}, {200, 1800}, {5, 45}} {
			for a := int64(0); a <= min(n[0], 40); a++ {
				for c := int64(0); c <= min(n[1], 40); c++ {
					canary, stable := Counts{n[0], a}, Counts{n[1], c}
					if fisherGreater(canary, stable) > alpha {
						continue
					}
					if d := newcombe(canary, stable, 1-2*alpha); d.Lower <= 0 {
						t.Errorf("%v against %v: significant at %g, interval from %g", canary, stable, alpha, d.Lower)
					}
				}
			}
		}
	}
}

func TestCompareErrorsEvidence(t *testing.T) {
	// Issue 18: 1 error in 30 canary requests against 0 in 300 aborted a
	// release on a margin. As evidence it is not significant at 0.05, but
	// it could have been: 1 failure would do if the canary had answered
	// fewer requests, 2 of these 30 would.
	e, err := CompareErrors(Counts{30, 1}, Counts{300, 0}, 0.05, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, "p", e.PValue, 1.0/11, 1e-13)
	if !e.Reachable || e.ErrorsNeeded != 2 {
		t.Errorf("reachable %v with %d errors, want 2", e.Reachable, e.ErrorsNeeded)
	}
	expectClose(t, "canary rate", e.Canary.RatePercent, 100.0/30, 1e-15)
	expectClose(t, "difference", e.DifferencePoints.Estimate, 100.0/30, 1e-15)
	expectClose(t, "lower", e.DifferencePoints.Lower, 0.59709432437983252, 1e-11)
	doc, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"test":"fisher_exact_greater"`, `"p_value":`, `"alpha":0.05`, `"difference_points":{"estimate":`, `"method":"newcombe_hybrid_score"`, `"reachable":true`, `"errors_needed":2`, `"canary":{"requests":30,"errors":1,"rate_percent":`} {
		if !strings.Contains(string(doc), key) {
			t.Errorf("evidence %s has no %s", doc, key)
		}
	}
}

// TestCompareErrorsOfAnEmptyWindow: no request on either side, or nothing
// left to spend, is evidence of nothing, in finite numbers JSON can carry.
func TestCompareErrorsOfAnEmptyWindow(t *testing.T) {
	for _, c := range []struct {
		canary, stable Counts
		alpha          float64
	}{{Counts{}, Counts{}, 0.05}, {Counts{}, Counts{100, 3}, 0.05}, {Counts{10, 10}, Counts{}, 0.05}, {Counts{10, 10}, Counts{100, 0}, 0}} {
		e, err := CompareErrors(c.canary, c.stable, c.alpha, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		if e.PValue <= c.alpha || e.Reachable {
			t.Errorf("%v against %v: p %g, reachable %v", c.canary, c.stable, e.PValue, e.Reachable)
		}
		d := e.DifferencePoints
		if !finite(e.PValue, d.Estimate, d.Lower, d.Upper, e.Canary.RatePercent) {
			t.Errorf("non-finite evidence %+v", e)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Error(err)
		}
	}
}

func TestCompareErrorsRejectsBadArguments(t *testing.T) {
	if _, err := CompareErrors(Counts{10, 11}, Counts{10, 0}, 0.05, 0.9); err == nil {
		t.Error("11 errors in 10 requests accepted")
	}
	if _, err := CompareErrors(Counts{10, 1}, Counts{10, 0}, 1, 0.9); err == nil {
		t.Error("alpha 1 accepted")
	}
	if _, err := CompareErrors(Counts{10, 1}, Counts{10, 0}, 0.05, 1); err == nil {
		t.Error("confidence 1 accepted")
	}
}
