package stats

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactLowerRank is quantileLowerRank by exact rational arithmetic: the
// greatest k with P(Binomial(n, q) ≤ k-1) ≤ alpha.
func exactLowerRank(n int64, q, alpha *big.Rat) int64 {
	sum := new(big.Rat)
	one := big.NewRat(1, 1)
	notQ := new(big.Rat).Sub(one, q)
	for j := int64(0); j < n; j++ {
		term := new(big.Rat).SetInt(new(big.Int).Binomial(n, j))
		for range j {
			term.Mul(term, q)
		}
		for range n - j {
			term.Mul(term, notQ)
		}
		if sum.Add(sum, term).Cmp(alpha) > 0 {
			return j
		}
	}
	return n
}

func TestQuantileLowerRankAgainstExactSums(t *testing.T) {
	for _, q := range []struct{ num, den int64 }{{99, 100}, {1, 2}, {9, 10}} {
		for n := int64(1); n <= 60; n++ {
			for _, a := range []struct{ num, den int64 }{{1, 20}, {1, 1000}, {1, 40}} {
				want := exactLowerRank(n, big.NewRat(q.num, q.den), big.NewRat(a.num, a.den))
				got := quantileLowerRank(n, float64(q.num)/float64(q.den), float64(a.num)/float64(a.den))
				if got != want {
					t.Errorf("n %d, q %d/%d, alpha %d/%d: rank %d, want %d", n, q.num, q.den, a.num, a.den, got, want)
				}
			}
		}
	}
}

func TestQuantileLowerBoundAtKnownRanks(t *testing.T) {
	ranked := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[n-1-i] = float64(i + 1) // descending, so that it is sorted first
		}
		return s
	}
	for _, c := range []struct {
		n            int
		alpha        float64
		want         float64
		ok           bool
		aboutTheRank string
	}{
		// mpmath: P(X ≤ 8) = 0.0043 ≤ 0.05 < P(X ≤ 9) = 0.096 for X ~ Binomial(10, 0.99).
		{10, 0.05, 9, true, "of 10 requests, the second slowest"},
		// P(X ≤ 984) = 0.0479 ≤ 0.05 < P(X ≤ 985) = 0.0824 for Binomial(1000, 0.99).
		{1000, 0.05, 985, true, "the 985th of 1000"},
		// P(X ≤ 975) = 4.2e-5 ≤ 1e-4 < P(X ≤ 976) = 1.1e-4.
		{1000, 1e-4, 976, true, "the 976th of 1000 at 1e-4"},
		{1, 0.001, 0, false, "one request is above the P99 once in a hundred"},
		{0, 0.05, 0, false, "no request"},
		{10, 0, 0, false, "nothing left to spend"},
	} {
		got, ok, err := QuantileLowerBound(ranked(c.n), 0.99, c.alpha)
		if err != nil || got != c.want || ok != c.ok {
			t.Errorf("%s: bound %v (ok %v, %v), want %v (ok %v)", c.aboutTheRank, got, ok, err, c.want, c.ok)
		}
	}
}

// TestQuantileLowerBoundCoversTheP99 draws exponential latencies, rounded to
// milliseconds as nginx logs them (ties), and checks that the 95 % bound is
// above the true P99 in at most about 5 % of samples, and that it is not
// uselessly low either: above the P97 in most.
func TestQuantileLowerBoundCoversTheP99(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const mean, trials = 0.010, 2000
	p99 := math.Ceil(-mean*math.Log(0.01)*1000) / 1000 // the rounded durations' P99
	p97 := -mean * math.Log(0.03)
	above, useful := 0, 0
	for range trials {
		s := make([]float64, 200+rng.IntN(800))
		for i := range s {
			s[i] = math.Ceil(rng.ExpFloat64()*mean*1000) / 1000
		}
		b, ok, err := QuantileLowerBound(s, 0.99, 0.05)
		if err != nil || !ok {
			t.Fatalf("no bound of %d durations: %v", len(s), err)
		}
		if b > p99 {
			above++
		}
		if b > p97 {
			useful++
		}
	}
	if useful < trials*9/10 {
		t.Errorf("the bound was above the P97 in only %d of %d samples", useful, trials)
	}
	if rate := float64(above) / trials; rate > 0.065 {
		t.Errorf("the bound was above the P99 in %.1f%% of samples, want at most about 5%%", 100*rate)
	}
}

func TestQuantileLowerBoundLeavesItsSampleAlone(t *testing.T) {
	s := []float64{0.3, 0.1, 0.2}
	if _, _, err := QuantileLowerBound(s, 0.5, 0.4); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s, []float64{0.3, 0.1, 0.2}) {
		t.Errorf("the sample changed to %v", s)
	}
}

func TestQuantileLowerBoundRejectsBadArguments(t *testing.T) {
	for _, c := range []struct {
		s        []float64
		q, alpha float64
	}{{[]float64{math.NaN()}, 0.99, 0.05}, {[]float64{1}, 1, 0.05}, {[]float64{1}, 0.99, 1}} {
		if _, _, err := QuantileLowerBound(c.s, c.q, c.alpha); err == nil {
			t.Errorf("%v, q %v, alpha %v accepted", c.s, c.q, c.alpha)
		}
	}
}
