package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// smokeLine plays nginx for a smoke request on the admin listener: it is
// pinned to a build by X-Canary, answered 200, and logged marked as smoke.
// f.mu is held.
func (f *releaseRuntime) smokeLine(r *http.Request) {
	addr := stableApp.Addr
	if r.Header.Get("X-Canary") == "always" {
		addr = canaryApp.Addr
	}
	log, err := os.OpenFile(f.s.path(render.ReleaseLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Error(err)
		return
	}
	defer log.Close()
	f.smokeSeen = append(f.smokeSeen, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Canary"))
	fmt.Fprintf(log, "%.3f|app_%s|200|%s:3000|200|0.001|%s|1\n", float64(time.Now().UnixNano())/1e9, r.Header.Get("X-Canary"), addr, r.URL.Path)
}

// A canary that users send nothing (canaryStatus 0) cannot be judged: the
// step holds, then aborts. rollout.smoke's requests give each step enough
// to judge, and each step's record says how many were smoke.
func TestAQuietCanaryIsJudgedOnSmokeTrafficCountedApart(t *testing.T) {
	rt := &releaseRuntime{}
	s, m := releaseStack(t, rt)
	var out bytes.Buffer
	s.Out = ui.New(&out)
	m.Rollout.Smoke = &manifest.Smoke{Rate: 40, Requests: []manifest.SmokeRequest{{Method: "GET", Path: "/"}, {Method: "HEAD", Path: "/v1?x=1"}}}
	if err := s.release(context.Background(), rt, m, stableApp.Build(), []platform.Instance{stableApp}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	steps := 0
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, s.path(HistoryFile))), "\n") {
		var ev struct{ Event string }
		var e history.ReleaseStep
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Event != history.EventReleaseStep {
			continue
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		steps++
		if c := e.Canary; e.Verdict != "promote" || c.Requests < 10 || c.SmokeRequests != int(c.Requests) || e.Stable.SmokeRequests == 0 {
			t.Errorf("step %d: %s with canary %+v, stable %+v; want promote on 10 or more requests, all smoke, and smoke to stable too", e.Step, e.Verdict, c, e.Stable)
		}
	}
	if steps != 3 {
		t.Errorf("history records %d judged steps, want 3 (none held)", steps)
	}
	rt.mu.Lock()
	seen := strings.Join(rt.smokeSeen, "\n")
	rt.mu.Unlock()
	for _, want := range []string{"GET / always", "HEAD /v1?x=1 always", "GET / never", "HEAD /v1?x=1 never"} {
		if !strings.Contains(seen, want) {
			t.Errorf("the admin listener was not asked %q; it saw:\n%s", want, seen)
		}
	}
	for _, want := range []string{"smoke traffic in each step (rollout.smoke): GET /, HEAD /v1?x=1 at 40/s to each build", "user + ", " smoke)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output does not say %q:\n%s", want, out.String())
		}
	}
}

func TestARequestCountSaysUserAndSmokeOnlyWhenThereIsSmoke(t *testing.T) {
	for _, c := range []struct {
		requests, smoke int
		want            string
	}{{45, 40, "45 requests (5 user + 40 smoke)"}, {12, 0, "12 requests"}, {30, 30, "30 requests (0 user + 30 smoke)"}} {
		if got := requestCount(routelog.Figures{Requests: c.requests, Smoke: c.smoke}); got != c.want {
			t.Errorf("requestCount(%d, %d smoke) = %q, want %q", c.requests, c.smoke, got, c.want)
		}
	}
}

func TestValidateSaysWhetherSmokeAloneGivesAStepEnoughRequests(t *testing.T) {
	for _, c := range []struct {
		rate        float64
		stepSeconds int
		judgeable   int64
		want        string
		enough      bool
	}{
		{1, 30, 5, "rollout.smoke: about 30 requests to each build in a 30s step, against the 5 a step needs before the release judge can decide it", true},
		{0.2, 30, 5, "rollout.smoke: about 6 requests to each build in a 30s step, against the 5 a step needs", true},
		{0.1, 30, 5, "about 3 requests to each build in a 30s step, against the 5 a step needs before the release judge can decide it: a step is judged only when users' requests make up the rest, or after it is extended; a rate of 0.2 or more gives enough alone", false},
		{0.5, 3, 5, "about 1 request to each build in a 3s step, against the 5 a step needs before the release judge can decide it: a step is judged only when users' requests make up the rest, or after it is extended; a rate of 1.7 or more gives enough alone", false},
	} {
		note, enough := smokeNote(manifest.Smoke{Rate: c.rate}, c.stepSeconds, c.judgeable)
		if enough != c.enough || !strings.Contains(note, c.want) {
			t.Errorf("rate %v, %ds steps, %d needed: %q (enough %t), want %q (enough %t)", c.rate, c.stepSeconds, c.judgeable, note, enough, c.want, c.enough)
		}
	}
}

// The fewest requests a step needs is the judge's own rule: all n of the
// canary's failing against none of stable's n is Fisher-significant at
// alpha only from n on. For n against n, that p-value is 1 / C(2n, n):
// 1/20 at 3, 1/70 at 4, 1/252 at 5, 1/924 at 6, 1/3432 at 7.
func TestASmokeStepNeedsWhatTheJudgeNeedsToDecide(t *testing.T) {
	for _, c := range []struct {
		alpha float64
		want  int64
	}{{0.05, 3}, {0.0125, 5}, {1.0 / 300, 6}, {0.001, 7}, {0.0002, 8}} {
		if got := judgeableRequests(c.alpha); got != c.want {
			t.Errorf("at alpha %v a step needs %d requests to each build, want %d", c.alpha, got, c.want)
		}
	}
}
