package stats

import (
	"math"
	"math/bits"
	"slices"
	"testing"
)

// bruteU is the canary's U by definition, pair by pair.
func bruteU(canary, stable []float64) float64 {
	var u float64
	for _, x := range canary {
		for _, y := range stable {
			switch {
			case x > y:
				u++
			case x == y:
				u += 0.5
			}
		}
	}
	return u
}

// brutePermutation is the exact one-sided p-value by enumerating every way
// of choosing which n₁ of the pooled values were the canary's, each equally
// likely under the null: the share whose U is at least the observed one.
func brutePermutation(canary, stable []float64) float64 {
	pooled := append(slices.Clone(canary), stable...)
	n, n1 := len(pooled), len(canary)
	obs := bruteU(canary, stable)
	var hit, all float64
	for mask := uint32(0); mask < 1<<n; mask++ {
		if bits.OnesCount32(mask) != n1 {
			continue
		}
		var a, b []float64
		for i, v := range pooled {
			if mask&(1<<i) != 0 {
				a = append(a, v)
			} else {
				b = append(b, v)
			}
		}
		all++
		if bruteU(a, b) >= obs-1e-9 {
			hit++
		}
	}
	return hit / all
}

// R's ?wilcox.test, Hollander & Wolfe (1973, p. 69) permeability constants:
// wilcox.test(x, y, alternative = "g") prints W = 35, p-value = 0.1272.
// There are no ties, both samples are under 50, so R's p is exact:
// 382 of the C(15, 5) = 3003 arrangements have U ≥ 35 (by enumeration).
var (
	hwX = []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	hwY = []float64{1.15, 0.88, 0.90, 0.74, 1.21}
)

func TestMannWhitneyAgainstR(t *testing.T) {
	r, err := MannWhitneyGreater(hwX, hwY)
	if err != nil {
		t.Fatal(err)
	}
	if r.U != 35 || r.Method != MethodExact {
		t.Errorf("U = %v by %s, want 35 exact", r.U, r.Method)
	}
	expectClose(t, "p", r.PValue, 382.0/3003, 1e-13)
	if math.Abs(r.PValue-0.1272) > 5e-5 {
		t.Errorf("p = %.5f, R prints 0.1272", r.PValue)
	}
	expectClose(t, "p by enumeration", r.PValue, brutePermutation(hwX, hwY), 1e-13)
	expectClose(t, "probability slower", r.ProbabilitySlower, 35.0/50, 1e-15)
	// The canary slowest of all: 1 arrangement in 3003.
	expectClose(t, "min p", r.MinPValue, 1.0/3003, 1e-13)
	// The normal z R uses with exact = FALSE: (35 - 25 - 0.5)/√(50·16/12).
	expectClose(t, "z", r.Z, 9.5/math.Sqrt(50.0*16/12), 1e-14)
}

// TestMannWhitneyExactAgainstEnumeration compares the exact distribution,
// ties and all, with enumeration on small samples: durations on a coarse
// grid (many ties, as nginx's millisecond times give) and distinct ones.
func TestMannWhitneyExactAgainstEnumeration(t *testing.T) {
	seed := uint64(1)
	next := func(levels int) float64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return float64(seed>>33%uint64(levels)) / 1000
	}
	for _, levels := range []int{2, 3, 5, 1000000} {
		for n1 := 1; n1 <= 8; n1++ {
			for n2 := 1; n2 <= 8; n2++ {
				canary, stable := make([]float64, n1), make([]float64, n2)
				for i := range canary {
					canary[i] = next(levels) + 0.001*float64(i%2) // a little slower
				}
				for i := range stable {
					stable[i] = next(levels)
				}
				r, err := MannWhitneyGreater(canary, stable)
				if err != nil {
					t.Fatal(err)
				}
				if r.U != bruteU(canary, stable) {
					t.Errorf("U = %v, pair by pair %v", r.U, bruteU(canary, stable))
				}
				want := brutePermutation(canary, stable)
				if r.Method == MethodExact && !near(r.PValue, want, 1e-12) {
					t.Errorf("%v against %v: p = %.17g, enumeration %.17g", canary, stable, r.PValue, want)
				}
				// The slowest arrangement of the same values.
				pooled := append(slices.Clone(canary), stable...)
				slices.Sort(pooled)
				worst := brutePermutation(pooled[n2:], pooled[:n2])
				if r.Method == MethodExact && !near(r.MinPValue, worst, 1e-12) {
					t.Errorf("%v against %v: min p = %.17g, enumeration %.17g", canary, stable, r.MinPValue, worst)
				}
			}
		}
	}
}

// TestMannWhitneyNormalAgainstR's references are R's normal approximation,
// wilcox.test(x, y, alternative = "greater", exact = FALSE, correct = TRUE):
// z = (W - n₁n₂/2 - 0.5)/σ, σ² = n₁n₂/12·((N+1) - Σ(t³-t)/(N(N-1))),
// p = pnorm(z, lower.tail = FALSE), evaluated by an independent script
// (python3 with mpmath at 30 digits: W by bisect over the sorted stable
// sample, ties counted with collections.Counter) on the samples below.
func TestMannWhitneyNormalAgainstR(t *testing.T) {
	canary, stable := latencies(3000, 0.4142135623730951, 42), latencies(2000, 0.6180339887498949, 40)
	r, err := MannWhitneyGreater(canary, stable)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != MethodNormal {
		t.Fatalf("method %s", r.Method)
	}
	expectClose(t, "U", r.U, normalRef.u, 0)
	expectClose(t, "z", r.Z, normalRef.z, 1e-12)
	expectClose(t, "p", r.PValue, normalRef.p, 1e-11)
	expectClose(t, "min p", r.MinPValue, normalRef.minP, 1e-10)
}

