package stats

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestCompareLatencyEvidence(t *testing.T) {
	// Hollander & Wolfe's samples (see TestMannWhitneyAgainstR) as seconds.
	e, err := CompareLatency(hwX, hwY, 0.05, 0)
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, "p", e.PValue, 382.0/3003, 1e-13)
	// medians: x sorted 0.73 0.80 0.83 1.04 1.38 | 1.45 ..., y's middle 0.90.
	expectClose(t, "canary median", e.CanaryMedianMs, 1000*(1.38+1.45)/2, 1e-15)
	expectClose(t, "stable median", e.StableMedianMs, 900, 1e-15)
	if !e.Reachable {
		t.Error("1/3003 at best, yet not reachable at 0.05")
	}
	doc, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"test":"mann_whitney_greater"`, `"method":"exact"`, `"u":35`, `"p_value":`, `"probability_slower":0.7`, `"min_p_value":`, `"alpha":0.05`, `"reachable":true`, `"canary_n":10`} {
		if !strings.Contains(string(doc), key) {
			t.Errorf("evidence %s has no %s", doc, key)
		}
	}
}

// TestCompareLatencySaysWhenNoOutcomeCouldReachAlpha: 1 canary request
// against 15 stable ones is at best 1 arrangement in 16 (p = 0.0625 > 0.05);
// against 19 it is 1 in 20, just reachable. All durations equal, nothing is.
func TestCompareLatencySaysWhenNoOutcomeCouldReachAlpha(t *testing.T) {
	stable := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = 0.010 + float64(i)/1000
		}
		return s
	}
	for _, c := range []struct {
		canary, stable []float64
		alpha          float64
		reachable      bool
		minP           float64
	}{
		{[]float64{0.5}, stable(15), 0.05, false, 1.0 / 16},
		{[]float64{0.5}, stable(19), 0.05, true, 1.0 / 20},
		{[]float64{0.5}, stable(19), 0, false, 1.0 / 20},
		{[]float64{0.01, 0.01}, []float64{0.01, 0.01, 0.01}, 0.05, false, 1},
		{nil, stable(100), 0.05, false, 1},
	} {
		e, err := CompareLatency(c.canary, c.stable, c.alpha, 0)
		if err != nil {
			t.Fatal(err)
		}
		if e.Reachable != c.reachable || !near(e.MinPValue, c.minP, 1e-14) {
			t.Errorf("%d against %d at %g: reachable %v, min p %g; want %v, %g", len(c.canary), len(c.stable), c.alpha, e.Reachable, e.MinPValue, c.reachable, c.minP)
		}
		if !finite(e.U, e.Z, e.PValue, e.ProbabilitySlower, e.MinPValue, e.CanaryMedianMs, e.StableMedianMs) {
			t.Errorf("non-finite evidence %+v", e)
		}
	}
}

func TestCompareLatencyRejectsBadArguments(t *testing.T) {
	if _, err := CompareLatency([]float64{math.NaN()}, []float64{0.1}, 0.05, 0); err == nil {
		t.Error("NaN accepted")
	}
	if _, err := CompareLatency([]float64{0.1}, []float64{0.1}, -0.1, 0); err == nil {
		t.Error("alpha -0.1 accepted")
	}
}

// TestALatencyMarginAsksForMoreThanAnyDifference: builds alike at nginx's
// millisecond resolution, one answering 2 ms a little more often (the
// e2e's false abort), are slower for the plain test and not with a 10 %
// margin; a canary 30 % slower is slower with it.
func TestALatencyMarginAsksForMoreThanAnyDifference(t *testing.T) {
	times := func(n, twos int, scale float64) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = 0.001 * scale
			if i < twos {
				s[i] = 0.002 * scale
			}
		}
		return s
	}
	canary, stable := times(4096, 900, 1), times(4096, 740, 1)
	plain, err := CompareLatency(canary, stable, 0.0015, 0)
	if err != nil {
		t.Fatal(err)
	}
	within, err := CompareLatency(canary, stable, 0.0015, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if !(plain.PValue <= 0.0015) || within.PValue <= 0.0015 {
		t.Errorf("900 against 740 answers of 2 ms in 4096: plain p = %g, within 10%% p = %g; want only the plain test significant", plain.PValue, within.PValue)
	}
	if within.StableMedianMs != 1 || within.CanaryMedianMs != 1 || within.Margin != 0.1 {
		t.Errorf("evidence %+v, want both medians as measured, 1 ms, and the margin", within)
	}
	slower, err := CompareLatency(times(300, 0, 1.3), times(3000, 0, 1), 0.0015, 0.1)
	if err != nil || !(slower.PValue <= 0.0015) {
		t.Errorf("every canary request 30%% slower: p = %g (%v), want significant within 10%%", slower.PValue, err)
	}
	if _, err := CompareLatency(canary, stable, 0.05, -0.1); err == nil {
		t.Error("a margin of -10% accepted")
	}
}
