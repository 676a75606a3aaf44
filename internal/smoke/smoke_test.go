package smoke

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// seen is what a fake admin listener was asked, in order.
type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *seen) handler(block <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		if block != nil {
			<-block
		}
		w.Write([]byte("ok"))
	})
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *seen) by(pin string) []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*http.Request
	for _, r := range s.reqs {
		if r.Header.Get("X-Canary") == pin {
			out = append(out, r)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEachBuildGetsThePathsInTurnPinnedAndMarked(t *testing.T) {
	var got seen
	srv := httptest.NewServer(got.handler(nil))
	defer srv.Close()
	s := &Sender{Client: srv.Client(), URL: func(p string) string { return srv.URL + p }, Smoke: manifest.Smoke{
		Rate:     100,
		Requests: []manifest.SmokeRequest{{Method: "GET", Path: "/a?x=1"}, {Method: "HEAD", Path: "/b"}},
		Headers:  []manifest.Header{{Name: "Authorization", Value: "Bearer t"}, {Name: "Host", Value: "shop.example.com"}},
	}}
	run := s.Start(context.Background(), Canary, Stable)
	waitFor(t, "three requests to each build", func() bool { return len(got.by("always")) >= 3 && len(got.by("never")) >= 3 })
	counts := run.Stop(time.Second)
	// Each request runs on its own, so they may reach the listener out of
	// the order they were sent in (a second connection can be accepted
	// before the first): the paths in turn show as every path asked as
	// often as the others, give or take the one last sent.
	for _, pin := range []string{"always", "never"} {
		asked := make([]int, len(s.Smoke.Requests))
		for i, r := range got.by(pin) {
			which := slices.IndexFunc(s.Smoke.Requests, func(want manifest.SmokeRequest) bool {
				return r.Method == want.Method && r.URL.RequestURI() == want.Path
			})
			if which < 0 {
				t.Errorf("X-Canary %s, request %d: %s %s, want one of %v", pin, i, r.Method, r.URL.RequestURI(), s.Smoke.Requests)
				continue
			}
			asked[which]++
			if r.Header.Get(manifest.SmokeHeader) != "1" || r.Header.Get("Authorization") != "Bearer t" || r.Host != "shop.example.com" || r.Header.Get("User-Agent") != "swiftdeploy-smoke" {
				t.Errorf("X-Canary %s, request %d: headers %v, host %q", pin, i, r.Header, r.Host)
			}
		}
		if slices.Max(asked)-slices.Min(asked) > 1 {
			t.Errorf("X-Canary %s: the paths were asked %v times, want them in turn", pin, asked)
		}
	}
	if len(counts) != 2 || counts[0].Build != "canary" || counts[1].Build != "stable" {
		t.Fatalf("counts %+v, want the canary's then stable's", counts)
	}
	for _, c := range counts {
		if c.Sent < 3 || c.Skipped != 0 || c.Failed != 0 {
			t.Errorf("%+v: want 3 or more sent, none skipped or failed", c)
		}
	}
	if total := counts[0].Sent + counts[1].Sent; got.count() != total {
		t.Errorf("the listener saw %d requests after Stop waited for them, the sender says it sent %d", got.count(), total)
	}
}

func TestTheFirstRequestGoesAtOnceAndNoMoreAfterStop(t *testing.T) {
	var got seen
	srv := httptest.NewServer(got.handler(nil))
	defer srv.Close()
	// One request an hour: only the first, sent at once, can be seen.
	s := &Sender{Client: srv.Client(), URL: func(p string) string { return srv.URL + p }, Smoke: manifest.Smoke{
		Rate: 1.0 / 3600, Requests: []manifest.SmokeRequest{{Method: "GET", Path: "/"}}}}
	run := s.Start(context.Background(), Canary)
	waitFor(t, "the first request", func() bool { return got.count() == 1 })
	if c := run.Stop(time.Second); c[0].Sent != 1 {
		t.Errorf("%+v, want 1 sent", c[0])
	}
	if got.count() != 1 {
		t.Errorf("the listener saw %d requests, want 1", got.count())
	}
}

func TestABuildThatStopsAnsweringIsNotSentMoreThanMaxInFlight(t *testing.T) {
	var got seen
	block := make(chan struct{})
	srv := httptest.NewServer(got.handler(block))
	defer srv.Close()
	defer close(block)
	s := &Sender{Client: srv.Client(), URL: func(p string) string { return srv.URL + p }, Smoke: manifest.Smoke{
		Rate: 100, Requests: []manifest.SmokeRequest{{Method: "GET", Path: "/"}}}}
	run := s.Start(context.Background(), Canary)
	waitFor(t, "MaxInFlight requests under way", func() bool { return got.count() == MaxInFlight })
	waitFor(t, "a skipped tick", func() bool { return run.streams[0].skipped.Load() > 0 })
	c := run.Stop(0)
	if c[0].Sent != MaxInFlight || c[0].Skipped == 0 || got.count() != MaxInFlight {
		t.Errorf("%+v with %d seen, want %d sent and seen, some skipped", c[0], got.count(), MaxInFlight)
	}
}

func TestARequestNginxNeverAnsweredIsCountedWithWhy(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s := &Sender{Client: &http.Client{Timeout: time.Second}, URL: func(p string) string { return url + p }, Smoke: manifest.Smoke{
		Rate: 1.0 / 3600, Requests: []manifest.SmokeRequest{{Method: "GET", Path: "/"}}}}
	c := s.Start(context.Background(), Stable).Stop(5 * time.Second)
	if c[0].Sent != 1 || c[0].Failed != 1 || !strings.Contains(c[0].FirstError, "refused") {
		t.Errorf("%+v, want 1 sent and failed, saying the connection was refused", c[0])
	}
}

func TestTheIntervalAndTheDescriptionFollowTheRate(t *testing.T) {
	for rate, want := range map[float64]time.Duration{2: 500 * time.Millisecond, 0.5: 2 * time.Second, 100: 10 * time.Millisecond} {
		if got := Interval(rate); got != want {
			t.Errorf("Interval(%v) = %v, want %v", rate, got, want)
		}
	}
	got := Describe(manifest.Smoke{Rate: 2.5, Requests: []manifest.SmokeRequest{{Method: "GET", Path: "/"}, {Method: "HEAD", Path: "/v1"}},
		Headers: []manifest.Header{{Name: "Authorization", Value: "secret"}}})
	if want := "GET /, HEAD /v1 at 2.5/s to each build"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}
