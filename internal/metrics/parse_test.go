package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// t0 is the time of the earlier fixture scrape; the later ones are 30 s apart.
var t0 = time.Date(2025, 11, 23, 12, 0, 0, 0, time.UTC)

func parseFixture(t testing.TB, name string, at time.Time) Sample {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := Parse(f, at)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return s
}

// defaultBounds are client_golang's default histogram buckets, +Inf last.
var defaultBounds = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, inf}

func withDefaultBounds(counts ...float64) []Bucket {
	b := make([]Bucket, len(counts))
	for i, c := range counts {
		b[i] = Bucket{UpperBound: defaultBounds[i], Count: c}
	}
	return b
}

func TestParseReducesAScrapeToApplicationTraffic(t *testing.T) {
	got := parseFixture(t, "window_cur.prom", t0)
	want := Sample{
		At: t0,
		// App series: GET / 200 880 + GET / 500 302 + GET / 503 1 + GET other 404 52 + POST / 405 55 = 1290.
		// Left out: /healthz 34, /metrics 5, /chaos 1+1.
		Requests: 1290,
		// 5xx: GET / 500 302 + GET / 503 1 = 303.
		Errors: 303,
		// GET / + GET other (52 everywhere) + POST / (55 everywhere): GET / + 107 in each bucket.
		Buckets:       withDefaultBounds(410, 750, 1010, 1150, 1220, 1260, 1275, 1285, 1289, 1290, 1290, 1290),
		UptimeSeconds: 150.5,
		Mode:          1,
		Chaos:         2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(window_cur.prom) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseCountsAMissingFamilyAsZero(t *testing.T) {
	// A process that has served nothing prints no http_* families at all.
	got := parseFixture(t, "startup.prom", t0)
	want := Sample{At: t0, UptimeSeconds: 0.8}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(startup.prom) = %+v, want %+v", got, want)
	}
}

func TestParseTakesAMissingInfBucketFromTheCount(t *testing.T) {
	got := parseFixture(t, "no_inf_bucket.prom", t0).Buckets
	want := []Bucket{{0.1, 3}, {0.5, 7}, {inf, 9}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("buckets = %v, want %v", got, want)
	}
}

func TestParseRejectsInputThatIsNotAPrometheusScrape(t *testing.T) {
	gateway, err := os.ReadFile(filepath.Join("testdata", "bad_gateway.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"nginx 502 JSON":   string(gateway),
		"HTML page":        "<html><body><h1>502 Bad Gateway</h1></body></html>\n",
		"empty body":       "",
		"comments only":    "# nothing to see\n",
		"value not number": "http_requests_total{path=\"/\"} lots\n",
		"NaN counter":      "# TYPE http_requests_total counter\nhttp_requests_total{path=\"/\",status_code=\"200\"} NaN\n",
		"negative counter": "# TYPE http_requests_total counter\nhttp_requests_total{path=\"/\",status_code=\"200\"} -3\n",
		"infinite uptime":  "# TYPE app_uptime_seconds gauge\napp_uptime_seconds +Inf\n",
		"requests overflow": "# TYPE http_requests_total counter\nhttp_requests_total{path=\"/\",status_code=\"200\"} 1e308\n" +
			"http_requests_total{path=\"other\",status_code=\"200\"} 1e308\n",
		"buckets overflow": "# TYPE http_request_duration_seconds histogram\n" +
			"http_request_duration_seconds_bucket{path=\"/\",le=\"+Inf\"} 1e308\n" +
			"http_request_duration_seconds_bucket{path=\"other\",le=\"+Inf\"} 1e308\n",
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(input), t0)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", s)
			}
			if !strings.HasPrefix(err.Error(), "parse scrape: ") {
				t.Errorf("error %q lacks its context", err)
			}
		})
	}
}

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "bad_types.prom"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Parse(f, t0)
	if err == nil {
		t.Fatal("Parse accepted a counter typed as gauge and a gauge with two series")
	}
	for _, want := range []string{"http_requests_total: type GAUGE, want COUNTER", "app_mode: 2 series"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestScrapeAsksForTextAndParsesTheAnswer(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "window_cur.prom"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
			http.Error(w, "want text", http.StatusNotAcceptable)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	got, err := Scrape(context.Background(), srv.Client(), srv.URL+"/metrics", t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != 1290 || got.Errors != 303 || !got.At.Equal(t0) {
		t.Errorf("Scrape = %+v, want the window_cur.prom sample at t0", got)
	}
}

func TestScrapeReportsAnErrorPageWithItsStatusAndBody(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "bad_gateway.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		w.Write(body)
	}))
	defer srv.Close()
	_, err = Scrape(context.Background(), srv.Client(), srv.URL+"/metrics", t0)
	if err == nil {
		t.Fatal("Scrape accepted a 502")
	}
	for _, want := range []string{"502", `"error": "bad gateway"`, srv.URL} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestScrapeStopsWhenItsContextIsCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Scrape(ctx, nil, "http://127.0.0.1:1/metrics", t0); err == nil {
		t.Fatal("Scrape with a cancelled context succeeded")
	}
}
