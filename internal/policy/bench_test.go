package policy

import (
	"context"
	"slices"
	"testing"
	"time"
)

// benchInputs are one decision per shipped domain, each breaking a rule so that messages
// are formatted too.
func benchInputs() map[string]map[string]any {
	return map[string]map[string]any{
		Canary:         with(healthyCanary(), map[string]any{"error_rate_percent": 56.45}),
		Infrastructure: with(roomyHost(), map[string]any{"disk_free_gb": 3.2}),
	}
}

func BenchmarkDecide(b *testing.B) {
	e := loadShipped(b, nil)
	for domain, input := range benchInputs() {
		b.Run(domain, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if _, err := e.Decide(ctx, domain, input); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// decisionsPerSample is how many decisions one latency distribution is drawn from.
const decisionsPerSample = 10_000

// BenchmarkDecideLatency times decisionsPerSample single decisions per iteration
// (ns/op is per batch) and reports the median and 99th percentile of one decision.
func BenchmarkDecideLatency(b *testing.B) {
	e := loadShipped(b, nil)
	for domain, input := range benchInputs() {
		b.Run(domain, func(b *testing.B) {
			var all []time.Duration
			for b.Loop() {
				all = append(all, sampleLatencies(b, e, domain, input, decisionsPerSample)...)
			}
			b.ReportMetric(float64(percentile(all, 50).Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(percentile(all, 99).Nanoseconds()), "p99-ns")
		})
	}
}

func sampleLatencies(b *testing.B, e *Engine, domain string, input map[string]any, n int) []time.Duration {
	ctx := context.Background()
	out := make([]time.Duration, n)
	for i := range out {
		start := time.Now()
		if _, err := e.Decide(ctx, domain, input); err != nil {
			b.Fatal(err)
		}
		out[i] = time.Since(start)
	}
	return out
}

// percentile returns the p-th percentile (nearest rank) of durations, sorting them.
func percentile(durations []time.Duration, p int) time.Duration {
	if len(durations) == 0 {
		return 0
	}
	slices.Sort(durations)
	rank := (p*len(durations) + 99) / 100
	return durations[max(rank, 1)-1]
}

func TestPercentileIsTheNearestRank(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if got := percentile(d, 50); got != 5 {
		t.Errorf("p50 = %v, want 5", got)
	}
	if got := percentile(d, 99); got != 10 {
		t.Errorf("p99 = %v, want 10", got)
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v, want 0", got)
	}
}
