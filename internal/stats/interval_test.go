package stats

import "testing"

// Full-digit references: the same formulas in mpmath 1.3.0 at 40 digits
// (z from mp.erfinv), which agree to the 4 decimals the papers print.

func TestWilsonIntervalAgainstNewcombe1998(t *testing.T) {
	// Newcombe (1998), single proportion, the examples of its Table I,
	// method 3 (score without continuity correction): 81/263, 15/148, 0/20,
	// 1/29 at 95 %.
	for _, c := range []struct {
		c      Counts
		lo, hi float64
	}{
		{Counts{263, 81}, 0.25528851987827423, 0.36620957698280007},
		{Counts{148, 15}, 0.06238639953073628, 0.16048724172330804},
		{Counts{20, 0}, 0, 0.16112515805281939},
		{Counts{29, 1}, 0.0061132142927626605, 0.17175521879320288},
		{Counts{0, 0}, 0, 1},
	} {
		got, err := WilsonInterval(c.c, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		expectClose(t, "Wilson lower", got.Lower, c.lo, 1e-13)
		expectClose(t, "Wilson upper", got.Upper, c.hi, 1e-13)
	}
}

func TestNewcombeIntervalAgainstNewcombe1998(t *testing.T) {
	// Newcombe (1998), difference of proportions, Table II, method 10, at
	// 95 %: examples (a) to (h). The paper prints 0.0524 to 0.3339 for
	// (a), 0.1705 to 0.8090 for (b), -0.0381 to 0.1926 for (d), -0.1611 to
	// 0.2775 for (e).
	for _, c := range []struct {
		canary, stable Counts
		lo, hi         float64
	}{
		{Counts{70, 56}, Counts{80, 48}, 0.052431472402364907, 0.33387265403690595},
		{Counts{10, 9}, Counts{10, 3}, 0.17052272393450296, 0.80901797353548796},
		{Counts{7, 6}, Counts{7, 2}, 0.058227927482312292, 0.80624963752422774},
		{Counts{56, 5}, Counts{29, 0}, -0.038137147903536864, 0.1925600138551116},
		{Counts{10, 0}, Counts{20, 0}, -0.16112515805281933, 0.27753279986288917},
		{Counts{10, 0}, Counts{10, 0}, -0.27753279986288917, 0.27753279986288917},
		{Counts{10, 10}, Counts{20, 0}, 0.67908603714191477, 1},
		{Counts{10, 10}, Counts{10, 0}, 0.60750935043052427, 1},
	} {
		got, err := NewcombeInterval(c.canary, c.stable, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		expectClose(t, "Newcombe lower", got.Lower, c.lo, 1e-12)
		expectClose(t, "Newcombe upper", got.Upper, c.hi, 1e-12)
	}
}

func TestNewcombeIntervalAtOtherConfidences(t *testing.T) {
	for _, c := range []struct {
		canary, stable Counts
		confidence     float64
		lo, hi         float64
	}{
		// Issue 18's 1 error in 30 against 0 in 300.
		{Counts{30, 1}, Counts{300, 0}, 0.9, 0.0059709432437983252, 0.13640414215181708},
		{Counts{10000, 53}, Counts{10000, 45}, 0.98, -0.0015437566794054614, 0.0031727226402118158},
		{Counts{1000000, 5200}, Counts{1000000, 5000}, 0.99, -5.9519422805109388e-5, 0.00045960809306458284},
	} {
		got, err := NewcombeInterval(c.canary, c.stable, c.confidence)
		if err != nil {
			t.Fatal(err)
		}
		expectClose(t, "Newcombe lower", got.Lower, c.lo, 1e-11)
		expectClose(t, "Newcombe upper", got.Upper, c.hi, 1e-11)
	}
}

func TestIntervalsRejectABadConfidence(t *testing.T) {
	for _, conf := range []float64{0, 1, -0.5, 95} {
		if _, err := NewcombeInterval(Counts{10, 1}, Counts{10, 0}, conf); err == nil {
			t.Errorf("confidence %v accepted", conf)
		}
		if _, err := WilsonInterval(Counts{10, 1}, conf); err == nil {
			t.Errorf("confidence %v accepted", conf)
		}
	}
}

// TestWilsonLowerIsTheIntervalsLowerBound: at alpha the two-sided interval's
// lower bound at 1 - 2·alpha (Newcombe's 1998 case 81/263 at 95 %:
// 0.2553), and it keeps going where 1 - 2·alpha is 1 in floating point.
func TestWilsonLowerIsTheIntervalsLowerBound(t *testing.T) {
	c := Counts{Requests: 263, Errors: 81}
	two, err := WilsonInterval(c, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	lo, err := WilsonLower(c, 0.025)
	if err != nil {
		t.Fatal(err)
	}
	expectClose(t, "lower bound", lo, two.Lower, 1e-15)
	expectClose(t, "Newcombe's 0.2553", lo, 0.25528851987827423, 1e-14)
	tiny, err := WilsonLower(c, 1e-40)
	if err != nil || !(tiny > 0 && tiny < lo) {
		t.Errorf("at alpha 1e-40: %v (%v), want a bound between 0 and %v", tiny, err, lo)
	}
	for _, c := range []struct {
		c     Counts
		alpha float64
	}{{Counts{Requests: 0}, 0.05}, {c, 0}} {
		if got, err := WilsonLower(c.c, c.alpha); got != 0 || err != nil {
			t.Errorf("%+v at %v: %v, %v; want 0", c.c, c.alpha, got, err)
		}
	}
	if _, err := WilsonLower(Counts{Requests: 1, Errors: 2}, 0.05); err == nil {
		t.Error("2 errors in 1 request accepted")
	}
}
