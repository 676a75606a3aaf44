package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// releaseRuntime plays a stack during a release: one stable app of version
// 1.0.0; StartBeside starts the canary, then the new build's stable app;
// resolve plays the resolver, every 50 ms. While nginx
// routes a share to the canary, traffic writes nginx's release log: 40
// requests every 50 ms, the canary's share answering as canaryStatus says.
type releaseRuntime struct {
	platform.Runtime // anything a release must not call panics
	t                *testing.T
	s                *Stack

	mu           sync.Mutex
	instances    []platform.Instance
	canaryStatus int           // what the canary answers; 0: it gets no traffic at all
	smokeSeen    []string      // the smoke requests the admin listener got: method, target, X-Canary
	canaryDies   bool          // the canary exits once it gets traffic
	canaryCold   time.Duration // the canary takes 30 ms, not 2, for this long after each change of routing
	routing      string        // as the routes file says
	pinned       []string      // the app's pinned addresses
	generation   int64         // of the routes file, as last read
	answers      int           // questions answered from that generation
	retired      []string
	stop         chan struct{}
	admin        string // the fake nginx's admin listener
}

func (f *releaseRuntime) AdminAddr(context.Context) (string, error) { return f.admin, nil }

// Logs is what a failed instance printed: nothing.
func (f *releaseRuntime) Logs(context.Context, string, int) (string, error) { return "", nil }

var (
	stableApp = platform.Instance{ID: "stable", Name: "swiftdeploy-app-1", Role: platform.App, State: "running", Health: "healthy", Addr: "127.0.0.1", Reach: "127.0.0.1", Mode: "stable", Version: "1.0.0", Image: "swift-deploy-1-node:latest"}
	canaryApp = platform.Instance{ID: "canary", Name: "swiftdeploy-canary-1", Role: platform.Canary, State: "running", Health: "healthy", Addr: "127.0.0.2", Reach: "127.0.0.2", Mode: "canary", Version: "1.1.0", Image: "swift-deploy-1-node:latest"}
	takerApp  = platform.Instance{ID: "taker", Name: "swiftdeploy-app-2", Role: platform.App, State: "running", Health: "healthy", Addr: "127.0.0.3", Reach: "127.0.0.3", Mode: "stable", Version: "1.1.0", Image: "swift-deploy-1-node:latest"}
)

func (f *releaseRuntime) Instances(ctx context.Context, role platform.Role) ([]platform.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []platform.Instance
	for _, i := range f.instances {
		if role == "" || i.Role == role {
			out = append(out, i)
		}
	}
	return out, nil
}

func (f *releaseRuntime) Instance(ctx context.Context, id string) (platform.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, i := range f.instances {
		if i.ID == id {
			return i, nil
		}
	}
	return platform.Instance{}, fmt.Errorf("no instance %s", id)
}

func (f *releaseRuntime) StartBeside(ctx context.Context, role platform.Role) ([]platform.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	started := canaryApp
	if role == platform.App {
		started = takerApp
	}
	f.instances = append(f.instances, started)
	return []platform.Instance{started}, nil
}

