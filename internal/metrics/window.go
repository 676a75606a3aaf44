package metrics

import "math"

// Window is what happened between two scrapes. Its JSON form is the one recorded in history.
type Window struct {
	Seconds          float64 `json:"window_seconds"`
	Requests         float64 `json:"requests"`
	Errors           float64 `json:"errors"`
	ErrorRatePercent float64 `json:"error_rate_percent"`
	P99Ms            float64 `json:"p99_latency_ms"`
	// NoTraffic marks a window without application requests: its rate and P99 are 0
	// because there is nothing to measure, and the policy decides what that means.
	NoTraffic bool `json:"no_traffic"`
	// Reset marks a window across a process restart: the counters started again from
	// zero, so the later scrape alone is the window's traffic.
	Reset bool `json:"counter_reset"`
}

// Compute returns the window between two scrapes of the same service, prev taken first.
func Compute(prev, cur Sample) Window {
	w := Window{Seconds: cur.At.Sub(prev.At).Seconds()}
	if restarted(prev, cur) {
		prev, w.Reset = Sample{}, true
	}
	w.Requests = cur.Requests - prev.Requests
	w.Errors = cur.Errors - prev.Errors
	if !(w.Requests > 0) {
		w.NoTraffic = true
		return w
	}
	w.ErrorRatePercent = 100 * w.Errors / w.Requests
	if p99 := Quantile(0.99, bucketDeltas(prev.Buckets, cur.Buckets)); !math.IsNaN(p99) {
		w.P99Ms = p99 * 1000
	}
	return w
}

// restarted reports whether the process behind cur is not the one behind prev: its
// uptime went back, or a count went down, which counters never do within one process.
// Successes are checked too, so that a window never holds more errors than requests.
func restarted(prev, cur Sample) bool {
	if cur.UptimeSeconds < prev.UptimeSeconds ||
		cur.Requests < prev.Requests ||
		cur.Errors < prev.Errors ||
		cur.Requests-cur.Errors < prev.Requests-prev.Errors {
		return true
	}
	for _, p := range prev.Buckets {
		if countAt(cur.Buckets, p.UpperBound) < p.Count {
			return true
		}
	}
	return false
}

// bucketDeltas subtracts prev from cur bucket by bucket; a bound prev lacks counts as zero.
func bucketDeltas(prev, cur []Bucket) []Bucket {
	out := make([]Bucket, len(cur))
	for i, c := range cur {
		out[i] = Bucket{UpperBound: c.UpperBound, Count: c.Count - countAt(prev, c.UpperBound)}
	}
	return out
}

func countAt(buckets []Bucket, bound float64) float64 {
	for _, b := range buckets {
		if b.UpperBound == bound {
			return b.Count
		}
	}
	return 0
}
