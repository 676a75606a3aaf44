package metrics

import (
	"math"
	"slices"
	"testing"
)

func TestQuantileFollowsHistogramQuantile(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name    string
		q       float64
		buckets []Bucket
		want    float64
	}{
		// 100 requests, 98 ≤ 0.25 s, 2 in (0.25, 0.5]: rank 0.99 × 100 = 99 is half-way into
		// that bucket: 0.25 + (0.5 − 0.25) × (99 − 98) ÷ 2 = 0.375 s.
		{"inside a bucket", 0.99, withDefaultBounds(10, 20, 40, 60, 80, 98, 100, 100, 100, 100, 100, 100), 0.375},
		// 96 ≤ 5 s, 4 in (5, 10]: 5 + 5 × (99 − 96) ÷ 4 = 8.75 s.
		{"in the last finite bucket", 0.99, withDefaultBounds(0, 0, 0, 0, 0, 0, 0, 50, 90, 96, 100, 100), 8.75},
		// 98 ≤ 10 s, 2 slower: rank 99 lands in +Inf, whose best answer is the largest finite bound.
		{"beyond the last finite bucket", 0.99, withDefaultBounds(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 98, 100), 10},
		// All in the first bucket: interpolate from 0: 0.005 × 50 ÷ 100 = 0.0025 s.
		{"first bucket starts at zero", 0.5, withDefaultBounds(100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100), 0.0025},
		// q = 0.5: rank 50; 0.5 holds 40 and 1 holds 60, so (0.5, 1] has 20:
		// 0.5 + 0.5 × (50 − 40) ÷ 20 = 0.75 s.
		{"median", 0.5, withDefaultBounds(10, 20, 30, 35, 38, 39, 40, 60, 90, 100, 100, 100), 0.75},
		// A lowest bound ≤ 0 is returned as is.
		{"non-positive first bound", 0.1, []Bucket{{-1, 10}, {1, 20}, {inf, 20}}, -1},
		// Counts that dip are raised: 1 becomes 40, rank 0.35 × 100 = 35 falls in (0, 0.5]:
		// 0.5 × 35 ÷ 40 = 0.4375 s.
		{"non-monotone counts are raised", 0.35, []Bucket{{0.5, 40}, {1, 30}, {2.5, 100}, {inf, 100}}, 0.4375},
		// Unsorted input and duplicate bounds: sorted, then 0.1 becomes 10 + 10 = 20 of 40;
		// rank 20 → 0.1.
		{"unsorted with duplicate bounds", 0.5, []Bucket{{inf, 40}, {0.1, 10}, {1, 40}, {0.1, 10}}, 0.1},
		{"no observations", 0.99, withDefaultBounds(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), nan},
		{"only the +Inf bucket", 0.99, []Bucket{{inf, 10}}, nan},
		{"no buckets", 0.99, nil, nan},
		{"no +Inf bucket", 0.99, []Bucket{{0.1, 5}, {1, 10}}, nan},
		{"NaN count", 0.99, []Bucket{{0.1, nan}, {inf, 10}}, nan},
		{"NaN q", nan, withDefaultBounds(100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100), nan},
		{"q below 0", -0.1, []Bucket{{0.1, 5}, {inf, 10}}, math.Inf(-1)},
		{"q above 1", 1.1, []Bucket{{0.1, 5}, {inf, 10}}, inf},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Every expectation is exact in binary floating point, so compare exactly.
			got := Quantile(c.q, c.buckets)
			if got != c.want && !(math.IsNaN(got) && math.IsNaN(c.want)) {
				t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
			}
		})
	}
}

func TestQuantileLeavesTheCallersBucketsAlone(t *testing.T) {
	in := []Bucket{{inf, 40}, {0.1, 10}, {1, 30}, {0.1, 10}}
	orig := slices.Clone(in)
	Quantile(0.5, in)
	if !slices.Equal(in, orig) {
		t.Errorf("buckets changed to %v", in)
	}
}

func TestQuantileTreatsFloatNoiseBetweenCountsAsEqual(t *testing.T) {
	// 0.5 holds 80 plus 8e-13 of rounding error from summing float counters. PromQL snaps it
	// to 80, so a rank of 80 + 5e-13 lies in (0.5, 1]: 0.5 + 0.5 × 5e-13 ÷ 20 ≈ 0.5 s.
	// Without the snap the rank would fall into a (0.1, 0.5] bucket holding 8e-13
	// observations and give 0.1 + 0.4 × 5/8 = 0.35 s, an artefact of rounding.
	b := []Bucket{{0.1, 80}, {0.5, 80 + 8e-13}, {1, 100}, {inf, 100}}
	if got := Quantile((80+5e-13)/100, b); !closeTo(got, 0.5) {
		t.Errorf("Quantile = %v, want 0.5", got)
	}
}
