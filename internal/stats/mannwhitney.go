package stats

import (
	"fmt"
	"math"
	"slices"
)

// TestMannWhitneyGreater names the latency test in evidence.
const TestMannWhitneyGreater = "mann_whitney_greater"

// How a Mann-Whitney p-value was computed.
const (
	// MethodExact is the permutation distribution of the rank sum, ties
	// included: every way of choosing which of the pooled requests were
	// the canary's is equally likely when the builds are alike.
	MethodExact = "exact"
	// MethodNormal is the normal approximation, with the variance's tie
	// correction and a continuity correction of 1/2.
	MethodNormal = "normal"
)

// ExactBelow is the sample size under which, on both sides, the p-value
// is exact: R's wilcox.test makes the same choice (exact when both
// samples have fewer than 50 values, though R falls back to the normal
// approximation on ties, where this package stays exact). The exact
// distribution costs 6-9 ms at 49 a side; by then the normal
// approximation is within 0.003 of it.
const ExactBelow = 50

// MannWhitney is the result of a one-sided Mann-Whitney U test (Wilcoxon's
// rank-sum test) that the canary's requests take longer than stable's.
type MannWhitney struct {
	Method  string `json:"method"`
	CanaryN int    `json:"canary_n"`
	StableN int    `json:"stable_n"`
	// U is the canary's statistic: the pairs of a canary request and a
	// stable one where the canary's took longer, a tie counting half. It
	// is R's W for wilcox.test(canary, stable).
	U float64 `json:"u"`
	// Z is U standardized under the normal approximation (tie and
	// continuity corrected), whichever method gave PValue.
	Z      float64 `json:"z"`
	PValue float64 `json:"p_value"`
	// ProbabilitySlower is U/(CanaryN·StableN), the common-language effect
	// size: the chance that a canary request picked at random took longer
	// than a stable one, ties counting half; 0.5 when they are alike.
	ProbabilitySlower float64 `json:"probability_slower"`
	// MinPValue is the p-value had the canary's requests been the slowest
	// of all those pooled (ties as they were): the smallest this test could
	// give with these samples.
	MinPValue float64 `json:"min_p_value"`
}

// MannWhitneyGreater tests whether the canary's durations tend to be
// larger than stable's: the one-sided Mann-Whitney U test, which compares
// the two samples' ranks in the pooled one and so assumes nothing about
// the shape of latency (long tails and ties at nginx's millisecond
// resolution included). The p-value is exact when both samples have fewer
// than ExactBelow values, by the normal approximation otherwise.
//
// Ranking is by sorting, O(n log n), then one merge: 100,000 durations a
// side take 20-40 ms on a busy 2-core host, 2-3 ms when they come sorted
// (BenchmarkMannWhitney100k*). Samples already sorted ascending are used
// as they are; others are copied and sorted, never changed. A NaN or an
// infinite duration is an error; a sample without values leaves nothing
// to test (p = 1).
func MannWhitneyGreater(canary, stable []float64) (MannWhitney, error) {
	canary, stable, err := ascending(canary, stable)
	if err != nil {
		return MannWhitney{}, err
	}
	return mannWhitney(canary, stable), nil
}

// ascending is both samples sorted, or an error for a NaN or an infinity
// in either (no request takes forever, and evidence must stay finite).
func ascending(canary, stable []float64) ([]float64, []float64, error) {
	for _, s := range [][]float64{canary, stable} {
		if i := slices.IndexFunc(s, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }); i >= 0 {
			return nil, nil, fmt.Errorf("stats: a duration is %v", s[i])
		}
	}
	return sorted(canary), sorted(stable), nil
}

