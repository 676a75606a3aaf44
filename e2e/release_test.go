package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// quickRollout runs each step for a few seconds, so that a release of four
// steps fits in a test; the 20-client loads give every step thousands of
// requests to judge.
const quickRollout = `rollout:
  strategy: canary
  steps: [10, 25, 50, 100]
  step_seconds: 4
  sticky: true
`

// httpLoad keeps conns Go net/http clients busy on path: like browsers and
// most HTTP libraries, Go's transport retries an idempotent request when the
// server closed an idle keep-alive connection as it was sent (RFC 9112
// section 9.3.1), which is what a reload of nginx does to idle connections.
type httpLoad struct {
	clients
	ok, non2xx, errs atomic.Int64
	firstErr         string
	versions         map[string]int64 // answers by version
	slowest          time.Duration    // the longest answer
	slow             int64            // answers that took over a second
}

func startHTTPLoad(t testing.TB, url string, conns int) *httpLoad {
	t.Helper()
	return startHTTPLoadWaiting(t, url, conns, requestTimeout)
}

// startHTTPLoadWaiting is startHTTPLoad with clients that wait timeout for
// each answer.
func startHTTPLoadWaiting(t testing.TB, url string, conns int, timeout time.Duration) *httpLoad {
	t.Helper()
	transport := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	return startHTTPLoadWith(t, url, conns, &http.Client{Transport: transport, Timeout: timeout})
}

// startHTTPLoadWith is startHTTPLoad with conns clients sharing client.
func startHTTPLoadWith(t testing.TB, url string, conns int, client *http.Client) *httpLoad {
	t.Helper()
	l := &httpLoad{versions: map[string]int64{}}
	for range conns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stopping.Load() {
				start := time.Now()
				resp, err := client.Get(url)
				l.took(time.Since(start))
				if err != nil {
					if !l.stopping.Load() {
						l.errs.Add(1)
						l.note(err.Error())
					}
					continue
				}
				var body struct {
					Version string `json:"version"`
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					l.non2xx.Add(1)
					l.note(fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, data))
					continue
				}
				l.ok.Add(1)
				json.Unmarshal(data, &body)
				l.mu.Lock()
				l.versions[body.Version]++
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *httpLoad) took(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slowest = max(l.slowest, d)
	if d > time.Second {
		l.slow++
	}
}

func (l *httpLoad) note(what string) { l.first(&l.firstErr, what) }

// clients are the goroutines of a load: stop ends them and waits for them,
// and mu guards what they note.
type clients struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
}

// first sets *dst to what unless it holds something already.
func (c *clients) first(dst *string, what string) {
	c.mu.Lock()
	if *dst == "" {
		*dst = what
	}
	c.mu.Unlock()
}

func (c *clients) stop() {
	if !c.stopping.Swap(true) {
		c.wg.Wait()
	}
}

func (l *httpLoad) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d ok, %d non-2xx, %d errors, answers by version %v, slowest %s, %d over 1s (first failure: %q)", l.ok.Load(), l.non2xx.Load(), l.errs.Load(), l.versions, l.slowest.Round(time.Millisecond), l.slow, l.firstErr)
}

// releaseState reads the release the state file records, nil when none.
func (p *project) releaseState() map[string]any {
	data, err := os.ReadFile(filepath.Join(p.dir, ".swiftdeploy", "state.json"))
	if err != nil {
		return nil
	}
	var st struct {
		Change map[string]any `json:"change"`
	}
	if json.Unmarshal(data, &st) != nil || st.Change == nil || st.Change["strategy"] != "canary" {
		return nil
	}
	return st.Change
}

// waitForStep waits until the release serves the canary weight percent.
func (p *project) waitForStep(b *background, weight int) {
	p.t.Helper()
	waitUntil(p.t, 90*time.Second, fmt.Sprintf("the release's %d%% step", weight), func() bool {
		if b.finished() {
			out, code := b.wait()
			p.t.Fatalf("the release ended (exit %d) before its %d%% step:\n%s", code, weight, out)
		}
		r := p.releaseState()
		if r == nil || r["phase"] != "canary" || r["weight"] != float64(weight) {
			return false
		}
		// The state is written before nginx is steered: wait until the
		// stack's resolver says nginx asked for this weight twice.
		return p.routedAt(weight)
	})
}

