package main

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// scrape returns the exposition text of a's /metrics, as Prometheus would read it.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := serveOne(h, http.MethodGet, pathMetrics, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics Content-Type = %q, want text/plain", ct)
	}
	return rec.Body.String()
}

// seriesOf lists the series lines (name and labels, no value) of one metric name.
func seriesOf(text, name string) []string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			out = append(out, line[:strings.LastIndexByte(line, ' ')])
		}
	}
	return out
}

func TestMetricsExposeTheContractedNamesLabelsAndBuckets(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	h := a.handler()
	serveOne(h, http.MethodGet, "/", "")
	serveOne(h, http.MethodGet, pathHealthz, "")
	serveOne(h, http.MethodDelete, "/", "")
	serveOne(h, "BREW", "/pot", "")
	serveOne(h, http.MethodGet, pathMetrics, "")
	text := scrape(t, h)

	wantLines := []string{
		"# TYPE http_requests_total counter",
		"# TYPE http_request_duration_seconds histogram",
		"# TYPE app_uptime_seconds gauge",
		"# TYPE app_mode gauge",
		"# TYPE chaos_active gauge",
		`http_requests_total{method="GET",path="/",status_code="200"} 1`,
		`http_requests_total{method="GET",path="/healthz",status_code="200"} 1`,
		`http_requests_total{method="DELETE",path="/",status_code="405"} 1`,
		`http_requests_total{method="OTHER",path="other",status_code="404"} 1`,
		`http_requests_total{method="GET",path="/metrics",status_code="200"} 1`,
		`http_request_duration_seconds_count{method="GET",path="/"} 1`,
		"app_mode 1",
		"chaos_active 0",
		"app_uptime_seconds 0",
	}
	for _, le := range []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"} {
		wantLines = append(wantLines, fmt.Sprintf(`http_request_duration_seconds_bucket{method="GET",path="/",le="%s"} 1`, le))
	}
	for _, want := range wantLines {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("scrape lacks line %q", want)
		}
	}
	if got := len(seriesOf(text, "http_request_duration_seconds_bucket")); got != 12*5 {
		t.Errorf("%d bucket series, want 12 buckets for each of 5 method/path pairs", got)
	}
}

func TestAppModeIsZeroInStable(t *testing.T) {
	a, _ := newTestApp(t, modeStable)
	if text := scrape(t, a.handler()); !strings.Contains(text, "app_mode 0\n") {
		t.Errorf("scrape lacks app_mode 0 in stable mode")
	}
}

func TestChaosActiveFollowsTheChaosMode(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	h := a.handler()
	cases := []struct{ body, want string }{
		{`{"mode":"slow","duration":1}`, "chaos_active 1\n"},
		{`{"mode":"error","rate":0.1}`, "chaos_active 2\n"},
		{`{"mode":"recover"}`, "chaos_active 0\n"},
	}
	for _, c := range cases {
		setChaos(t, h, c.body)
		if text := scrape(t, h); !strings.Contains(text, c.want) {
			t.Errorf("after %s: scrape lacks %q", c.body, c.want)
		}
	}
}

func TestUptimeIsReadAtScrapeTime(t *testing.T) {
	a, clock := newTestApp(t, modeStable)
	clock.t = clock.t.Add(42e9)
	if text := scrape(t, a.handler()); !strings.Contains(text, "app_uptime_seconds 42\n") {
		t.Errorf("scrape lacks app_uptime_seconds 42 after 42 s")
	}
}

func TestRandomPathsCreateNoNewSeries(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	h := a.handler()
	serveOne(h, http.MethodGet, "/first-unknown", "")
	before := scrape(t, h)
	var paths []string
	for i := range 50 {
		p := fmt.Sprintf("/random/%d/%x", i, rand.Uint64())
		paths = append(paths, p)
		serveOne(h, http.MethodGet, p, "")
	}
	after := scrape(t, h)
	for _, name := range []string{"http_requests_total", "http_request_duration_seconds_bucket"} {
		// The scrape itself adds the /metrics series once; nothing else may appear.
		b, a := seriesOf(before, name), seriesOf(after, name)
		for _, s := range a {
			if !strings.Contains(s, `path="/metrics"`) && !slices.Contains(b, s) {
				t.Errorf("new series after random paths: %s", s)
			}
		}
	}
	for _, p := range paths {
		if strings.Contains(after, p) {
			t.Fatalf("scrape contains the raw path %s", p)
		}
	}
	if !strings.Contains(after, `http_requests_total{method="GET",path="other",status_code="404"} 51`+"\n") {
		t.Errorf("the 51 unknown-path requests are not all counted under path=\"other\"")
	}
}

func TestDurationIncludesTheChaosDelay(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	h := a.handler()
	setChaos(t, h, `{"mode":"slow","duration":0.3}`)
	serveOne(h, http.MethodGet, "/", "")
	// The 0.3 s sleep is a lower bound, so the request cannot land in the 0.25 s bucket.
	if text := scrape(t, h); !strings.Contains(text, `http_request_duration_seconds_bucket{method="GET",path="/",le="0.25"} 0`+"\n") {
		t.Errorf("a request delayed 0.3 s was counted at or under 0.25 s")
	}
}

func benchmarkRoot(b *testing.B, h http.Handler) {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := discardWriter{header: http.Header{}}
		h.ServeHTTP(w, req)
	}
}

func BenchmarkRootWithMetrics(b *testing.B) {
	a, _ := newTestApp(b, modeCanary)
	benchmarkRoot(b, a.handler())
}

