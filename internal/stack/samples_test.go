package stack

import (
	"io"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/dashboard"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// A promote reuses a recorded sample only when the window it gives is the
// configured length, give or take the slack: an older sample would judge
// traffic from before, say, a chaos recover.
func TestAReusedWindowIsTheConfiguredLengthGiveOrTakeTheSlack(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const length = 30 * time.Second
	cases := []struct {
		name string
		ages []time.Duration // of the recorded samples
		want time.Duration   // age of the sample reused; 0 for none
	}{
		{"none recorded", nil, 0},
		{"only fresh ones", []time.Duration{5 * time.Second, 20 * time.Second}, 0},
		{"one in the slack", []time.Duration{32 * time.Second, 10 * time.Second}, 32 * time.Second},
		{"the newest of two in reach", []time.Duration{34 * time.Second, 31 * time.Second, 2 * time.Second}, 31 * time.Second},
		{"exactly the length", []time.Duration{length}, length},
		{"older than the slack allows", []time.Duration{38 * time.Second, 50 * time.Second}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Stack{Root: t.TempDir(), Out: ui.New(io.Discard)}
			for _, age := range c.ages {
				at := now.Add(-age)
				s.Now = func() time.Time { return at }
				s.recordSample(metrics.Sample{At: at, Requests: 1})
			}
			s.Now = func() time.Time { return now }
			got, ok := s.sampleAged(length, length+windowSlack(length))
			switch {
			case c.want == 0 && ok:
				t.Errorf("reused a sample %s old, want none", now.Sub(got.At))
			case c.want != 0 && (!ok || now.Sub(got.At) != c.want):
				t.Errorf("reused %v (found %v), want the one %s old", now.Sub(got.At), ok, c.want)
			}
		})
	}
	if windowSlack(3*time.Second) != 1500*time.Millisecond || windowSlack(time.Minute) != 5*time.Second {
		t.Errorf("slack %s for 3 s and %s for 60 s, want half the window up to 5 s", windowSlack(3*time.Second), windowSlack(time.Minute))
	}
}

func TestASampleIsReadBackFromAStatusScrapeAndFromAMetricsSample(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	buckets := []metrics.Bucket{{UpperBound: 0.25, Count: 2}, {UpperBound: math.Inf(1), Count: 3}}
	for _, event := range []string{history.EventStatusScrape, history.EventMetricsSample} {
		t.Run(event, func(t *testing.T) {
			s := &Stack{Root: t.TempDir(), Out: ui.New(io.Discard), Now: func() time.Time { return now }}
			smp := metrics.Sample{At: now.Add(-31 * time.Second), Requests: 3, Errors: 1, Buckets: buckets, UptimeSeconds: 60, Mode: 1, Chaos: 2}
			if event == history.EventStatusScrape {
				w := metrics.Compute(smp, smp)
				s.record(event, statusRecord(dashboard.Snapshot{Mode: "canary", Chaos: "error"}, &w, smp))
			} else {
				s.recordSample(smp)
			}
			got, ok := s.sampleAged(30*time.Second, 35*time.Second)
			if !ok || !got.At.Equal(smp.At) || got.Requests != 3 || got.Errors != 1 || !slices.Equal(got.Buckets, buckets) ||
				got.UptimeSeconds != 60 || got.Mode != 1 || got.Chaos != 2 {
				t.Errorf("read back %+v (found %v), want %+v", got, ok, smp)
			}
		})
	}
}
