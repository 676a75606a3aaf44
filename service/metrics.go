package main

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
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
	// epoch is read once; requests are timed by time.Since(epoch), which reads
	// only the monotonic clock, where time.Now would read the wall clock too.
	epoch time.Time
	// series caches resolved children by methodLabels and pathLabels index.
	series [len(methodLabels)][len(pathLabels)]atomic.Pointer[routeSeries]
}

// newMetrics registers the service's series; uptime and chaos are read at scrape time.
func newMetrics(mode string, uptime, chaosActive func() float64) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		epoch:    time.Now(),
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
		start := m.sinceEpoch()
		rec := recorderPool.Get().(*statusRecorder)
		rec.ResponseWriter = w
		next.ServeHTTP(rec, r)
		status := rec.statusCode()
		// Cleared before reuse so a pooled recorder keeps no response alive.
		*rec = statusRecorder{}
		recorderPool.Put(rec)
		s := m.seriesFor(methodIndex(r.Method), pathIndex(r.URL.Path))
		s.counter(status).Inc()
		s.duration.Observe((m.sinceEpoch() - start).Seconds())
	})
}

// sinceEpoch is a monotonic reading: differences of two are request durations.
func (m *metrics) sinceEpoch() time.Duration { return time.Since(m.epoch) }

// recorderPool reuses status recorders: one per request would be the
// middleware's largest allocation.
var recorderPool = sync.Pool{New: func() any { return new(statusRecorder) }}

// methodLabels and pathLabels are the bounded label values, indexed by
// methodIndex and pathIndex; the catch-all value comes last in each.
var (
	methodLabels = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace, "OTHER"}
	pathLabels = [...]string{pathRoot, pathHealthz, pathChaos, pathMetrics, "other"}
)

// pathIndex keeps the label's cardinality bounded: any path can be requested.
func pathIndex(p string) int {
	switch p {
	case pathRoot:
		return 0
	case pathHealthz:
		return 1
	case pathChaos:
		return 2
	case pathMetrics:
		return 3
	}
	return len(pathLabels) - 1
}

// methodIndex keeps the label bounded: any token is a valid HTTP method.
func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodConnect:
		return 6
	case http.MethodOptions:
		return 7
	case http.MethodTrace:
		return 8
	}
	return len(methodLabels) - 1
}

// Status codes in [firstCachedStatus, firstCachedStatus+cachedStatuses) have
// their counter cached; that covers every code net/http names. Others, which
// only unusual handlers send, take the vector's own lookup.
const (
	firstCachedStatus = 100
	cachedStatuses    = 500
)

// routeSeries caches one method/path pair's resolved series, so a request
// costs no label hashing, label-slice or status-string allocation.
type routeSeries struct {
	method, path string
	requests     *prometheus.CounterVec
	duration     prometheus.Observer
	counters     [cachedStatuses]atomic.Pointer[prometheus.Counter]
}

// seriesFor returns the cache entry of a method/path pair, creating it on first
// use: series appear in the scrape only once a request has used them, as before.
func (m *metrics) seriesFor(method, path int) *routeSeries {
	slot := &m.series[method][path]
	if s := slot.Load(); s != nil {
		return s
	}
	mLabel, pLabel := methodLabels[method], pathLabels[path]
	s := &routeSeries{
		method:   mLabel,
		path:     pLabel,
		requests: m.requests,
		duration: m.duration.WithLabelValues(mLabel, pLabel),
	}
	// A racing request may have stored its own entry; both hold the same
	// children, since the vectors return one child per label set.
	if slot.CompareAndSwap(nil, s) {
		return s
	}
	return slot.Load()
}

// counter returns the requests counter of one status code.
func (s *routeSeries) counter(status int) prometheus.Counter {
	i := uint(status - firstCachedStatus)
	if i >= cachedStatuses {
		return s.requests.WithLabelValues(s.method, s.path, strconv.Itoa(status))
	}
	if c := s.counters[i].Load(); c != nil {
		return *c
	}
	c := s.requests.WithLabelValues(s.method, s.path, strconv.Itoa(status))
	s.counters[i].Store(&c) // the same child whichever request stores last
	return c
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