func BenchmarkRootWithoutMetrics(b *testing.B) {
	a, _ := newTestApp(b, modeCanary)
	benchmarkRoot(b, withModeHeader(a.cfg.mode, a.router()))
}

// discardWriter is a ResponseWriter that costs nearly nothing, so the benchmarks
// measure the handler rather than httptest's recorder.
type discardWriter struct{ header http.Header }

func (w discardWriter) Header() http.Header         { return w.header }
func (w discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w discardWriter) WriteHeader(int)             {}

// BenchmarkMetricsMiddleware measures the middleware alone, around a handler
// that only sends a status, so its own cost is not lost in the route's.
func BenchmarkMetricsMiddleware(b *testing.B) {
	a, _ := newTestApp(b, modeCanary)
	h := a.metrics.instrument(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	benchmarkRoot(b, h)
}

// statusEcho answers the status named in the request's X-Status header, or
// writes nothing at all when there is none, as some handlers do.
func statusEcho(w http.ResponseWriter, r *http.Request) {
	if s := r.Header.Get("X-Status"); s != "" {
		code, _ := strconv.Atoi(s)
		w.WriteHeader(code)
	}
}

// sendStatus sends one request through h asking statusEcho for status ("" for none).
func sendStatus(h http.Handler, method, path, status string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Method = method
	if status != "" {
		req.Header.Set("X-Status", status)
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
}

func TestCachedSeriesCountEveryMethodPathAndStatusApart(t *testing.T) {
	a, _ := newTestApp(t, modeStable)
	h := a.metrics.instrument(http.HandlerFunc(statusEcho))
	// Codes outside the cached range (600, 999) and a handler that writes
	// nothing (200) must count like any other; the order interleaves them so
	// a reused recorder that kept its status would be caught.
	cases := []struct {
		method, path, status string
		times                int
		wantMethod, wantPath string
		wantStatus           string
	}{
		{http.MethodGet, "/", "500", 3, "GET", "/", "500"},
		{http.MethodGet, "/", "", 2, "GET", "/", "200"},
		{http.MethodGet, "/", "200", 4, "GET", "/", "200"},
		{http.MethodPost, pathChaos, "201", 1, "POST", "/chaos", "201"},
		{http.MethodPost, pathChaos, "418", 5, "POST", "/chaos", "418"},
		{http.MethodHead, pathHealthz, "100", 2, "HEAD", "/healthz", "100"},
		{http.MethodHead, pathHealthz, "599", 3, "HEAD", "/healthz", "599"},
		{"BREW", "/pot", "600", 2, "OTHER", "other", "600"},
		{"brew", "/kettle", "999", 1, "OTHER", "other", "999"},
		{http.MethodDelete, "/x", "", 6, "DELETE", "other", "200"},
	}
	want := map[string]int{}
	durations := map[string]int{}
	for round := range 6 {
		for _, c := range cases {
			if round < c.times {
				sendStatus(h, c.method, c.path, c.status)
			}
		}
	}
	for _, c := range cases {
		want[fmt.Sprintf(`http_requests_total{method=%q,path=%q,status_code=%q}`, c.wantMethod, c.wantPath, c.wantStatus)] += c.times
		durations[fmt.Sprintf(`http_request_duration_seconds_count{method=%q,path=%q}`, c.wantMethod, c.wantPath)] += c.times
	}
	text := scrape(t, a.metrics.handler())
	checkSeries(t, text, "http_requests_total", want)
	checkSeries(t, text, "http_request_duration_seconds_count", durations)
}

func TestConcurrentRequestsAreCountedExactly(t *testing.T) {
	a, _ := newTestApp(t, modeStable)
	h := a.metrics.instrument(http.HandlerFunc(statusEcho))
	statuses := []string{"200", "404", "500", "", "700"}
	methods := []string{http.MethodGet, http.MethodPost, "PURGE"}
	const workers, perWorker = 8, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				sendStatus(h, methods[(w+i)%len(methods)], pathRoot, statuses[i%len(statuses)])
			}
		})
	}
	wg.Wait()
	want := map[string]int{}
	for w := range workers {
		for i := range perWorker {
			method := methodLabels[methodIndex(methods[(w+i)%len(methods)])]
			status := cmp.Or(statuses[i%len(statuses)], "200")
			want[fmt.Sprintf(`http_requests_total{method=%q,path="/",status_code=%q}`, method, status)]++
		}
	}
	text := scrape(t, a.metrics.handler())
	checkSeries(t, text, "http_requests_total", want)
	checkSeries(t, text, "http_request_duration_seconds_count", map[string]int{
		`http_request_duration_seconds_count{method="GET",path="/"}`:   workers * perWorker / 3,
		`http_request_duration_seconds_count{method="POST",path="/"}`:  workers * perWorker / 3,
		`http_request_duration_seconds_count{method="OTHER",path="/"}`: workers * perWorker / 3,
	})
}

// checkSeries fails unless the series of name in text are exactly want, with
// want's values.
func checkSeries(t *testing.T, text, name string, want map[string]int) {
	t.Helper()
	got := map[string]string{}
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, name+"{") {
			i := strings.LastIndexByte(line, ' ')
			got[line[:i]] = strings.TrimSpace(line[i+1:])
		}
	}
	for series, n := range want {
		if got[series] != strconv.Itoa(n) {
			t.Errorf("%s = %q, want %d", series, got[series], n)
		}
	}
	for series := range got {
		if _, ok := want[series]; !ok {
			t.Errorf("unexpected series %s", series)
		}
	}
}
