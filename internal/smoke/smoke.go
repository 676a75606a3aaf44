// Package smoke sends rollout.smoke's requests to each build of a release
// while a step runs: SwiftDeploy's own traffic, so that a quiet service's
// step has enough requests to judge (Flagger's load tester, built in).
//
// Each request goes through nginx's admin listener, pinned to one build by
// X-Canary (always: the canary, never: the stable build), and carries
// manifest.SmokeHeader, so that nginx logs it with the users' requests and
// marks it: the judge counts it with the rest, and the output, status,
// history and audit show it apart. The package counts only what it could
// not send; what each build answered is nginx's log to tell.
package smoke

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// Build is where a stream of smoke requests goes: a name for messages and
// the X-Canary value that pins a request to it.
type Build struct {
	Name string
	Pin  string
}

// The two builds of a release.
var (
	Canary = Build{Name: "canary", Pin: "always"}
	Stable = Build{Name: "stable", Pin: "never"}
)

// MaxInFlight bounds the unanswered requests to one build: a build that
// stopped answering is not sent more than this many at once, and the ticks
// it misses are counted as skipped.
const MaxInFlight = 32

// bodyLimit is how much of an answer is read before the connection is
// reused or closed.
const bodyLimit = 1 << 20

// Sender sends one manifest.Smoke to builds.
type Sender struct {
	Smoke manifest.Smoke
	// Client reaches nginx's admin listener, whose URL for a path URL
	// returns.
	Client *http.Client
	URL    func(path string) string
}

// Counts say what a run could not send to one build.
type Counts struct {
	Build   string
	Sent    int // requests sent (answered or not)
	Skipped int // ticks missed because MaxInFlight requests were unanswered
	Failed  int // requests that got no answer from nginx at all
	// FirstError is why the first failed request failed.
	FirstError string
}

// Run is smoke traffic under way.
type Run struct {
	stop    chan struct{}
	tickers sync.WaitGroup
	flight  sync.WaitGroup
	streams []*stream
}

type stream struct {
	build                 Build
	sent, skipped, failed atomic.Int64
	inFlight              atomic.Int64
	mu                    sync.Mutex
	firstError            string
}

// Interval is the time between two requests to one build at rate requests
// a second.
func Interval(rate float64) time.Duration { return time.Duration(float64(time.Second) / rate) }

// Describe is "GET /, HEAD /v1/items at 2/s to each build", for the
// output (headers are left out: they may hold secrets).
func Describe(s manifest.Smoke) string {
	reqs := make([]string, len(s.Requests))
	for i, r := range s.Requests {
		reqs[i] = r.String()
	}
	return fmt.Sprintf("%s at %s/s to each build", strings.Join(reqs, ", "), strconv.FormatFloat(s.Rate, 'f', -1, 64))
}

// Start sends s.Smoke.Rate requests a second to each build, the paths in
// turn, the first at once, until Stop. Requests run on a context of their
// own, bounded by the client's timeout: a step that ends does not cut off
// a request nginx is answering (nginx would log it as a client's 499).
func (s *Sender) Start(ctx context.Context, builds ...Build) *Run {
	r := &Run{stop: make(chan struct{})}
	interval := Interval(s.Smoke.Rate)
	reqCtx := context.WithoutCancel(ctx)
	for _, b := range builds {
		st := &stream{build: b}
		r.streams = append(r.streams, st)
		r.tickers.Add(1)
		go func() {
			defer r.tickers.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for i := 0; ; i++ {
				if st.inFlight.Load() >= MaxInFlight {
					st.skipped.Add(1)
				} else {
					st.inFlight.Add(1)
					st.sent.Add(1)
					r.flight.Add(1)
					go func(req manifest.SmokeRequest) {
						defer r.flight.Done()
						defer st.inFlight.Add(-1)
						s.send(reqCtx, st, req)
					}(s.Smoke.Requests[i%len(s.Smoke.Requests)])
				}
				select {
				case <-r.stop:
					return
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	return r
}

func (s *Sender) send(ctx context.Context, st *stream, r manifest.SmokeRequest) {
	req, err := http.NewRequestWithContext(ctx, r.Method, s.URL(r.Path), nil)
	if err == nil {
		req.Header.Set("User-Agent", "swiftdeploy-smoke")
		for _, h := range s.Smoke.Headers {
			if h.Name == "Host" {
				req.Host = h.Value
				continue
			}
			req.Header.Add(h.Name, h.Value)
		}
		req.Header.Set("X-Canary", st.build.Pin)
		req.Header.Set(manifest.SmokeHeader, "1")
		var resp *http.Response
		if resp, err = s.Client.Do(req); err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, bodyLimit))
			resp.Body.Close()
			return
		}
	}
	st.failed.Add(1)
	st.mu.Lock()
	if st.firstError == "" {
		st.firstError = err.Error()
	}
	st.mu.Unlock()
}

// Stop stops sending, waits up to grace for the requests under way, and
// says, per build, what could not be sent.
func (r *Run) Stop(grace time.Duration) []Counts {
	close(r.stop)
	r.tickers.Wait()
	done := make(chan struct{})
	go func() { r.flight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
	}
	var out []Counts
	for _, st := range r.streams {
		st.mu.Lock()
		first := st.firstError
		st.mu.Unlock()
		out = append(out, Counts{Build: st.build.Name, Sent: int(st.sent.Load()), Skipped: int(st.skipped.Load()), Failed: int(st.failed.Load()), FirstError: first})
	}
	return out
}
