package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics owns a private registry, so nothing registered by a library can leak
// into the scrape, and tests can build as many apps as they like.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newMetrics registers the service's series; uptime and chaos are read at scrape time.
func newMetrics(mode string, uptime, chaosActive func() float64) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, route and status code.",
		}, []string{"method", "path", "status_code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, injected chaos delay included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "path"}),
	}
	appMode := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "app_mode",
		Help: "Deployment mode: 0 stable, 1 canary.",
	})
	if mode == modeCanary {
		appMode.Set(1)
	}
	m.registry.MustRegister(
		m.requests,
		m.duration,
		appMode,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "app_uptime_seconds",
			Help: "Seconds since the service started.",
		}, uptime),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chaos_active",
			Help: "Injected chaos: 0 none, 1 slow, 2 error.",
		}, chaosActive),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// instrument counts and times every request, /metrics and /healthz included:
// consumers exclude those by label rather than the service hiding them.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		method, path := methodLabel(r.Method), pathLabel(r.URL.Path)
		m.requests.WithLabelValues(method, path, strconv.Itoa(rec.statusCode())).Inc()
		m.duration.WithLabelValues(method, path).Observe(time.Since(start).Seconds())
	})
}

// pathLabel keeps the label's cardinality bounded: any path can be requested.
func pathLabel(p string) string {
	switch p {
	case pathRoot, pathHealthz, pathChaos, pathMetrics:
		return p
	}
	return "other"
}

// methodLabel keeps the label bounded: any token is a valid HTTP method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusRecorder remembers the status code a handler sent.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// statusCode is 200 when the handler wrote nothing, as net/http then sends.
func (r *statusRecorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// Unwrap lets http.ResponseController reach the real writer (flush, deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
