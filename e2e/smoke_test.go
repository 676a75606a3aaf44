package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// smokeRollout gives a quiet service's steps SwiftDeploy's own traffic: 15
// requests a second to each build, about 30 per build in a 2 s step, past
// the 5 a step needs alone to be judged at the release policy's confidence
// (0.95, left as data.json says), where one user request a second gives the
// canary 0 to 3.
const smokeRollout = `rollout:
  strategy: canary
  steps: [10, 25, 50, 100]
  step_seconds: 2
  sticky: true
  smoke:
    paths: [/, "HEAD /?probe=smoke"]
    rate: 15
    headers:
      Accept: application/json
`

// quietUsers is one client sending a request a second, as a quiet service
// gets.
type quietUsers struct {
	clients
	sent, failed atomic.Int64
}

func startQuietUsers(t *testing.T, url string) *quietUsers {
	t.Helper()
	u := &quietUsers{}
	client := &http.Client{Timeout: 5 * time.Second}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for !u.stopping.Load() {
			u.sent.Add(1)
			resp, err := client.Get(url)
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode/100 != 2 {
				u.failed.Add(1)
			}
			time.Sleep(time.Second)
		}
	}()
	t.Cleanup(u.stop)
	return u
}

// stepFigures are a release_step event's canary and stable figures.
type stepFigures struct {
	Verdict        string
	Step           int
	Canary, Stable struct {
		Requests int `json:"requests"`
		Smoke    int `json:"smoke_requests"`
	}
}

// releaseSteps are the release_step events recorded after the first skip
// of them.
func (p *project) releaseSteps(skip int) []stepFigures {
	p.t.Helper()
	var out []stepFigures
	for _, e := range p.events() {
		if e["event"] != "release_step" {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		data, _ := json.Marshal(e)
		var s stepFigures
		if err := json.Unmarshal(data, &s); err != nil {
			p.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestAQuietServiceReleasesOnSmokeTrafficAndABadBuildIsAborted: a service
// that gets a request a second releases a good build through four steps on
// rollout.smoke's traffic, the judge's bar unchanged, each step counting
// users' and smoke requests apart; then a build that answers 500 to 30 % of
// its requests (chaos, on the canary alone) is aborted with its reasons.
func TestAQuietServiceReleasesOnSmokeTrafficAndABadBuildIsAborted(t *testing.T) {
	p := newProject(t, manifestOptions{rollout: smokeRollout})
	if strings.Contains(p.manifest, "release:") {
		t.Fatal("the test manifest overrides the release policy: the bar must stay data.json's")
	}
	p.must("deploy")
	users := startQuietUsers(t, p.url("/"))

	p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, `version: "2.1.0"`, 1))
	good := p.start(2*time.Minute, nil, "deploy")
	p.waitForStep(good, 25)
	var status struct {
		Release struct {
			Builds []struct {
				Side  string `json:"side"`
				Smoke int    `json:"smoke_requests"`
			} `json:"builds"`
		} `json:"release"`
	}
	if err := json.Unmarshal([]byte(p.must("status", "-once", "-json")), &status); err != nil || len(status.Release.Builds) != 2 ||
		status.Release.Builds[0].Smoke == 0 || status.Release.Builds[1].Smoke == 0 {
		t.Errorf("status -json during the release shows %+v (%v), want smoke requests to both builds", status.Release, err)
	}
	out, code := good.wait()
	if code != 0 || !strings.Contains(out, "released ") {
		t.Fatalf("the good build's release exited %d", code)
	}
	for _, want := range []string{"smoke traffic in each step (rollout.smoke): GET /, HEAD /?probe=smoke at 15/s to each build", " smoke), 0 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("the release's output does not say %q", want)
		}
	}
	steps := p.releaseSteps(0)
	if len(steps) != 4 {
		t.Errorf("history records %d judged steps, want 4 (none held for too few requests): %+v", len(steps), steps)
	}
	for _, s := range steps {
		users := s.Canary.Requests - s.Canary.Smoke
		if s.Verdict != "promote" || s.Canary.Requests < 20 || s.Canary.Smoke == 0 || s.Stable.Smoke == 0 || users >= 20 {
			t.Errorf("step %d: %s on canary %d user + %d smoke, stable %+v; want promote on 20 or more, fewer than 20 of them users', smoke to both builds",
				s.Step, s.Verdict, users, s.Canary.Smoke, s.Stable)
		}
	}

	p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, `version: "2.2.0"`, 1))
	bad := p.start(2*time.Minute, nil, "deploy")
	p.waitForStep(bad, 10)
	p.expect(0, []string{"chaos error injected"}, "chaos", "error", "-rate=0.3")
	out, code = bad.wait()
	users.stop()
	t.Logf("a request a second from users: %d sent, %d failed (the canary's share of them may answer 500)", users.sent.Load(), users.failed.Load())
	if code != 3 || !strings.Contains(out, "release aborted at step") || !strings.Contains(out, "canary error rate") {
		t.Errorf("the bad build's release exited %d, want 3 with the canary's error rate among its reasons", code)
	}
	if r := p.lastRelease(); r["result"] != "aborted" || r["step"].(float64) > 2 {
		t.Errorf("history says the release ended %v at step %v, want aborted at step 1 or 2", r["result"], r["step"])
	}
	aborting := p.releaseSteps(4)
	// Looked at every second, the canary may be aborted before its step's
	// end, on the smoke requests of its first second.
	if n := len(aborting); n == 0 || aborting[n-1].Verdict != "abort" || aborting[n-1].Canary.Smoke < 5 {
		t.Errorf("the bad release's steps: %+v; want the last an abort judged on 5 or more smoke requests", aborting)
	}
	if h := p.health(); h.Version != "2.1.0" || h.Mode != "stable" {
		t.Errorf("after the abort /healthz says %+v, want 2.1.0 in stable mode", h)
	}
	p.must("audit")
	if report := p.read("audit_report.md"); strings.Count(report, " smoke |") < 2*len(steps) {
		t.Errorf("the audit's step tables do not show each build's requests as N user + M smoke:\n%s", report)
	}
}
