package stats

import "fmt"

// LatencyEvidence is what one look found of the canary's request times
// against stable's: plain numbers, for the release policy's input and the
// history.
type LatencyEvidence struct {
	Test string `json:"test"`
	// Margin is how much longer than stable's the canary's requests may
	// take before they count as slower, as a fraction (0.1: 10 %): the test
	// compares the canary's times with stable's multiplied by 1 + Margin,
	// and its p-value, U and ProbabilitySlower are of that comparison.
	Margin float64 `json:"margin"`
	MannWhitney
	// Alpha is the look's nominal level: the canary is slower than stable,
	// at the test's confidence, when PValue ≤ Alpha.
	Alpha float64 `json:"alpha"`
	// Reachable says whether MinPValue ≤ Alpha: whether these samples
	// could have shown the canary slower at all. When false the look is
	// inconclusive, however the requests went.
	Reachable bool `json:"reachable"`
	// The builds' median request times in milliseconds, 0 without
	// requests, as measured (stable's not multiplied by 1 + Margin): the
	// middle of each distribution, for the verdict's text;
	// ProbabilitySlower is the test's own measure of the difference.
	CanaryMedianMs float64 `json:"canary_median_ms"`
	StableMedianMs float64 `json:"stable_median_ms"`
}

// CompareLatency tests whether the canary's requests take more than
// 1 + margin times as long as stable's over the same window (margin ≥ 0; 0
// asks whether they take longer at all), from each request's duration in
// seconds (nginx's $upstream_response_time), by MannWhitneyGreater of the
// canary's durations against stable's multiplied by 1 + margin, against
// alpha, the look's nominal level in [0, 1).
//
// The margin makes the null hypothesis "not slower by more than the
// margin" (a non-inferiority test): with thousands of requests a side the
// plain test finds differences nobody would abort a release for, such as
// two builds both answering in 1 ms where one gives 2 ms a little more
// often (measured: P(slower) 0.521, p = 0.00028, medians equal). Scaling
// also undoes ties at nginx's millisecond resolution, which alike builds
// share.
func CompareLatency(canarySeconds, stableSeconds []float64, alpha, margin float64) (LatencyEvidence, error) {
	if err := checkAlpha(alpha); err != nil {
		return LatencyEvidence{}, err
	}
	if !(margin >= 0 && margin <= 100) {
		return LatencyEvidence{}, fmt.Errorf("stats: a latency margin of %v is not between 0 and 100", margin)
	}
	canary, stable, err := ascending(canarySeconds, stableSeconds)
	if err != nil {
		return LatencyEvidence{}, err
	}
	scaled := stable
	if margin > 0 {
		scaled = make([]float64, len(stable))
		for i, v := range stable {
			scaled[i] = v * (1 + margin)
		}
	}
	mw := mannWhitney(canary, scaled)
	return LatencyEvidence{Test: TestMannWhitneyGreater, Margin: margin, MannWhitney: mw, Alpha: alpha,
		Reachable:      alpha > 0 && mw.MinPValue <= alpha,
		CanaryMedianMs: 1000 * median(canary), StableMedianMs: 1000 * median(stable)}, nil
}

// median of an ascending sample, 0 when it is empty.
func median(s []float64) float64 {
	n := len(s)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	default:
		return s[n/2-1]/2 + s[n/2]/2
	}
}
