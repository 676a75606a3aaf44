package stats

import (
	"math/big"
	"testing"
)

// exactGreater is Fisher's one-sided p-value by brute force, independent of
// the package's method: the sum over tables as extreme as the observed one
// of C(K, k)·C(N-K, n1-k) / C(N, n1), exactly in big.Rat.
func exactGreater(canary, stable Counts) float64 {
	k, n1 := canary.Errors, canary.Requests
	failed := canary.Errors + stable.Errors
	total := canary.Requests + stable.Requests
	sum := new(big.Int)
	for x := k; x <= min(n1, failed); x++ {
		if n1-x > total-failed {
			continue
		}
		term := new(big.Int).Binomial(failed, x)
		term.Mul(term, new(big.Int).Binomial(total-failed, n1-x))
		sum.Add(sum, term)
	}
	p, _ := new(big.Rat).SetFrac(sum, new(big.Int).Binomial(total, n1)).Float64()
	return p
}

func TestFisherGreaterAgainstR(t *testing.T) {
	for _, c := range []struct {
		name           string
		canary, stable Counts
		want           float64
	}{
		// R's ?fisher.test, Agresti's tea tasting:
		// fisher.test(matrix(c(3, 1, 1, 3), 2), alternative = "greater")
		// prints p-value = 0.2429; exactly 17/70.
		{"tea tasting", Counts{Requests: 4, Errors: 3}, Counts{Requests: 4, Errors: 1}, 17.0 / 70},
		// R's ?fisher.test, Fisher's convictions of twins:
		// fisher.test(matrix(c(2, 10, 15, 3), 2), alternative = "less")
		// prints p-value = 0.0004652; "less" for the dizygotic twins' 2 of
		// 17 is "greater" for the monozygotic twins' 10 of 13. Full digits
		// from the exact sum in mpmath.
		{"convictions", Counts{Requests: 13, Errors: 10}, Counts{Requests: 17, Errors: 2}, 0.00046518094336290501366},
		// Issue 18's example, 1 error in 30 canary requests against 0 in
		// 300: the one failure lands on the canary with probability 30/330.
		{"issue 18", Counts{Requests: 30, Errors: 1}, Counts{Requests: 300}, 1.0 / 11},
	} {
		got, err := FisherGreater(c.canary, c.stable)
		if err != nil {
			t.Fatal(err)
		}
		expectClose(t, c.name, got, c.want, 1e-13)
	}
}

// TestFisherGreaterAtAMillionRequests checks windows of up to a million
// requests a build, where a difference of log-factorials would have lost
// half the digits. References: the exact tail sum in mpmath 1.3.0 at 50
// digits (log-gamma for the first term, the ratio of consecutive terms
// after it, summed until terms fell below 1e-45 of the sum).
func TestFisherGreaterAtAMillionRequests(t *testing.T) {
	for _, c := range []struct {
		canary, stable Counts
		want           float64
	}{
		{Counts{100000, 530}, Counts{900000, 4500}, 0.10650949962427054959},
		{Counts{1000000, 5200}, Counts{1000000, 5000}, 0.024106636478294115512},
		{Counts{1000000, 6000}, Counts{1000000, 5000}, 6.0102354232287003063e-22},
		{Counts{1000000, 4900}, Counts{1000000, 5000}, 0.84556838160272924784},
		{Counts{1000000, 120}, Counts{1000000, 0}, 7.4963524351817662424e-37},
		{Counts{1000000, 500000}, Counts{1000000, 499000}, 0.078857252394056296139},
		{Counts{100000, 40}, Counts{900000, 20}, 5.3534481732139176683e-26},
	} {
		got, err := FisherGreater(c.canary, c.stable)
		if err != nil {
			t.Fatal(err)
		}
		expectClose(t, "FisherGreater", got, c.want, 1e-13)
	}
}

// TestFisherGreaterAgainstBruteForce compares every table with up to 14
// requests a build, and a spread of larger ones, with the exact sum.
func TestFisherGreaterAgainstBruteForce(t *testing.T) {
	check := func(canary, stable Counts) {
		t.Helper()
		got, err := FisherGreater(canary, stable)
		if err != nil {
			t.Fatal(err)
		}
		if want := exactGreater(canary, stable); !near(got, want, 1e-12) {
			t.Errorf("FisherGreater(%v, %v) = %.17g, exact %.17g", canary, stable, got, want)
		}
	}
	for n1 := int64(0); n1 <= 14; n1++ {
		for n2 := int64(0); n2 <= 14; n2++ {
			for a := int64(0); a <= n1; a++ {
				for c := int64(0); c <= n2; c++ {
					check(Counts{n1, a}, Counts{n2, c})
				}
			}
		}
	}
	for _, n := range [][4]int64{{300, 3, 2700, 3}, {300, 12, 2700, 30}, {3000, 0, 27000, 1}, {2000, 1999, 2000, 1990}, {50, 25, 450, 2}, {1500, 40, 1500, 20}} {
		check(Counts{n[0], n[1]}, Counts{n[2], n[3]})
	}
}

func TestFisherGreaterRejectsImpossibleCounts(t *testing.T) {
	for _, c := range [][2]Counts{{{3, 4}, {10, 0}}, {{10, 0}, {-1, 0}}, {{10, -1}, {10, 0}}} {
		if _, err := FisherGreater(c[0], c[1]); err == nil {
			t.Errorf("FisherGreater(%v, %v) gave no error", c[0], c[1])
		}
	}
}
