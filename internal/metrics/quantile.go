package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
)

// smallDeltaTolerance is the relative difference below which two bucket counts are
// taken as equal, as PromQL does: sums of float counters can differ in the last bits.
const smallDeltaTolerance = 1e-12

// Quantile returns the q-quantile, in the unit of the bucket bounds (seconds here), of
// a cumulative histogram with PromQL histogram_quantile semantics:
//
//   - rank = q × total; the answer lies in the first bucket whose count ≥ rank,
//     interpolated linearly between the previous bucket's bound (0 below the first
//     bucket, unless its bound is ≤ 0, which is then returned) and this bucket's bound;
//   - in the +Inf bucket the answer is the largest finite bound: nothing better is known;
//   - NaN when q is NaN, the last bucket is not +Inf, there are fewer than two buckets
//     or no observations; -Inf for q < 0 and +Inf for q > 1;
//   - counts that decrease are raised to the running maximum first.
//
// Beyond PromQL, a non-finite or non-positive total gives NaN, and the interpolated
// value is clamped to its bucket so that rounding never breaks monotonicity in q.
// The caller's slice is not modified.
func Quantile(q float64, buckets []Bucket) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(+1)
	case len(buckets) < 2:
		return math.NaN()
	}
	b := slices.Clone(buckets)
	slices.SortStableFunc(b, func(x, y Bucket) int { return compareFloat(x.UpperBound, y.UpperBound) })
	if !math.IsInf(b[len(b)-1].UpperBound, +1) {
		return math.NaN()
	}
	b = coalesce(b)
	if len(b) < 2 || !makeMonotone(b) {
		return math.NaN()
	}
	total := b[len(b)-1].Count
	if !(total > 0) || math.IsInf(total, +1) {
		return math.NaN()
	}
	rank := q * total
	i := sort.Search(len(b)-1, func(i int) bool { return b[i].Count >= rank })
	if i == len(b)-1 {
		return b[len(b)-2].UpperBound
	}
	if i == 0 && b[0].UpperBound <= 0 {
		return b[0].UpperBound
	}
	return interpolate(b, i, rank)
}

// interpolate places rank linearly inside bucket i.
func interpolate(b []Bucket, i int, rank float64) float64 {
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = b[i-1].UpperBound, b[i-1].Count
	}
	upper := b[i].UpperBound
	inBucket := b[i].Count - below
	if inBucket == 0 {
		// Only q = 0 over empty leading buckets gets here; PromQL answers 0/0 = NaN.
		return math.NaN()
	}
	v := lower + (upper-lower)*((rank-below)/inBucket)
	return math.Min(math.Max(v, lower), upper)
}

// coalesce merges buckets with the same bound in a sorted slice, in place.
func coalesce(b []Bucket) []Bucket {
	out := b[:1]
	for _, x := range b[1:] {
		if last := &out[len(out)-1]; x.UpperBound == last.UpperBound {
			last.Count += x.Count
			continue
		}
		out = append(out, x)
	}
	return out
}

// makeMonotone raises every count to at least the count before it, and snaps counts
// that differ from the running maximum only by float noise onto it, as PromQL does.
// It reports false when a count is NaN, for which no quantile exists.
func makeMonotone(b []Bucket) bool {
	running := b[0].Count
	for i := range b {
		c := b[i].Count
		switch {
		case math.IsNaN(c):
			return false
		case c < running || almostEqual(c, running):
			b[i].Count = running
		default:
			running = c
		}
	}
	return true
}

func almostEqual(a, b float64) bool {
	return math.Abs(a-b) <= smallDeltaTolerance*math.Max(math.Abs(a), math.Abs(b))
}

// bucketJSON spells the bound as Prometheus prints le ("+Inf"): encoding/json
// refuses an infinite float, and samples are stored in history.
type bucketJSON struct {
	LE    string  `json:"le"`
	Count float64 `json:"count"`
}

// MarshalJSON encodes the bucket as {"le":"0.25","count":12}, with "+Inf" for the last bucket.
func (b Bucket) MarshalJSON() ([]byte, error) {
	return json.Marshal(bucketJSON{LE: strconv.FormatFloat(b.UpperBound, 'g', -1, 64), Count: b.Count})
}

// UnmarshalJSON decodes what MarshalJSON writes.
func (b *Bucket) UnmarshalJSON(data []byte) error {
	var raw bucketJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	bound, err := strconv.ParseFloat(raw.LE, 64)
	if err != nil {
		return fmt.Errorf("bucket le %q: %w", raw.LE, err)
	}
	b.UpperBound, b.Count = bound, raw.Count
	return nil
}