// resolve plays the stack's resolver as nginx asks it: the routing and the
// pinned app from the routes file, and the served file written back.
func (f *releaseRuntime) resolve() {
	var routes struct {
		Generation int64                 `json:"generation"`
		Pins       map[string][]string   `json:"pins"`
		Canary     *struct{ Weight int } `json:"canary"`
	}
	if data, err := os.ReadFile(f.s.path(render.RoutesFile)); err == nil {
		json.Unmarshal(data, &routes)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routing = render.RoutingSteady
	if routes.Canary != nil && routes.Canary.Weight > 0 {
		f.routing = fmt.Sprintf("canary at %d%%", routes.Canary.Weight)
	}
	f.pinned = routes.Pins["app"]
	if routes.Generation != f.generation {
		f.generation, f.answers = routes.Generation, 0
	}
	f.answers++
	line := map[string]any{"generation": f.generation, "answers": f.answers}
	served, _ := json.Marshal(map[string]any{"stable": line, "canary": line})
	if err := os.WriteFile(f.s.path(render.ServedFile), served, 0o644); err != nil {
		f.t.Error(err)
	}
}

// serving is the version of the app nginx sends its probe to: the pinned
// one, else the first app instance. f.mu is held.
func (f *releaseRuntime) serving() platform.Instance {
	for _, i := range f.instances {
		if i.Role == platform.App && (len(f.pinned) == 0 || i.Addr == f.pinned[0]) {
			return i
		}
	}
	return platform.Instance{}
}

func (f *releaseRuntime) Retire(ctx context.Context, grace time.Duration, ids ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retired = append(f.retired, ids...)
	f.instances = slices.DeleteFunc(f.instances, func(i platform.Instance) bool { return slices.Contains(ids, i.ID) })
	return nil
}

// traffic writes nginx's release log while the routing gives the canary a
// share, until stop closes.
func (f *releaseRuntime) traffic() {
	log, err := os.OpenFile(f.s.path(render.ReleaseLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Error(err)
		return
	}
	defer log.Close()
	weight := regexp.MustCompile(`at (\d+)%`)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	routing, routed := "", time.Now()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
		f.resolve()
		f.mu.Lock()
		share := 0
		if m := weight.FindStringSubmatch(f.routing); m != nil {
			fmt.Sscan(m[1], &share)
		}
		if share > 0 && f.canaryDies {
			for n := range f.instances {
				if f.instances[n].ID == canaryApp.ID {
					f.instances[n].State, f.instances[n].ExitCode = "exited", 137
				}
			}
		}
		status := f.canaryStatus
		if f.routing != routing {
			routing, routed = f.routing, time.Now()
		}
		canaryTime := "0.002"
		if time.Since(routed) < f.canaryCold {
			canaryTime = "0.030"
		}
		f.mu.Unlock()
		now := float64(time.Now().UnixNano()) / 1e9
		for n := range 40 {
			addr, code, took := stableApp.Addr, 200, "0.002"
			if n*100 < share*40 {
				if status == 0 {
					continue
				}
				addr, code, took = canaryApp.Addr, status, canaryTime
			}
			fmt.Fprintf(log, "%.3f|app_x|%d|%s:3000|%d|%s|/|\n", now, code, addr, code, took)
		}
	}
}

// releaseStack is a stack in a temporary folder running 1.0.0 whose manifest
// asks for 1.1.0, with a fake nginx answering the routing probe and /healthz
// as rt says.
func releaseStack(t *testing.T, rt *releaseRuntime) (*Stack, *manifest.Manifest) {
	t.Helper()
	nginx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		switch r.URL.Path {
		case render.ProbePath, render.RoutedProbePath:
			app := rt.serving()
			if r.URL.Path == render.RoutedProbePath && rt.routing == "canary at 100%" {
				app = canaryApp
			}
			w.Header().Set(render.UpstreamHeader, app.Addr+":3000")
			fmt.Fprintf(w, `{"status":"ok","mode":"stable","version":%q}`, app.Version)
		default:
			if r.Header.Get(manifest.SmokeHeader) == "1" {
				rt.smokeLine(r)
				return
			}
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(nginx.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(nginx.URL, "http://"))
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, TemplatesDir), os.DirFS(filepath.Join("..", "..", TemplatesDir))); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(root, PoliciesDir), os.DirFS(filepath.Join("..", "..", PoliciesDir))); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(filepath.Join("testdata", "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Sscan(port, &m.Nginx.Port)
	m.Services.Port = m.Nginx.Port // each build's /metrics: 404 from the fake nginx, or refused
	m.Services.Version = "1.1.0"
	m.Rollout = manifest.Rollout{Strategy: manifest.StrategyCanary, Steps: []int{10, 50, 100}, StepSeconds: 1, Sticky: true}
	m.Policy = map[string]map[string]any{"release": {"max_inconclusive_extensions": 1}}
	for _, dir := range []string{render.ResolverDir, render.ReleaseLogDir, render.MountedNginxDir} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &Stack{Root: root, Project: "swiftdeploy-unit", Out: ui.New(io.Discard), Now: time.Now,
		HealthTimeout: 10 * time.Second, NginxFollow: 50 * time.Millisecond}
	s.Runtime = func(*manifest.Manifest) platform.Runtime { return rt }
	rt.admin = nginx.Listener.Addr().String()
	rt.t, rt.s, rt.routing, rt.stop = t, s, render.RoutingSteady, make(chan struct{})
	rt.instances = []platform.Instance{stableApp,
		{ID: "nginx", Name: "swiftdeploy-nginx-1", Role: platform.Nginx, State: "running", StartedAt: time.Now()},
		{ID: "resolver", Name: "swiftdeploy-resolver-1", Role: platform.Resolver, State: "running", StartedAt: time.Now().Add(-time.Minute)}}
	releaseLogFlush = 100 * time.Millisecond
	t.Cleanup(func() { releaseLogFlush = 350 * time.Millisecond })
	// The fake traffic writes into the temporary folder: it has stopped
	// before the folder is removed (a write during the removal failed it).
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		rt.traffic()
	}()
	t.Cleanup(func() {
		close(rt.stop)
		<-stopped
	})
	return s, m
}