func sorted(s []float64) []float64 {
	if slices.IsSorted(s) {
		return s
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func mannWhitney(canary, stable []float64) MannWhitney {
	n1, n2 := len(canary), len(stable)
	r := MannWhitney{Method: MethodNormal, CanaryN: n1, StableN: n2, PValue: 1, MinPValue: 1, ProbabilitySlower: 0.5}
	if n1 == 0 || n2 == 0 {
		return r
	}
	exact := n1 < ExactBelow && n2 < ExactBelow
	// One merge of the sorted samples, group of equal values by group:
	// twice U (each canary value in the group beats every smaller stable
	// value and ties with the group's), Σ(t³-t) for the variance, the tie
	// group straddling the canary's best place (the n₁ slowest of all) for
	// MinPValue, and the groups themselves for the exact distribution.
	var groups []int // the sizes of the runs of equal values, ascending
	var twiceU, twiceMaxU int64
	var ties float64
	top := n2 // the pooled position, from 0, of the n₁-th slowest
	twiceMaxU = 2 * int64(n1) * int64(n2)
	for i, j, pos := 0, 0, 0; i < n1 || j < n2; {
		var v float64
		switch {
		case i == n1:
			v = stable[j]
		case j == n2:
			v = canary[i]
		default:
			v = min(canary[i], stable[j])
		}
		c := 0
		for ; i < n1 && canary[i] == v; i++ {
			c++
		}
		s := 0
		for ; j < n2 && stable[j] == v; j++ {
			s++
		}
		size := c + s
		twiceU += int64(c) * int64(2*(j-s)+s)
		t := float64(size)
		ties += t*t*t - t
		if pos < top && top < pos+size {
			// The slowest n₁ end inside this group: had they been the
			// canary's, its part of the group would tie with the rest.
			in := int64(pos + size - top)
			twiceMaxU -= in * (int64(size) - in)
		}
		pos += size
		if exact {
			groups = append(groups, size)
		}
	}
	nn := float64(n1) * float64(n2)
	r.U = float64(twiceU) / 2
	r.ProbabilitySlower = r.U / nn
	sigma := mwSigma(n1, n2, ties)
	if sigma == 0 {
		// Every duration the same: nothing tells the builds apart.
		return r
	}
	r.Z = (r.U - nn/2 - 0.5) / sigma
	if exact {
		r.Method = MethodExact
		r.PValue, r.MinPValue = exactUpper(groups, n1, twiceU, twiceMaxU)
	} else {
		r.PValue = NormalSF(r.Z)
		r.MinPValue = NormalSF((float64(twiceMaxU)/2 - nn/2 - 0.5) / sigma)
	}
	return r
}

// mwSigma is U's standard deviation under the null, with the tie
// correction: √(n₁n₂/12 · ((N+1) - Σ(t³-t)/(N(N-1)))).
func mwSigma(n1, n2 int, ties float64) float64 {
	n := float64(n1 + n2)
	v := float64(n1) * float64(n2) / 12 * ((n + 1) - ties/(n*(n-1)))
	if v <= 0 {
		return 0
	}
	return math.Sqrt(v)
}

// exactUpper is P(U ≥ u) under the null for the observed u and for the
// largest u the samples allow (both given doubled, as whole numbers), from
// the permutation distribution of the canary's rank sum with the pooled
// sample's ties: f[k][s] counts the ways k of the groups' members so far
// can be the canary's with doubled midranks summing to s, a group of size
// t and doubled midrank w adding C(t, j) ways to f[k+j][s+j·w]. Only
// additions of positive counts, so no digits are lost (C(98, 49) ≈ 2.5e28
// is far inside float64's range); the work grows as n₁²·n₂·(n₁+n₂).
func exactUpper(groups []int, n1 int, twiceU, twiceMaxU int64) (p, minP float64) {
	n := 0
	for _, size := range groups {
		n += size
	}
	// The doubled rank sum of the canary: 2R₁ = 2U + n₁(n₁+1).
	shift := int64(n1) * int64(n1+1)
	sObs, sMax := int(twiceU+shift), int(twiceMaxU+shift)
	width := n1*(2*n-n1+1) + 1 // doubled rank sums of n₁ ranks are below this
	f := make([][]float64, n1+1)
	lo, hi := make([]int, n1+1), make([]int, n1+1) // rows' non-zero ranges
	for k := range f {
		f[k] = make([]float64, width)
		lo[k], hi[k] = width, -1
	}
	f[0][0], lo[0], hi[0] = 1, 0, 0
	binom := make([]float64, 1, n+1) // C(t, j) for the current group; C(t, 0) = 1
	binom[0] = 1
	pos := 0
	for _, size := range groups {
		w := 2*pos + size + 1
		pos += size
		binom = binom[:1]
		for j := 1; j <= size; j++ {
			binom = append(binom, binom[j-1]*float64(size-j+1)/float64(j))
		}
		for k := min(n1, pos); k >= 1; k-- {
			row := f[k]
			for j := 1; j <= min(size, k); j++ {
				from := k - j
				if hi[from] < 0 {
					continue
				}
				c, shift := binom[j], j*w
				for s, v := range f[from][lo[from] : hi[from]+1] {
					if v != 0 {
						row[lo[from]+s+shift] += c * v
					}
				}
				lo[k] = min(lo[k], lo[from]+shift)
				hi[k] = max(hi[k], hi[from]+shift)
			}
		}
	}
	var total, tail, maxTail float64
	for s := hi[n1]; s >= lo[n1]; s-- {
		v := f[n1][s]
		total += v
		if s >= sObs {
			tail += v
		}
		if s >= sMax {
			maxTail += v
		}
	}
	return min(1, tail/total), min(1, maxTail/total)
}
