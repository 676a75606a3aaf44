package metrics

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// service mimics the service's /metrics with client_golang itself, Go and process
// collectors included, so that Parse is tested and benchmarked on the real format and size.
type service struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newService() *service {
	s := &service{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "Count of HTTP requests by method, path and status code.",
		}, []string{"method", "path", "status_code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Latency of HTTP requests.", Buckets: prometheus.DefBuckets,
		}, []string{"method", "path"}),
	}
	uptime := prometheus.NewGauge(prometheus.GaugeOpts{Name: "app_uptime_seconds", Help: "Seconds since start."})
	uptime.Set(42)
	mode := prometheus.NewGauge(prometheus.GaugeOpts{Name: "app_mode", Help: "0 stable, 1 canary."})
	mode.Set(1)
	chaos := prometheus.NewGauge(prometheus.GaugeOpts{Name: "chaos_active", Help: "0 none, 1 slow, 2 error."})
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.requests, s.duration, uptime, mode, chaos)
	return s
}

// serveRound records one request per method, path and status code: 5 paths × 3 methods
// × 4 codes. Application paths ("/" and "other") take 0.003, 0.03, 0.3 and 3 s; the others
// take 20 s, so that counting them would show in every figure.
func (s *service) serveRound() {
	latencies := map[string]float64{"200": 0.003, "404": 0.03, "500": 0.3, "503": 3}
	for _, path := range []string{"/", "/healthz", "/chaos", "/metrics", "other"} {
		for _, method := range []string{"GET", "POST", "PUT"} {
			for code, latency := range latencies {
				if path != "/" && path != "other" {
					latency = 20
				}
				s.requests.WithLabelValues(method, path, code).Inc()
				s.duration.WithLabelValues(method, path).Observe(latency)
			}
		}
	}
}

func (s *service) scrape(tb testing.TB) []byte {
	tb.Helper()
	families, err := s.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestParseReadsWhatClientGolangPrints(t *testing.T) {
	svc := newService()
	svc.serveRound()
	first, err := Parse(bytes.NewReader(svc.scrape(t)), t0)
	if err != nil {
		t.Fatal(err)
	}
	// One round: 2 app paths × 3 methods × 4 codes = 24 requests, 2 × 3 × 2 (500, 503) = 12 errors.
	// Per (method, app path) one request each at 0.003, 0.03, 0.3 and 3 s; 6 pairs:
	// ≤0.005: 6, ≤0.05: 12, ≤0.5: 18, ≤5: 24.
	want := Sample{At: t0, Requests: 24, Errors: 12, UptimeSeconds: 42, Mode: 1,
		Buckets: withDefaultBounds(6, 6, 6, 12, 12, 12, 18, 18, 18, 24, 24, 24)}
	if first.Requests != want.Requests || first.Errors != want.Errors || first.UptimeSeconds != 42 ||
		first.Mode != 1 || first.Chaos != 0 || len(first.Buckets) != len(want.Buckets) {
		t.Fatalf("Parse = %+v, want %+v", first, want)
	}
	for i := range want.Buckets {
		if first.Buckets[i] != want.Buckets[i] {
			t.Errorf("bucket %d = %v, want %v", i, first.Buckets[i], want.Buckets[i])
		}
	}

	svc.serveRound()
	svc.serveRound()
	third, err := Parse(bytes.NewReader(svc.scrape(t)), t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	w := Compute(first, third)
	// Two rounds in the window: 48 requests, 24 errors, 50 %. rank = 0.99 × 48 = 47.52;
	// ≤2.5: 36, ≤5: 48 → 2.5 + 2.5 × (47.52 − 36) ÷ 12 = 4.9 s.
	if w.Requests != 48 || w.Errors != 24 || w.ErrorRatePercent != 50 || !closeTo(w.P99Ms, 4900) || w.Reset {
		t.Errorf("Compute = %+v, want 48 requests, 24 errors, 50 %%, P99 4900 ms", w)
	}
}

// BenchmarkParseAndCompute parses two scrapes of a client_golang registry the size of the
// service's (60 request series, 15 histograms, Go and process collectors) and computes
// the window, as every status refresh does.
func BenchmarkParseAndCompute(b *testing.B) {
	svc := newService()
	svc.serveRound()
	prev := svc.scrape(b)
	svc.serveRound()
	cur := svc.scrape(b)
	b.SetBytes(int64(len(prev) + len(cur)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(bytes.NewReader(prev), t0)
		if err != nil {
			b.Fatal(err)
		}
		c, err := Parse(bytes.NewReader(cur), t0.Add(30*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		if w := Compute(p, c); w.Requests != 24 {
			b.Fatalf("window holds %v requests, want 24", w.Requests)
		}
	}
}