func runRelease(t *testing.T, rt *releaseRuntime) (*Stack, error) {
	t.Helper()
	s, m := releaseStack(t, rt)
	err := s.release(context.Background(), rt, m, m.WithBuild(stableApp.Build()).Build(), []platform.Instance{stableApp})
	return s, err
}

func TestAGoodCanaryTakesEveryStepAndTheNewBuildTakesOver(t *testing.T) {
	rt := &releaseRuntime{canaryStatus: 200}
	s, err := runRelease(t, rt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rt.retired, []string{"stable", "canary"}) {
		t.Errorf("retired %v, want the old build and the canary once nginx left them", rt.retired)
	}
	if v := rt.serving().Version; rt.routing != render.RoutingSteady || v != "1.1.0" {
		t.Errorf("nginx ends routing %q to version %s, want steady on 1.1.0", rt.routing, v)
	}
	st, err := s.store().Load()
	if err != nil || st.Change != nil || st.Previous == nil || st.Previous.Version != "1.0.0" {
		t.Errorf("state after the release: %+v, %v; want no release and 1.0.0 kept for rollback", st, err)
	}
	if got := stepVerdicts(t, s); !slices.Equal(got, []string{"promote", "promote", "promote"}) {
		t.Errorf("history records the steps' verdicts %v, want three promotes", got)
	}
}

