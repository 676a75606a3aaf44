package stats

import "fmt"

// TestFisherGreater names the error test in evidence.
const TestFisherGreater = "fisher_exact_greater"

// Proportion is one build's failures over a window.
type Proportion struct {
	Requests    int64   `json:"requests"`
	Errors      int64   `json:"errors"`
	RatePercent float64 `json:"rate_percent"`
}

func proportion(c Counts) Proportion {
	return Proportion{Requests: c.Requests, Errors: c.Errors, RatePercent: 100 * c.rate()}
}

// ErrorEvidence is what one look found of the canary's errors against
// stable's: plain numbers, for the release policy's input and the history.
type ErrorEvidence struct {
	Test   string     `json:"test"`
	Canary Proportion `json:"canary"`
	Stable Proportion `json:"stable"`
	// PValue is FisherGreater's: how likely chance alone put this many of
	// the window's failures on the canary.
	PValue float64 `json:"p_value"`
	// Alpha is the nominal level this look was asked to judge at (the one
	// an alpha spending rule left it): the canary is worse than stable, at
	// the test's confidence, when PValue ≤ Alpha.
	Alpha float64 `json:"alpha"`
	// DifferencePoints is the canary's error rate minus stable's in
	// percentage points, with its Newcombe interval.
	DifferencePoints Interval `json:"difference_points"`
	// Reachable says whether any outcome of the canary's requests could
	// have reached Alpha against stable's counts: when it is false, no
	// verdict of "worse" was possible and the look is inconclusive.
	Reachable bool `json:"reachable"`
	// ErrorsNeeded is the fewest failures among the canary's requests that
	// would have been significant at Alpha, stable's counts as they are;
	// -1 when not Reachable.
	ErrorsNeeded int64 `json:"errors_needed"`
}

// CompareErrors tests whether the canary fails more often than stable over
// the same window: Fisher's exact one-sided p-value against alpha (the
// look's nominal level, in [0, 1); 0 when nothing is left to spend), the
// difference of the two rates with its Newcombe interval at confidence
// (two-sided, in (0, 1): 0.9 gives a 95 % lower bound), and whether alpha
// was reachable at all with these counts.
func CompareErrors(canary, stable Counts, alpha, confidence float64) (ErrorEvidence, error) {
	if err := canary.check("the canary"); err != nil {
		return ErrorEvidence{}, err
	}
	if err := stable.check("stable"); err != nil {
		return ErrorEvidence{}, err
	}
	if err := checkAlpha(alpha); err != nil {
		return ErrorEvidence{}, err
	}
	if err := checkConfidence(confidence); err != nil {
		return ErrorEvidence{}, err
	}
	d := newcombe(canary, stable, confidence)
	d.Estimate, d.Lower, d.Upper = 100*d.Estimate, 100*d.Lower, 100*d.Upper
	needed := errorsNeeded(stable, canary.Requests, alpha)
	return ErrorEvidence{Test: TestFisherGreater,
		Canary: proportion(canary), Stable: proportion(stable),
		PValue: fisherGreater(canary, stable), Alpha: alpha,
		DifferencePoints: d, Reachable: needed >= 0, ErrorsNeeded: needed}, nil
}

func checkAlpha(alpha float64) error {
	if !(alpha >= 0 && alpha < 1) {
		return fmt.Errorf("stats: alpha %v is not in [0, 1)", alpha)
	}
	return nil
}

// ErrorsNeeded is the fewest failures among canaryRequests that Fisher's
// test would find significant at alpha against stable's counts, or -1 when
// not even all of them failing would be: then the window cannot tell a
// broken canary from chance at that confidence, however it goes. It is
// computed from the test itself, not from a rule of thumb on counts: 1
// canary request against 0 failures in 300 can be significant at 0.05
// (p = 1/301), 1 against 0 in 10 cannot (p = 1/11).
func ErrorsNeeded(stable Counts, canaryRequests int64, alpha float64) (int64, error) {
	if err := stable.check("stable"); err != nil {
		return -1, err
	}
	if canaryRequests < 0 {
		return -1, fmt.Errorf("stats: %d canary requests", canaryRequests)
	}
	if err := checkAlpha(alpha); err != nil {
		return -1, err
	}
	return errorsNeeded(stable, canaryRequests, alpha), nil
}

// errorsNeeded searches by bisection: the p-value falls as the canary's
// failures grow, the other counts fixed (each one more moves the observed
// table further into the tail; TestErrorsNeededIsTheFirstSignificant
// checks it against a linear scan).
func errorsNeeded(stable Counts, n int64, alpha float64) int64 {
	p := func(k int64) float64 { return fisherGreater(Counts{Requests: n, Errors: k}, stable) }
	if alpha <= 0 || n == 0 || p(n) > alpha {
		return -1
	}
	lo, hi := int64(0), n // p(lo) > alpha (p(0) is 1), p(hi) ≤ alpha
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if p(mid) <= alpha {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}
