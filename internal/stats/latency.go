package stats

// LatencyEvidence is what one look found of the canary's request times
// against stable's: plain numbers, for the release policy's input and the
// history.
type LatencyEvidence struct {
	Test string `json:"test"`
	MannWhitney
	// Alpha is the look's nominal level: the canary is slower than stable,
	// at the test's confidence, when PValue ≤ Alpha.
	Alpha float64 `json:"alpha"`
	// Reachable says whether MinPValue ≤ Alpha: whether these samples
	// could have shown the canary slower at all. When false the look is
	// inconclusive, however the requests went.
	Reachable bool `json:"reachable"`
	// The builds' median request times in milliseconds, 0 without
	// requests: the middle of each distribution, for the verdict's text;
	// ProbabilitySlower is the test's own measure of the difference.
	CanaryMedianMs float64 `json:"canary_median_ms"`
	StableMedianMs float64 `json:"stable_median_ms"`
}

// CompareLatency tests whether the canary's requests take longer than
// stable's over the same window, from each request's duration in seconds
// (nginx's $upstream_response_time), by MannWhitneyGreater, against alpha,
// the look's nominal level in [0, 1).
func CompareLatency(canarySeconds, stableSeconds []float64, alpha float64) (LatencyEvidence, error) {
	if err := checkAlpha(alpha); err != nil {
		return LatencyEvidence{}, err
	}
	canary, stable, err := ascending(canarySeconds, stableSeconds)
	if err != nil {
		return LatencyEvidence{}, err
	}
	mw := mannWhitney(canary, stable)
	return LatencyEvidence{Test: TestMannWhitneyGreater, MannWhitney: mw, Alpha: alpha,
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
