package stats

import (
	"fmt"
	"math"
)

// Interval is an estimate with its confidence interval.
type Interval struct {
	Estimate float64 `json:"estimate"`
	Lower    float64 `json:"lower"`
	Upper    float64 `json:"upper"`
	// Confidence is the interval's two-sided coverage, 0.9 for 90 %: its
	// lower bound alone is a one-sided bound at (1+Confidence)/2, 95 %.
	Confidence float64 `json:"confidence"`
	Method     string  `json:"method"`
}

// Method names of the intervals.
const (
	MethodWilson   = "wilson_score"
	MethodNewcombe = "newcombe_hybrid_score"
)

func checkConfidence(confidence float64) error {
	if !(confidence > 0 && confidence < 1) {
		return fmt.Errorf("stats: confidence %v is not between 0 and 1", confidence)
	}
	return nil
}

// WilsonInterval is the Wilson score interval for a proportion, errors of
// requests (E. B. Wilson, 1927; method 3 of R. G. Newcombe, "Two-sided
// confidence intervals for the single proportion: comparison of seven
// methods", Statistics in Medicine 17, 1998, 857-872). Unlike p ± z·SE it
// stays inside [0, 1] and does not collapse to a point at 0 errors. Without
// requests it is [0, 1].
func WilsonInterval(c Counts, confidence float64) (Interval, error) {
	if err := c.check("the build"); err != nil {
		return Interval{}, err
	}
	if err := checkConfidence(confidence); err != nil {
		return Interval{}, err
	}
	z := NormalUpperQuantile((1 - confidence) / 2)
	lo, hi := wilson(c, z)
	return Interval{Estimate: c.rate(), Lower: lo, Upper: hi, Confidence: confidence, Method: MethodWilson}, nil
}

// WilsonLower is the one-sided lower bound, at level alpha, of the
// proportion errors of requests: the two-sided interval's lower bound at
// 1 - 2·alpha, also where alpha is too small for 1 - 2·alpha to be told
// from 1 in floating point (an O'Brien-Fleming look early in a step spends
// 1e-40). 0 without requests or without alpha.
func WilsonLower(c Counts, alpha float64) (float64, error) {
	if err := c.check("the build"); err != nil {
		return 0, err
	}
	if err := checkAlpha(alpha); err != nil {
		return 0, err
	}
	if alpha == 0 || c.Requests == 0 {
		return 0, nil
	}
	lo, _ := wilson(c, NormalUpperQuantile(alpha))
	return lo, nil
}

func wilson(c Counts, z float64) (lo, hi float64) {
	if c.Requests == 0 {
		return 0, 1
	}
	n, p := float64(c.Requests), c.rate()
	z2n := z * z / n
	center := (p + z2n/2) / (1 + z2n)
	half := z / (1 + z2n) * math.Sqrt(p*(1-p)/n+z2n/(4*n))
	lo, hi = max(0, center-half), min(1, center+half)
	// The bounds at 0 and at n errors are 0 and 1 exactly, not a rounding
	// away from them.
	if c.Errors == 0 {
		lo = 0
	}
	if c.Errors == c.Requests {
		hi = 1
	}
	return lo, hi
}

// NewcombeInterval is the interval for the canary's error proportion minus
// stable's, as a fraction (0.01 is a point), by Newcombe's hybrid score
// method: each build's Wilson interval, combined as
//
//	lower = d - √((p₁-l₁)² + (u₂-p₂)²),  upper = d + √((u₁-p₁)² + (p₂-l₂)²)
//
// (method 10 of R. G. Newcombe, "Interval estimation for the difference
// between independent proportions: comparison of eleven methods",
// Statistics in Medicine 17, 1998, 873-890). Its coverage is close to
// nominal for small counts and rates near 0, where the Wald interval's is
// not; it is defined with 0 errors on either side and without requests
// (that side's proportion then ranges over [0, 1]).
//
// It is an approximate interval, not the inversion of FisherGreater: near
// the boundary its lower bound can be above 0 while Fisher's p-value is
// still above α (1 error in 30 against 0 in 300: the 90 % interval starts
// at +0.6 points, p = 0.091). Let the p-value decide and the interval say
// how large the difference is.
func NewcombeInterval(canary, stable Counts, confidence float64) (Interval, error) {
	if err := canary.check("the canary"); err != nil {
		return Interval{}, err
	}
	if err := stable.check("stable"); err != nil {
		return Interval{}, err
	}
	if err := checkConfidence(confidence); err != nil {
		return Interval{}, err
	}
	return newcombe(canary, stable, confidence), nil
}

func newcombe(canary, stable Counts, confidence float64) Interval {
	z := NormalUpperQuantile((1 - confidence) / 2)
	p1, p2 := canary.rate(), stable.rate()
	l1, u1 := wilson(canary, z)
	l2, u2 := wilson(stable, z)
	d := p1 - p2
	return Interval{Estimate: d,
		Lower:      max(-1, d-math.Hypot(p1-l1, u2-p2)),
		Upper:      min(1, d+math.Hypot(u1-p1, p2-l2)),
		Confidence: confidence, Method: MethodNewcombe}
}