// routedAt reports whether nginx routes by the canary weight weight, as
// the stack's resolver says: the routes file holds that weight, and nginx
// asked for both weighted lines twice since it was written.
func (p *project) routedAt(weight int) bool {
	var routes struct {
		Generation int64
		Canary     *struct{ Weight int }
	}
	var served map[string]struct {
		Generation int64
		Answers    int
	}
	dir := filepath.Join(p.dir, ".swiftdeploy", "resolver")
	r, err1 := os.ReadFile(filepath.Join(dir, "routes.json"))
	s, err2 := os.ReadFile(filepath.Join(dir, "served.json"))
	if err1 != nil || err2 != nil || json.Unmarshal(r, &routes) != nil || json.Unmarshal(s, &served) != nil {
		return false
	}
	if routes.Canary == nil || routes.Canary.Weight != weight {
		return false
	}
	for _, line := range []string{"stable", "canary"} {
		if served[line].Generation != routes.Generation || served[line].Answers < 2 {
			return false
		}
	}
	return true
}

// version asks for path with header set and returns the version and X-Mode of the answer.
func (p *project) answer(client *http.Client, header string) (version, mode string, resp *http.Response) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url("/"), nil)
	if header != "" {
		req.Header.Set("X-Canary", header)
	}
	resp, err := client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Version string `json:"version"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return body.Version, resp.Header.Get("X-Mode"), resp
}

// lastRelease is the last release event in history.
func (p *project) lastRelease() map[string]any {
	var last map[string]any
	for _, e := range p.events() {
		if e["event"] == "release" && e["result"] != "started" {
			last = e
		}
	}
	if last == nil {
		p.t.Fatal("history records no end of a release")
	}
	return last
}

// TestAGoodBuildIsReleasedStepByStepUnderLoadThenRolledBack releases a new
// version 10 → 25 → 50 → 100 while 20 Go clients and 20 clients that never
// retry load nginx, checks stickiness and X-Canary at the 50% step, then
// rolls back to the previous version under load.
func TestAGoodBuildIsReleasedStepByStepUnderLoadThenRolledBack(t *testing.T) {
	p := deployedAskingFor(t, "2.1.0")
	retrying := startHTTPLoad(t, p.url("/"), 20)
	raw := startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	release := p.start(3*time.Minute, nil, "deploy")

	p.waitForStep(release, 50)
	jar, _ := cookiejar.New(nil)
	sticky := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	first, _, resp := p.answer(sticky, "")
	if !strings.Contains(resp.Header.Get("Set-Cookie"), "swiftdeploy_cohort=") {
		t.Errorf("the first answer set no cohort cookie: %q", resp.Header.Get("Set-Cookie"))
	}
	seen := map[string]int{}
	for range 50 {
		v, _, _ := p.answer(sticky, "")
		seen[v]++
	}
	if len(seen) != 1 || seen[first] != 50 {
		t.Errorf("a client with the cohort cookie saw versions %v at the 50%% step, want %s only", seen, first)
	}
	if v, mode, _ := p.answer(&http.Client{Timeout: 5 * time.Second}, "always"); v != "2.1.0" || mode != "canary" {
		t.Errorf("X-Canary: always reached version %q mode %q, want the canary 2.1.0", v, mode)
	}
	if v, _, _ := p.answer(&http.Client{Timeout: 5 * time.Second}, "never"); v != "2.0.0" {
		t.Errorf("X-Canary: never reached version %q, want the stable 2.0.0", v)
	}
	status := p.must("status", "-once", "-json")
	var doc struct {
		Release struct {
			Weight int `json:"canary_weight_percent"`
			Builds []struct {
				Side     string `json:"side"`
				Version  string `json:"version"`
				Requests int    `json:"requests"`
			} `json:"builds"`
		} `json:"release"`
	}
	if err := json.Unmarshal([]byte(status), &doc); err != nil || len(doc.Release.Builds) != 2 || doc.Release.Builds[1].Version != "2.1.0" || doc.Release.Builds[1].Requests == 0 {
		t.Errorf("status -json during the release shows %+v (%v), want both builds with traffic", doc.Release, err)
	}

	out, code := release.wait()
	retrying.stop()
	raw.stop()
	t.Logf("release under load: Go clients %s; clients that never retry: %s", retrying, raw)
	if code != 0 || !strings.Contains(out, "released ") {
		t.Fatalf("the release exited %d", code)
	}
	if retrying.non2xx.Load() != 0 || retrying.errs.Load() != 0 || retrying.versions["2.1.0"] == 0 {
		t.Errorf("Go clients during the release: %s; want no failure", retrying)
	}
	// No step reloads nginx: not even a client that never retries sees a
	// connection closed under it.
	if raw.non2xx.Load() != 0 || raw.errs.Load() != 0 {
		t.Errorf("clients that never retry saw failures during the release: %s", raw)
	}
	if h := p.health(); h.Version != "2.1.0" || h.Mode != "stable" {
		t.Errorf("after the release /healthz says %+v, want 2.1.0 in stable mode", h)
	}
	if got := p.containers("canary"); len(got) != 0 {
		t.Errorf("the canary still runs after the release: %v", got)
	}
	if got := p.containers("app"); len(got) != 1 {
		t.Errorf("%d apps run after the release, want 1", len(got))
	}
	steps, looks, judged := 0, 0, 0.0
	for _, e := range p.events() {
		if e["event"] == "release_step" && e["verdict"] == "promote" {
			steps++
			l, _ := e["looks"].([]any)
			looks += len(l)
			judged += e["canary"].(map[string]any)["requests"].(float64) + e["stable"].(map[string]any)["requests"].(float64)
		}
	}
	if steps != 4 {
		t.Errorf("history records %d promoted steps, want 4", steps)
	}
	t.Logf("the good build was looked at %d times over its four steps, on %.0f requests, and never found worse", looks, judged)
	if r := p.lastRelease(); r["result"] != "completed" {
		t.Errorf("the release ended %v, want completed", r["result"])
	}
	p.must("deploy") // the same build again: nothing to do

	retrying = startHTTPLoad(t, p.url("/"), 20)
	raw = startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	time.Sleep(time.Second)
	p.expect(0, []string{"rollback: ", "2.0.0"}, "rollback")
	time.Sleep(time.Second)
	retrying.stop()
	raw.stop()
	t.Logf("rollback under load: Go clients %s; clients that never retry: %s", retrying, raw)
	if retrying.non2xx.Load() != 0 || retrying.errs.Load() != 0 || raw.non2xx.Load() != 0 || raw.errs.Load() != 0 {
		t.Errorf("rollback to the previous build failed requests: Go clients %s; others %s", retrying, raw)
	}
	if h := p.health(); h.Version != "2.0.0" || h.Mode != "stable" {
		t.Errorf("after the rollback /healthz says %+v, want 2.0.0 in stable mode", h)
	}
	// What each change cost clients, from nginx's own log: nothing, as the
	// clients above saw, for the release part by part and for the rollback.
	p.wantCost("the release", p.lastRelease()["cost"], []string{"step", "step", "step", "step", "takeover"}, true, 0)
	p.wantCost("the rollback", p.lastEvent("rollback")["cost"], []string{"switch"}, true, 0)
	p.wantAuditCosts("**Zero downtime: 0 failed, 0 reached a retiring build, in 2 changes measured",
		"| release 2.0.0 → 2.1.0 (canary) | completed | step 1 (10%) |", "| rollback build 2.1.0 → 2.0.0 | ok | switch |")
}

// lastEvent is the last event of history named name.
func (p *project) lastEvent(name string) map[string]any {
	p.t.Helper()
	var last map[string]any
	for _, e := range p.events() {
		if e["event"] == name {
			last = e
		}
	}
	if last == nil {
		p.t.Fatalf("history records no %s", name)
	}
	return last
}

// wantCost checks a change's recorded cost: its parts in order, requests
// logged in each when it ran under load, failed as want, and none reaching
// a retiring build. A part's name says how many builds it retired: a
// switch and an abort one, a takeover two (the old build and the canary),
// a step none; so a 0 is never for want of a retirement to watch.
func (p *project) wantCost(what string, cost any, parts []string, underLoad bool, failed float64) {
	p.t.Helper()
	c, ok := cost.(map[string]any)
	if !ok {
		p.t.Errorf("history records no cost for %s: %v", what, cost)
		return
	}
	p.t.Logf("what %s cost clients: %v", what, c)
	var got []string
	list, _ := c["parts"].([]any)
	for _, part := range list {
		pm := part.(map[string]any)
		got = append(got, pm["part"].(string))
		if underLoad && pm["requests"].(float64) == 0 {
			p.t.Errorf("%s: nginx logged no request in its %v part: %v", what, pm["part"], pm)
		}
		retired, _ := pm["retired"].([]any)
		if want := map[string]int{"switch": 1, "abort": 1, "takeover": 2}[pm["part"].(string)]; len(retired) != want {
			p.t.Errorf("%s: its %v part retired %v, want %d builds", what, pm["part"], retired, want)
		}
	}
	if !slices.Equal(got, parts) {
		p.t.Errorf("%s has parts %v, want %v", what, got, parts)
	}
	if c["failed"] != failed || c["reached_retiring"] != 0.0 {
		p.t.Errorf("%s: %v failed by nginx and %v reached a retiring build, want %v and 0", what, c["failed"], c["reached_retiring"], failed)
	}
}

// wantAuditCosts writes the audit and checks that its releases section
// says what each change cost.
func (p *project) wantAuditCosts(want ...string) {
	p.t.Helper()
	p.must("audit")
	report := p.read("audit_report.md")
	for _, w := range want {
		if !strings.Contains(report, w) {
			p.t.Errorf("audit_report.md lacks %q", w)
		}
	}
	if p.t.Failed() {
		if i := strings.Index(report, "### What each change cost clients"); i >= 0 {
			p.t.Logf("the audit's costs:\n%s", report[i:])
		}
	}
}

// deployedAskingFor deploys a stack of version 2.0.0 with quickRollout, then
// asks the manifest for version: the next deploy releases it.
func deployedAskingFor(t *testing.T, version string) *project {
	t.Helper()
	p := newProject(t, manifestOptions{rollout: quickRollout})
	p.must("deploy")
	p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, `version: "`+version+`"`, 1))
	return p
}

// health reads /healthz through nginx.
func (p *project) health() (h struct{ Mode, Version string }) {
	p.t.Helper()
	_, body := p.get("/healthz")
	json.Unmarshal([]byte(body), &h)
	return h
}

// TestABadBuildIsAbortedWithinOneStep releases a build that answers 500 to
// half its requests (chaos, which reaches the canary during a release): the
// first step's judgment aborts it, stable serves throughout.
func TestABadBuildIsAbortedWithinOneStep(t *testing.T) {
	p := deployedAskingFor(t, "2.1.0")
	load := startHTTPLoad(t, p.url("/"), 20)
	raw := startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	release := p.start(3*time.Minute, nil, "deploy")
	p.waitForStep(release, 10)
	p.expect(0, []string{"goes to its canary build", "chaos error injected"}, "chaos", "error", "-rate=0.5")
	// A tester asks for the canary (X-Canary: always) all along: once the
	// canary's weight is 0 nginx sends even those to stable (the canary's
	// name stands for stable outside a release), so none reaches the
	// canary while it retires.
	tester := startCanaryTester(p)
	out, code := release.wait()
	tested := tester()
	load.stop()
	raw.stop()
	t.Logf("load during the bad release: %s; clients that never retry: %s (their non-2xx are the canary's own 500s); a tester's X-Canary: always requests: %d", load, raw, tested)
	// The canary's chaos answers 500; nothing else may fail them, nginx's
	// 502 or 504 included.
	if raw.errs.Load() != 0 || raw.notFrom(http.StatusInternalServerError) != 0 {
		t.Errorf("clients that never retry saw failures the canary did not answer through the abort: %s", raw)
	}
	if code != 3 || !strings.Contains(out, "release aborted at step") || !strings.Contains(out, "the canary fails more often than stable") {
		t.Errorf("the bad release exited %d, want 3 saying the canary fails more often than stable", code)
	}
	r := p.lastRelease()
	if r["result"] != "aborted" {
		t.Errorf("history says the release %v, want aborted", r["result"])
	}
	if step, _ := r["step"].(float64); step > 2 {
		t.Errorf("aborted at step %v, want within one step of the chaos (1 or 2)", step)
	}
	if _, ok := r["first_bad_to_abort_seconds"].(float64); !ok {
		t.Errorf("history does not say how long the canary failed before the abort: %v", r)
	}
	var reached float64
	for _, e := range p.events() {
		if e["event"] == "release_step" && e["verdict"] == "abort" {
			reached = e["canary"].(map[string]any)["requests"].(float64)
		}
	}
	if reached == 0 {
		t.Error("the aborting step counted no request that reached the canary")
	}
	t.Logf("requests that reached the canary in the aborting step: %.0f; 500s clients saw: %d", reached, load.non2xx.Load())
	if h := p.health(); h.Version != "2.0.0" {
		t.Errorf("after the abort /healthz says %+v, want the stable 2.0.0", h)
	}
	if got := p.containers("canary"); len(got) != 0 {
		t.Errorf("the canary still runs after the abort: %v", got)
	}
	if load.errs.Load() != 0 {
		t.Errorf("connection errors during the bad release: %s", load)
	}
	// The manifest still asks for the rejected build: a mode switch keeps the
	// build that runs and never brings the rejected one in ungated.
	p.must("promote", "canary")
	if h := p.health(); h.Version != "2.0.0" || h.Mode != "canary" {
		t.Errorf("promote canary after the abort serves %+v, want the running 2.0.0 in canary mode", h)
	}
	// The canary's 500s are its own, judged by the release policy: nginx
	// failed no request, and none reached the canary once it was retiring,
	// not even the tester's.
	if tested == 0 {
		t.Error("the tester's X-Canary: always requests got no answer")
	}
	p.wantCost("the aborted release", r["cost"], abortedParts(r), true, 0)
	p.wantCost("the promote", p.lastEvent("promote")["cost"], []string{"switch"}, false, 0)
	p.wantAuditCosts("**Zero downtime: 0 failed, 0 reached a retiring build, in 2 changes measured",
		"| release 2.0.0 → 2.1.0 (canary) | aborted | step 1 (10%) |", "|  |  |  | abort |", "| promote stable → canary | ok | switch |")
}

// startCanaryTester sends X-Canary: always requests through nginx one
// after another, as a tester would, until the function it returns is
// called, which returns how many were answered.
func startCanaryTester(p *project) func() int {
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		client := &http.Client{Timeout: 5 * time.Second}
		n := 0
		defer func() { done <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			req, _ := http.NewRequest(http.MethodGet, p.url("/"), nil)
			req.Header.Set("X-Canary", "always")
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n++
			}
		}
	}()
	return func() int { close(stop); return <-done }
}

// abortedParts are the parts a release aborted at its recorded step has:
// each step it reached, then the abort.
func abortedParts(release map[string]any) []string {
	step, _ := release["step"].(float64)
	var parts []string
	for range int(step) {
		parts = append(parts, "step")
	}
	return append(parts, "abort")
}

// TestACanaryFailingHalfItsRequestsIsAbortedWithinSecondsInsideItsStep
// releases with 30 s steps under load: looked at every second, the good
// canary rides its 10 % step for a few seconds, then chaos makes it answer
// 500 to half its requests, and the release aborts within 3 s of the first
// one, long before the step's end, with stable serving throughout.
func TestACanaryFailingHalfItsRequestsIsAbortedWithinSecondsInsideItsStep(t *testing.T) {
	p := newProject(t, manifestOptions{rollout: strings.Replace(quickRollout, "step_seconds: 4", "step_seconds: 30", 1)})
	p.must("deploy")
	p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, `version: "2.1.0"`, 1))
	load := startHTTPLoad(t, p.url("/"), 20)
	raw := startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	release := p.start(3*time.Minute, nil, "deploy")
	p.waitForStep(release, 10)
	// A good build under the same load, looked at every second, waits.
	time.Sleep(6 * time.Second)
	if release.finished() {
		out, code := release.wait()
		t.Fatalf("the release of a good build ended (exit %d) at its first step:\n%s", code, out)
	}
	good := load.ok.Load() + load.non2xx.Load()
	injected := time.Now()
	p.expect(0, []string{"goes to its canary build", "chaos error injected"}, "chaos", "error", "-rate=0.5")
	out, code := release.wait()
	load.stop()
	raw.stop()
	t.Logf("load: %s; clients that never retry: %s", load, raw)
	if code != 3 || !strings.Contains(out, "release aborted at step 1 of 4 (10%)") || !strings.Contains(out, "the canary fails more often than stable") {
		t.Fatalf("the release exited %d, want 3 at step 1 saying the canary fails more often than stable:\n%s", code, out)
	}
	var step map[string]any
	for _, e := range p.events() {
		if e["event"] == "release_step" {
			step = e
		}
	}
	verdictAt, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(step["timestamp"]))
	toVerdict, _ := step["first_bad_to_verdict_seconds"].(float64)
	evidence, _ := step["evidence"].(map[string]any)
	errs, _ := evidence["errors"].(map[string]any)
	spending, _ := evidence["spending"].(map[string]any)
	if step["verdict"] != "abort" || step["final"] == true || errs == nil || !(errs["p_value"].(float64) <= errs["alpha"].(float64)) {
		t.Fatalf("the aborting step's record: %v; want an abort before the step's end on the errors test", step)
	}
	r := p.lastRelease()
	toZero, _ := r["first_bad_to_abort_seconds"].(float64)
	firstBad := verdictAt.Add(-time.Duration(toVerdict * float64(time.Second)))
	t.Logf("chaos injected at +0; the canary's first failed request at +%.2fs; aborted by look %v (%.0fs into the step) at +%.2fs, %.2fs after it (p = %v ≤ α = %v); weight 0 confirmed by nginx %.2fs after it, +%.2fs from the injection",
		firstBad.Sub(injected).Seconds(), spending["look"], step["window_seconds"], verdictAt.Sub(injected).Seconds(), toVerdict, errs["p_value"], errs["alpha"], toZero,
		firstBad.Sub(injected).Seconds()+toZero)
	if !(toVerdict > 0 && toVerdict <= 3) {
		t.Errorf("%.2fs from the first failed request to the abort, want at most 3 s", toVerdict)
	}
	if !(toZero > 0 && toZero <= 3) {
		t.Errorf("%.2fs from the first failed request to the canary's weight 0 confirmed by nginx, want at most 3 s", toZero)
	}
	all := load.ok.Load() + load.non2xx.Load()
	t.Logf("Go clients' requests answered 500 by the canary: %d of %d (%.2f%%; %d requests before the chaos)", load.non2xx.Load(), all, 100*float64(load.non2xx.Load())/float64(all), good)
	if load.errs.Load() != 0 || raw.errs.Load() != 0 || raw.notFrom(http.StatusInternalServerError) != 0 {
		t.Errorf("failures the canary did not answer, through the abort: Go clients %s; clients that never retry %s", load, raw)
	}
	if h := p.health(); h.Version != "2.0.0" {
		t.Errorf("after the abort /healthz says %+v, want the stable 2.0.0", h)
	}
	if got := p.containers("canary"); len(got) != 0 {
		t.Errorf("the canary still runs after the abort: %v", got)
	}
}

// TestACanaryKilledMidReleaseIsAborted kills the canary during a step: the
// release sees it, aborts, and the requests nginx could not deliver to the
// canary were answered by stable, for clients that never retry too.
func TestACanaryKilledMidReleaseIsAborted(t *testing.T) {
	p := deployedAskingFor(t, "2.1.0")
	load := startHTTPLoad(t, p.url("/"), 20)
	raw := startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	release := p.start(3*time.Minute, nil, "deploy")
	p.waitForStep(release, 25)
	docker(t, "kill", p.containers("canary")[0])
	out, code := release.wait()
	load.stop()
	raw.stop()
	t.Logf("load while the canary was killed: Go clients %s; clients that never retry %s", load, raw)
	if code != 3 || !strings.Contains(out, "stopped") || !strings.Contains(out, "the canary's share so far") {
		t.Errorf("the release exited %d, want 3 saying the canary stopped and what the gate saw", code)
	}
	if load.non2xx.Load() != 0 || load.errs.Load() != 0 || raw.non2xx.Load() != 0 || raw.errs.Load() != 0 {
		t.Errorf("requests failed while the canary died: Go clients %s; clients that never retry %s; nginx should retry them on stable", load, raw)
	}
	if h := p.health(); h.Version != "2.0.0" {
		t.Errorf("after the abort /healthz says %+v, want the stable 2.0.0", h)
	}
	// nginx retried what the dead canary could not answer: the abort cost
	// clients nothing, as they saw.
	r := p.lastRelease()
	p.wantCost("the aborted release", r["cost"], abortedParts(r), true, 0)
}

// plainImage builds, once per run, an image of a service that is not
// SwiftDeploy's and has no /metrics (testdata/plainapp).
var plainImage = sync.OnceValues(func() (string, error) {
	const ref = "swiftdeploy-e2e-plainapp:1"
	dir, err := os.MkdirTemp("", "swiftdeploy-e2e-plainapp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "plainapp"), ".")
	build.Dir = filepath.Join(repoRoot, "e2e", "testdata", "plainapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build plainapp: %v: %s", err, out)
	}
	dockerfile, err := os.ReadFile(filepath.Join(build.Dir, "Dockerfile"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), dockerfile, 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", ref, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker build plainapp: %v: %s", err, out)
	}
	return ref, nil
})

// TestABuildWithoutMetricsIsJudgedFromNginxAlone releases an image that has
// no /metrics: each step is judged from nginx's counts, and says so.
func TestABuildWithoutMetricsIsJudgedFromNginxAlone(t *testing.T) {
	image, err := plainImage()
	if err != nil {
		t.Fatal(err)
	}
	p := newProject(t, manifestOptions{rollout: strings.Replace(quickRollout, "[10, 25, 50, 100]", "[50, 100]", 1)})
	p.must("deploy")
	p.write("manifest.yaml", strings.Replace(p.manifest, "image: swift-deploy-1-node:latest", "image: "+image, 1))
	load := startHTTPLoad(t, p.url("/"), 10)
	out := p.expect(0, []string{"judged from nginx's counts alone", "released "}, "deploy")
	load.stop()
	if load.non2xx.Load() != 0 || load.errs.Load() != 0 {
		t.Errorf("requests failed during the release: %s", load)
	}
	if !strings.Contains(out, "policy release: PASS") {
		t.Error("no step of the release passed the policy")
	}
	if h := p.health(); h.Version != "2.0.0" || h.Mode != "stable" {
		t.Errorf("after the release /healthz says %+v, want the plain app in stable mode", h)
	}
	if _, body := p.get("/"); !strings.Contains(body, `"message":"plain"`) {
		t.Errorf("/ answers %s, want the plain app", body)
	}
}