// stepVerdicts lists the verdict of every release_step event in history.
func stepVerdicts(t *testing.T, s *Stack) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, s.path(HistoryFile))), "\n") {
		var e struct{ Event, Verdict string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Event == history.EventReleaseStep {
			out = append(out, e.Verdict)
		}
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkAborted checks that the release was aborted with a reason holding
// want, and that it left the stable build serving alone.
func checkAborted(t *testing.T, s *Stack, rt *releaseRuntime, err error, want string) {
	t.Helper()
	if !errors.Is(err, change.ErrAborted) || fail.Code(err) != fail.ExitDenied || !strings.Contains(err.Error(), want) {
		t.Fatalf("release = %v, want an abort (exit 3) saying %q", err, want)
	}
	if rt.routing != render.RoutingSteady || !slices.Equal(rt.retired, []string{"canary"}) {
		t.Errorf("after the abort nginx routes %q and %v were retired; want steady routing and the canary retired", rt.routing, rt.retired)
	}
	if st, err := s.store().Load(); err != nil || st.Change != nil || st.Previous != nil {
		t.Errorf("state after the abort: %+v, %v; want nothing", st, err)
	}
	if routes := readFile(t, s.path(render.RoutesFile)); strings.Contains(routes, "canary") {
		t.Errorf("the resolver still weighs a canary after the abort: %s", routes)
	}
	if _, err := os.Stat(s.path(render.Recording)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("nginx still records the release's requests after the abort: %v", err)
	}
	compose := readFile(t, s.path(render.ComposeFile))
	if strings.Contains(compose, "canary:") || !strings.Contains(compose, `APP_VERSION: "1.0.0"`) {
		t.Errorf("docker-compose.yml after the abort does not describe the stable build alone:\n%s", compose)
	}
}

// A build just given traffic is slower for a moment than one serving all
// along: the step's first latency_warmup_seconds are judged on failures
// only. Without the warm-up the same canary is aborted as slower.
func TestACanarySlowOnlyJustAfterEachStepBeginsIsNotAbortedForIt(t *testing.T) {
	for _, warmup := range []float64{2, 0} {
		t.Run(fmt.Sprintf("warm-up %vs", warmup), func(t *testing.T) {
			rt := &releaseRuntime{canaryStatus: 200, canaryCold: time.Second}
			s, m := releaseStack(t, rt)
			m.Rollout.StepSeconds = 3
			m.Policy["release"]["look_seconds"] = 0.2
			m.Policy["release"]["latency_warmup_seconds"] = warmup
			err := s.release(context.Background(), rt, m, stableApp.Build(), []platform.Instance{stableApp})
			if warmup == 0 {
				checkAborted(t, s, rt, err, "the canary is slower than stable by more than 10% and 1 ms: median 30.00 ms")
				return
			}
			if err != nil {
				t.Fatalf("release = %v; want the canary, slow only in each step's first second, promoted", err)
			}
			for _, st := range stepRecords(t, s) {
				if st.Evidence.Latency.WarmupSeconds != 1.5 || slices.Contains(st.CanarySample.Ms, 30) {
					t.Errorf("step %d judged with a %vs warm-up on request times %v; want half the 3 s step, and no 30 ms time among them", st.Step, st.Evidence.Latency.WarmupSeconds, st.CanarySample.Ms)
				}
			}
		})
	}
}

func TestAFailingCanaryIsAbortedAtItsFirstStep(t *testing.T) {
	rt := &releaseRuntime{canaryStatus: 500}
	s, err := runRelease(t, rt)
	checkAborted(t, s, rt, err, "canary error rate 100.00% (as clients saw it at nginx) exceeds")
	if !strings.Contains(err.Error(), "step 1 of 3 (10%)") {
		t.Errorf("aborted at %v, want the first step", err)
	}
	if h := readFile(t, s.path(HistoryFile)); !strings.Contains(h, `"first_bad_to_abort_seconds"`) || !strings.Contains(h, `"result":"aborted"`) {
		t.Errorf("history does not record the abort and its time from the first failed request:\n%s", h)
	}
}

func TestAStepWithoutCanaryTrafficIsHeldThenAborted(t *testing.T) {
	rt := &releaseRuntime{canaryStatus: 0}
	s, err := runRelease(t, rt)
	checkAborted(t, s, rt, err, "inconclusive after 1 extensions of the step: 0 canary requests against stable's 0 failures in")
	if got := stepVerdicts(t, s); !slices.Equal(got, []string{"hold", "abort"}) {
		t.Errorf("history records the steps' verdicts %v, want hold, then abort", got)
	}
}

func TestACanaryThatDiesIsAbortedAtOnce(t *testing.T) {
	rt := &releaseRuntime{canaryStatus: 200, canaryDies: true}
	s, err := runRelease(t, rt)
	checkAborted(t, s, rt, err, "the canary swiftdeploy-canary-1 stopped (exited, exit code 137)")
}

func TestRollbackAsksARunningReleaseToAbort(t *testing.T) {
	rt := &releaseRuntime{canaryStatus: 200}
	s, m := releaseStack(t, rt)
	m.Rollout.StepSeconds = 30
	done := make(chan error, 1)
	go func() {
		done <- s.release(context.Background(), rt, m, stableApp.Build(), []platform.Instance{stableApp})
	}()
	time.Sleep(time.Second)
	if err := s.store().RequestAbort("rollback, pid 1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		checkAborted(t, s, rt, err, "`rollback` asked to abort the release")
	case <-time.After(10 * time.Second):
		t.Fatal("the release did not notice the rollback's request within 10s")
	}
}

func TestAReleaseKilledMidStepIsUndoneByTheNextCommand(t *testing.T) {
	rt := &releaseRuntime{canaryStatus: 200}
	s, m := releaseStack(t, rt)
	rt.instances = append(rt.instances, canaryApp)
	r := killedRelease(m, change.Canary, 1)
	if err := s.store().Set(r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.mover(m, rt).Recover(context.Background(), r, m); err != nil {
		t.Fatal(err)
	}
	if v := rt.serving().Version; rt.routing != render.RoutingSteady || v != "1.0.0" || !slices.Equal(rt.retired, []string{"canary"}) {
		t.Errorf("after recovery nginx routes %q to %s and %v were retired; want steady on 1.0.0 and the canary retired", rt.routing, v, rt.retired)
	}
	if st, err := s.store().Load(); err != nil || st.Change != nil {
		t.Errorf("state after recovery: %+v, %v; want no release", st, err)
	}
	if h := readFile(t, s.path(HistoryFile)); !strings.Contains(h, `"event":"recover"`) || !strings.Contains(h, `"result":"undone"`) {
		t.Errorf("history does not record the recovery:\n%s", h)
	}
}

func TestAReleaseKilledAfterNginxMovedIsFinishedByTheNextCommand(t *testing.T) {
	rt := &releaseRuntime{canaryStatus: 200}
	s, m := releaseStack(t, rt)
	rt.instances = append(rt.instances, canaryApp, takerApp)
	r := killedRelease(m, change.Moved, 2)
	r.New = []string{takerApp.ID}
	if err := s.store().Set(r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.mover(m, rt).Recover(context.Background(), r, m); err != nil {
		t.Fatal(err)
	}
	if v := rt.serving().Version; rt.routing != render.RoutingSteady || v != "1.1.0" || !slices.Equal(rt.retired, []string{"stable", "canary"}) {
		t.Errorf("after recovery nginx routes %q to %s and %v were retired; want steady on 1.1.0, the old build and the canary retired", rt.routing, v, rt.retired)
	}
	if st, err := s.store().Load(); err != nil || st.Change != nil || st.Previous == nil || *st.Previous != stableApp.Build() {
		t.Errorf("state after recovery: %+v, %v; want no release and 1.0.0 kept for rollback", st, err)
	}
}

// killedRelease is the release of m's build that a killed command left in
// phase at step (0-based).
func killedRelease(m *manifest.Manifest, phase change.Phase, step int) *change.Change {
	return &change.Change{Action: change.Release, Strategy: manifest.StrategyCanary, From: change.Side{Build: stableApp.Build(), Mode: "stable"},
		To: change.Side{Build: m.Build(), Mode: "stable"}, Steps: []int{10, 50, 100}, Step: step, Weight: []int{10, 50, 100}[step],
		Phase: phase, PID: 4242, Started: time.Now(), Old: []string{stableApp.ID}, Canary: []string{canaryApp.ID}}
}

// stepRecords reads every release_step event of history.
func stepRecords(t *testing.T, s *Stack) []history.ReleaseStep {
	t.Helper()
	var out []history.ReleaseStep
	for _, line := range strings.Split(strings.TrimSpace(readFile(t, s.path(HistoryFile))), "\n") {
		var e struct{ Event string }
		json.Unmarshal([]byte(line), &e)
		if e.Event != history.EventReleaseStep {
			continue
		}
		var st history.ReleaseStep
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	return out
}

func TestACanaryFailingEveryRequestIsAbortedAtALookLongBeforeItsStepsEnd(t *testing.T) {
	rt := &releaseRuntime{canaryStatus: 500}
	s, m := releaseStack(t, rt)
	m.Rollout.StepSeconds = 30
	m.Policy["release"]["look_seconds"] = 0.2
	start := time.Now()
	err := s.release(context.Background(), rt, m, stableApp.Build(), []platform.Instance{stableApp})
	took := time.Since(start)
	checkAborted(t, s, rt, err, "the canary fails more often than stable: 100.00% of")
	if took > 10*time.Second {
		t.Errorf("the release took %s to abort a canary failing every request, in a 30 s step looked at every 0.2 s", took)
	}
	steps := stepRecords(t, s)
	if len(steps) != 1 {
		t.Fatalf("history records %d judged steps, want the one aborted", len(steps))
	}
	st := steps[0]
	if st.Final || st.Verdict != "abort" || st.Evidence == nil || len(st.Looks) == 0 || st.Looks[len(st.Looks)-1].Canary.Errors == 0 {
		t.Errorf("the aborted step's record: final %v, verdict %s, evidence %v, looks %+v; want an early abort with its evidence and looks", st.Final, st.Verdict, st.Evidence != nil, st.Looks)
	}
	if st.Evidence.Errors.PValue > st.Evidence.Errors.Alpha || st.StepSeconds != 30 || st.CanarySample == nil {
		t.Errorf("the aborting look's evidence %+v, step %vs, sample %+v", st.Evidence.Errors, st.StepSeconds, st.CanarySample)
	}
	// Failures are judged from the first request, request times after the
	// step's warm-up: an abort within it has none.
	if warm := st.Evidence.Latency.WarmupSeconds; warm != 2 || (st.WindowSeconds < warm) != (len(st.CanarySample.Ms) == 0) {
		t.Errorf("aborted %.2fs into the step with a %vs warm-up (want the shipped 2 s), with %d request times kept", st.WindowSeconds, warm, len(st.CanarySample.Ms))
	}
	if !(st.FirstBadToVerdict > 0 && st.FirstBadToVerdict < 2) {
		t.Errorf("%.2fs from the first failed request to the verdict, want under 2 s with looks every 0.2 s", st.FirstBadToVerdict)
	}
}

func TestAGoodCanaryWaitsEachStepOutWhileLookedAt(t *testing.T) {
	rt := &releaseRuntime{canaryStatus: 200}
	s, m := releaseStack(t, rt)
	m.Rollout.StepSeconds = 2
	m.Policy["release"]["look_seconds"] = 0.2
	if err := s.release(context.Background(), rt, m, stableApp.Build(), []platform.Instance{stableApp}); err != nil {
		t.Fatal(err)
	}
	steps := stepRecords(t, s)
	if len(steps) != 3 {
		t.Fatalf("history records %d judged steps, want 3", len(steps))
	}
	for _, st := range steps {
		if !st.Final || st.Verdict != "promote" || st.WindowSeconds < 2 || len(st.Looks) < 5 {
			t.Errorf("step %d: final %v, verdict %s after %.2fs and %d looks; want a promote at the step's end, looked at about 10 times (5 at least on a busy machine)", st.Step, st.Final, st.Verdict, st.WindowSeconds, len(st.Looks))
		}
		if st.Evidence == nil || len(st.Notes) == 0 || !strings.HasPrefix(st.Notes[0], "errors: canary 0.00% of ") && st.Weight < 100 {
			t.Errorf("step %d records no evidence in words: %v", st.Step, st.Notes)
		}
	}
}

// TestAManifestWithTheRetiredReleaseMarginsGeneratesNothingAndSaysWhatReplacedThem:
// a manifest written for the release policy's margins relative to stable.
func TestAManifestWithTheRetiredReleaseMarginsGeneratesNothingAndSaysWhatReplacedThem(t *testing.T) {
	root := t.TempDir()
	for _, dir := range []string{TemplatesDir, PoliciesDir} {
		if err := os.CopyFS(filepath.Join(root, dir), os.DirFS(filepath.Join("..", "..", dir))); err != nil {
			t.Fatal(err)
		}
	}
	m := readFile(t, filepath.Join("testdata", "manifest.yaml")) + "  release:\n    min_p99_excess_ms: 400\n    max_error_rate_over_stable_percent: 0.5\n"
	if err := os.WriteFile(filepath.Join(root, ManifestFile), []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Stack{Root: root, Project: "swiftdeploy-unit", Out: ui.New(io.Discard), Now: time.Now}
	err := s.Init()
	if fail.Code(err) != fail.ExitInvalid {
		t.Fatalf("init = %v (exit %d), want invalid input (exit 2)", err, fail.Code(err))
	}
	for _, want := range []string{
		"manifest.yaml policy section: ",
		"policy.release.min_p99_excess_ms: retired: the canary's request times are compared with stable's (Mann-Whitney U) at `confidence` instead of a P99 margin in ms; remove it",
		"policy.release.max_error_rate_over_stable_percent: retired: the canary's error proportion is tested against stable's (Fisher's exact test) at `confidence` instead of a margin in points; remove it",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("init = %v\nwant it to say %q", err, want)
		}
	}
	for _, f := range []string{render.NginxConf, render.ComposeFile} {
		if _, err := os.Stat(filepath.Join(root, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s was generated from a refused manifest (%v)", f, err)
		}
	}
}