// latencies are n durations at nginx's millisecond resolution from 10 ms
// to 10+levels ms, spread by the golden ratio's (or √2's) fractional
// multiples: the same float64 operations in Go and in the reference
// script, so the same samples.
func latencies(n int, step float64, levels int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Floor(math.Mod(float64(i)*step, 1)*float64(levels))/1000 + 0.010
	}
	return out
}

var normalRef = struct{ u, z, p, minP float64 }{
	u: 3142115.5, z: 2.8428387350367695914, p: 0.0022356844224550994508,
	// 6.0e-784 in mpmath: below float64's range.
	minP: 0,
}

// TestMannWhitneyExactMeetsTheNormalAt49 checks the hand-over at
// ExactBelow: with 49 requests a side the exact p-value and the normal
// approximation's (the reported Z's upper tail) are within 0.003, with and
// without ties, from no shift to a clear one.
func TestMannWhitneyExactMeetsTheNormalAt49(t *testing.T) {
	for _, levels := range []int{8, 40, 1000000} {
		for shift := 0; shift <= 6; shift++ {
			canary, stable := latencies(49, 0.4142135623730951, levels), latencies(49, 0.6180339887498949, levels)
			for i := range canary {
				canary[i] += float64(shift) * float64(levels) / 40 / 1000
			}
			r, err := MannWhitneyGreater(canary, stable)
			if err != nil {
				t.Fatal(err)
			}
			if r.Method != MethodExact {
				t.Fatalf("method %s at 49", r.Method)
			}
			if d := math.Abs(r.PValue - NormalSF(r.Z)); d > 0.003 {
				t.Errorf("levels %d shift %d: exact p %.5f, normal %.5f", levels, shift, r.PValue, NormalSF(r.Z))
			}
		}
	}
}

func TestMannWhitneyOfNothingToCompare(t *testing.T) {
	same := []float64{0.01, 0.01, 0.01}
	for _, c := range [][2][]float64{{nil, {0.1}}, {{0.1}, nil}, {same, same}, {slices.Repeat(same, 30), slices.Repeat(same, 40)}} {
		r, err := MannWhitneyGreater(c[0], c[1])
		if err != nil {
			t.Fatal(err)
		}
		if r.PValue != 1 || r.MinPValue != 1 || !finite(r.U, r.Z, r.ProbabilitySlower) {
			t.Errorf("%v against %v: %+v", c[0], c[1], r)
		}
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := MannWhitneyGreater([]float64{0.1}, []float64{0.1, bad}); err == nil {
			t.Errorf("a duration of %v was accepted", bad)
		}
	}
}

func TestMannWhitneyLeavesItsSamplesAlone(t *testing.T) {
	canary, stable := []float64{3, 1, 2}, []float64{0.5, 0.25}
	if _, err := MannWhitneyGreater(canary, stable); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(canary, []float64{3, 1, 2}) || !slices.Equal(stable, []float64{0.5, 0.25}) {
		t.Errorf("samples changed: %v, %v", canary, stable)
	}
}

// TestMannWhitneyAtScale: 100,000 requests a side on 40 millisecond
// levels (ties throughout), half the canary's a millisecond slower: U from
// the merge against U counted by definition from stable's histogram, and a
// difference of 1/80 in the chance of being slower found at once (its
// standard error is about 0.0013 here).
func TestMannWhitneyAtScale(t *testing.T) {
	canary, stable := latencies(100000, 0.4142135623730951, 40), latencies(100000, 0.6180339887498949, 40)
	for i := 0; i < len(canary); i += 2 {
		canary[i] += 0.001
	}
	r, err := MannWhitneyGreater(canary, stable)
	if err != nil {
		t.Fatal(err)
	}
	// U by counting: for each canary value, the stable values below it and
	// half those equal, from stable's histogram (40 levels).
	count := map[float64]float64{}
	for _, y := range stable {
		count[y]++
	}
	var u float64
	for _, x := range canary {
		for y, k := range count {
			if x > y {
				u += k
			} else if x == y {
				u += k / 2
			}
		}
	}
	if r.U != u {
		t.Errorf("U = %v, counted %v", r.U, u)
	}
	if r.PValue > 1e-12 || math.Abs(r.ProbabilitySlower-0.5125) > 0.003 {
		t.Errorf("half the canary 1 ms slower: p = %g, P(slower) = %g", r.PValue, r.ProbabilitySlower)
	}
}

func BenchmarkMannWhitney100kUnsorted(b *testing.B) {
	canary, stable := benchSamples(100000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := MannWhitneyGreater(canary, stable); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMannWhitney100kSorted(b *testing.B) {
	canary, stable := benchSamples(100000)
	slices.Sort(canary)
	slices.Sort(stable)
	b.ResetTimer()
	for b.Loop() {
		if _, err := MannWhitneyGreater(canary, stable); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMannWhitneyExact49 is the exact distribution's worst case:
// 49 requests a side, all distinct.
func BenchmarkMannWhitneyExact49(b *testing.B) {
	canary, stable := benchSamples(49)
	for b.Loop() {
		if _, err := MannWhitneyGreater(canary, stable); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSamples are n log-normal-ish durations a side in random order, at
// microsecond resolution (some ties).
func benchSamples(n int) (canary, stable []float64) {
	seed := uint64(7)
	next := func() float64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		u := (float64(seed>>11) + 0.5) / (1 << 53)
		return math.Round(0.02*math.Exp(0.5*NormalQuantile(u))*1e6) / 1e6
	}
	canary, stable = make([]float64, n), make([]float64, n)
	for i := range n {
		canary[i], stable[i] = next()*1.01, next()
	}
	return canary, stable
}
