package metrics

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// Seeds live in testdata/fuzz/<FuzzName>/.

func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(bytes.NewReader(data), t0)
		if err != nil {
			return
		}
		// What Parse accepts is safe to compute with.
		for _, v := range []float64{s.Requests, s.Errors, s.UptimeSeconds, s.Mode, s.Chaos} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("Parse accepted a non-finite value: %+v", s)
			}
		}
		if s.Errors < 0 || s.Errors > s.Requests {
			t.Fatalf("errors %v outside [0, requests %v]", s.Errors, s.Requests)
		}
		for i, b := range s.Buckets {
			if math.IsNaN(b.Count) || b.Count < 0 || (i > 0 && b.UpperBound <= s.Buckets[i-1].UpperBound) {
				t.Fatalf("buckets not sorted, distinct and non-negative: %v", s.Buckets)
			}
		}
		if n := len(s.Buckets); n > 0 && !math.IsInf(s.Buckets[n-1].UpperBound, +1) {
			t.Fatalf("last bucket is not +Inf: %v", s.Buckets)
		}
	})
}

// fuzzBuckets reads up to 12 cumulative counts, two bytes each, onto the default bounds,
// the last one taking +Inf. Counts are not made monotone: Quantile must cope.
func fuzzBuckets(data []byte) []Bucket {
	n := min(len(data)/2, len(defaultBounds))
	b := make([]Bucket, n)
	for i := range b {
		b[i] = Bucket{UpperBound: defaultBounds[i], Count: float64(binary.LittleEndian.Uint16(data[2*i:]))}
	}
	if n > 0 {
		b[n-1].UpperBound = inf
	}
	return b
}

func FuzzQuantile(f *testing.F) {
	f.Fuzz(func(t *testing.T, q1, q2 float64, data []byte) {
		b := fuzzBuckets(data)
		v1, v2 := Quantile(q1, b), Quantile(q2, b)
		for _, c := range []struct{ q, v float64 }{{q1, v1}, {q2, v2}} {
			checkQuantileRange(t, c.q, c.v, b)
		}
		if q1 <= q2 && !math.IsNaN(v1) && !math.IsNaN(v2) && v1 > v2 {
			t.Fatalf("not monotone: Quantile(%v) = %v > Quantile(%v) = %v for %v", q1, v1, q2, v2, b)
		}
	})
}

// checkQuantileRange: out-of-range q gives ±Inf, otherwise the answer is NaN or lies
// in [0, largest finite bound].
func checkQuantileRange(t *testing.T, q, v float64, b []Bucket) {
	t.Helper()
	switch {
	case math.IsNaN(q):
		if !math.IsNaN(v) {
			t.Fatalf("Quantile(NaN) = %v", v)
		}
	case q < 0 || q > 1:
		if !math.IsInf(v, 0) {
			t.Fatalf("Quantile(%v) = %v, want ±Inf", q, v)
		}
	case math.IsNaN(v):
	case len(b) < 2 || v < 0 || v > b[len(b)-2].UpperBound:
		t.Fatalf("Quantile(%v) = %v outside [0, last finite bound] for %v", q, v, b)
	}
}

// fuzzSample builds a consistent scrape from bytes: errors never exceed requests and the
// histogram is cumulative, as Parse guarantees.
func fuzzSample(at time.Time, uptime uint16, data []byte) Sample {
	word := func(i int) float64 {
		if 2*i+2 > len(data) {
			return 0
		}
		return float64(binary.LittleEndian.Uint16(data[2*i:]))
	}
	s := Sample{At: at, UptimeSeconds: float64(uptime), Requests: word(0)}
	s.Errors = math.Min(word(1), s.Requests)
	total := 0.0
	for i, bound := range defaultBounds {
		total += word(2 + i)
		s.Buckets = append(s.Buckets, Bucket{UpperBound: bound, Count: total})
	}
	return s
}

func FuzzCompute(f *testing.F) {
	f.Fuzz(func(t *testing.T, prevUptime, curUptime uint16, prevData, curData []byte) {
		prev := fuzzSample(t0, prevUptime, prevData)
		cur := fuzzSample(t0.Add(30*time.Second), curUptime, curData)
		w := Compute(prev, cur)
		if w.Seconds != 30 || w.Requests < 0 || w.Errors < 0 || w.Errors > w.Requests {
			t.Fatalf("Compute(%+v, %+v) = %+v", prev, cur, w)
		}
		if w.ErrorRatePercent < 0 || w.ErrorRatePercent > 100 || w.P99Ms < 0 || w.P99Ms > 10_000 ||
			math.IsNaN(w.ErrorRatePercent) || math.IsNaN(w.P99Ms) {
			t.Fatalf("rate or P99 out of range: %+v", w)
		}
		if w.NoTraffic != (w.Requests == 0) || (w.NoTraffic && (w.ErrorRatePercent != 0 || w.P99Ms != 0)) {
			t.Fatalf("no-traffic flag inconsistent: %+v", w)
		}
		if !w.Reset && w.Requests != cur.Requests-prev.Requests {
			t.Fatalf("window without reset holds %v requests, want %v", w.Requests, cur.Requests-prev.Requests)
		}
	})
}
