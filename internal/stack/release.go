package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Phases of a release (Release.Phase).
const (
	releaseStarting = "starting" // the canary is starting; nginx does not know it
	releaseCanary   = "canary"   // nginx sends the canary Weight percent of requests
	releaseTakeover = "takeover" // judged at 100: the new build starts in stable mode
	releaseMoved    = "moved"    // nginx sends everything to the new build; the old one and the canary may still run
)

// Release is a release in progress, as the state file records it: which
// builds run, the step under way and its weight, and the instances of each
// build, so that status can show it and the next command can finish or undo
// it should this one be killed.
type Release struct {
	Strategy string         `json:"strategy"`
	From     manifest.Build `json:"from"` // the stable build, serving before
	To       manifest.Build `json:"to"`   // the new build
	Steps    []int          `json:"steps"`
	Step     int            `json:"step"` // index in Steps of the step under way
	Weight   int            `json:"weight"`
	Sticky   bool           `json:"sticky"`
	Phase    string         `json:"phase"`
	PID      int            `json:"pid"`
	Started  time.Time      `json:"started"`
	Stable   []string       `json:"stable"`        // instances of the stable build
	Canary   []string       `json:"canary"`        // instances of the new build in canary mode
	New      []string       `json:"new,omitempty"` // instances of the new build in stable mode (takeover)
}

func (r Release) String() string {
	return fmt.Sprintf("release %s → %s (pid %d, started %s UTC, %s, step %d of %d at %d%%)", r.From.Version, r.To.Version,
		r.PID, r.Started.UTC().Format("15:04:05"), r.Phase, r.Step+1, len(r.Steps), r.Weight)
}

// route is what nginx is told about the release.
func (r Release) route() *render.Release {
	return &render.Release{Canary: r.To, Weight: r.Weight, Sticky: r.Sticky}
}

// setRelease records the release under way (nil: none).
func (s *Stack) setRelease(r *Release) error {
	return s.updateState(func(st *State) { st.Release = r })
}

// runningBuild is the build the running app instances run, and whether an app
// runs at all. Instances of different builds are an error: a release left
// half-done outside SwiftDeploy's knowledge.
func runningBuild(ctx context.Context, rt platform.Runtime) (manifest.Build, []platform.Instance, error) {
	running, err := runningOf(ctx, rt, platform.App)
	if err != nil {
		return manifest.Build{}, nil, err
	}
	if len(running) == 0 {
		return manifest.Build{}, nil, nil
	}
	b := running[0].Build()
	for _, a := range running[1:] {
		if a.Build() != b {
			return b, running, fmt.Errorf("the running apps run different builds (%s and %s): run `rollback` or `teardown`", b, a.Build())
		}
	}
	return b, running, nil
}

// release moves the running stack from the build it runs (from) to the one
// the manifest asks for, as the manifest's rollout says.
func (s *Stack) release(ctx context.Context, rt platform.Runtime, m *manifest.Manifest, from manifest.Build, stable []platform.Instance) (err error) {
	r := &Release{Strategy: m.Rollout.Strategy, From: from, To: m.Build(), Steps: m.Rollout.Steps, Sticky: m.Rollout.Sticky,
		Phase: releaseStarting, PID: os.Getpid(), Started: s.Now().UTC(), Stable: instanceIDs(stable)}
	event := history.ReleaseEvent{Strategy: r.Strategy, FromImage: from.Image, FromVersion: from.Version, ToImage: r.To.Image, ToVersion: r.To.Version}
	start := time.Now()
	defer func() {
		if rmErr := removeIfThere(s.path(abortFile)); rmErr != nil {
			s.Out.Warn("%v", rmErr)
		}
		event.Elapsed = round(time.Since(start).Seconds(), 2)
		switch {
		case err == nil:
			event.Result = history.ReleaseCompleted
		case errors.Is(err, errAborted):
			event.Result = history.ReleaseAborted
		default:
			event.Result, event.Error = history.ReleaseFailed, err.Error()
		}
		s.record(history.EventRelease, history.Fields(event))
	}()
	if err := removeIfThere(s.path(abortFile)); err != nil {
		return err
	}
	started := event
	started.Result, started.Steps = history.ReleaseStarted, r.Steps
	s.record(history.EventRelease, history.Fields(started))
	cur := m.WithBuild(from)
	if m.Services.Mode != manifest.ModeStable {
		return fmt.Errorf("%w: a release starts from stable mode and ends in it, but %s says services.mode: %s: run `promote stable` first", fail.ErrInvalid, ManifestFile, m.Services.Mode)
	}
	if r.Strategy == manifest.StrategySwitch {
		s.Out.Step("releasing %s → %s by switch: all traffic moves at once", from, r.To)
		if err := s.replaceApp(ctx, rt, cur, m, "release", stable); err != nil {
			return fmt.Errorf("release: %w", err)
		}
		return s.finishRelease(m, from, start)
	}
	s.Out.Step("releasing %s → %s step by step: %s of requests, %ds each", from, r.To, percentList(r.Steps), m.Rollout.StepSeconds)
	rel := &releaseRun{s: s, rt: rt, m: m, cur: cur, r: r, event: &event}
	if err := rel.run(ctx); err != nil {
		return err
	}
	return s.finishRelease(m, from, start)
}

// finishRelease records the build replaced, for rollback, and says so.
func (s *Stack) finishRelease(m *manifest.Manifest, from manifest.Build, start time.Time) error {
	if err := s.updateState(func(st *State) { st.Release, st.Switch, st.Previous = nil, nil, &from }); err != nil {
		return err
	}
	s.Out.OK("released %s in %.1fs; %s stays on this host for `rollback`", m.Build(), time.Since(start).Seconds(), from)
	return nil
}

func percentList(steps []int) string {
	parts := make([]string, len(steps))
	for i, p := range steps {
		parts[i] = fmt.Sprintf("%d%%", p)
	}
	return strings.Join(parts, " → ")
}

// abortFile is where `rollback` asks the command running a release to abort
// it: that command holds the stack's lock, and checks for the file while it
// waits.
var abortFile = StateDir + "/abort-release"

// requestAbort asks the release under way to abort.
func (s *Stack) requestAbort() error {
	return os.WriteFile(s.path(abortFile), []byte(fmt.Sprintf("rollback, pid %d\n", os.Getpid())), 0o644)
}

// abortRequested reports whether a rollback asked the release to abort.
func (s *Stack) abortRequested() bool {
	_, err := os.Stat(s.path(abortFile))
	return err == nil
}

// errAbortRequested is why a release stops when a rollback asks it to.
var errAbortRequested = errors.New("`rollback` asked to abort the release")

// errAborted marks a release that stopped on a failed step or a failed
// canary: exit 3, like a denial, with stable serving.
var errAborted = fmt.Errorf("%w: release aborted", fail.ErrDenied)

// releaseRun is one canary release under way.
type releaseRun struct {
	s     *Stack
	rt    platform.Runtime
	m     *manifest.Manifest // the new build, as the manifest asks
	cur   *manifest.Manifest // the stable build, as it runs
	r     *Release
	event *history.ReleaseEvent
	eng   *policy.Engine
	// Where nginx's release log stood when the current step began to move
	// nginx, for a step cut short before its window started.
	stepOffset int64
	stepFrom   time.Time
	// failedProbes counts the canary's failed health probes in a row.
	failedProbes int
}

func (rel *releaseRun) save() error { return rel.s.setRelease(rel.r) }

func (rel *releaseRun) run(ctx context.Context) error {
	s, r := rel.s, rel.r
	eng, err := s.loadPolicies(rel.m)
	if err != nil {
		return err
	}
	rel.eng = eng
	if err := rel.save(); err != nil {
		return err
	}
	if err := rel.startCanary(ctx); err != nil {
		return rel.abort(ctx, err.Error(), time.Time{})
	}
	for i, weight := range r.Steps {
		r.Step, r.Weight, r.Phase = i, weight, releaseCanary
		rel.event.Step, rel.event.Weight = i+1, weight
		// Saved before nginx changes, so that a kill in between is undone.
		if err := rel.save(); err != nil {
			return rel.abort(ctx, err.Error(), time.Time{})
		}
		rel.stepOffset, rel.stepFrom = fileSize(s.path(render.ReleaseLog)), time.Now()
		if err := rel.route(ctx); err != nil {
			return rel.abort(ctx, err.Error(), time.Time{})
		}
		s.Out.Step("step %d of %d: the new build gets %d%% of requests for %ds", i+1, len(r.Steps), weight, rel.m.Rollout.StepSeconds)
		verdict, reasons, firstBad, err := rel.judgeStep(ctx)
		if err != nil {
			return rel.abort(ctx, err.Error(), firstBad)
		}
		if verdict != policy.VerdictPromote {
			return rel.abort(ctx, strings.Join(reasons, "; "), firstBad)
		}
	}
	return rel.takeover(ctx)
}

// startCanary starts the new build in canary mode beside the stable one and
// waits until it is healthy; nginx does not know it yet.
func (rel *releaseRun) startCanary(ctx context.Context) error {
	s, r := rel.s, rel.r
	// Weight 0: the compose file gets the canary, nginx keeps its routing.
	if err := rel.writeFiles(rel.cur, r.route()); err != nil {
		return err
	}
	if err := s.prepareReleaseLog(); err != nil {
		return err
	}
	s.Out.Step("starting the new build %s in canary mode beside %s", r.To, r.From)
	waitCtx, cancel := context.WithTimeout(ctx, s.HealthTimeout)
	defer cancel()
	started, err := rel.rt.StartBeside(waitCtx, platform.Canary)
	r.Canary = instanceIDs(started)
	if saveErr := rel.save(); saveErr != nil && err == nil {
		err = saveErr
	}
	if err != nil {
		return fmt.Errorf("the canary did not start: %w", err)
	}
	if len(started) != 1 {
		return fmt.Errorf("expected one canary, found %d", len(started))
	}
	_, err = s.waitFor(waitCtx, "the canary ("+started[0].Name+")", 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if s.abortRequested() {
			return false, "", errAbortRequested
		}
		got, err := rel.rt.Instance(ctx, started[0].ID)
		if err != nil {
			return false, "", fmt.Errorf("the canary %s disappeared: %v", started[0].Name, err)
		}
		got = s.withHealth(ctx, rel.m, got)
		step, status, err := switchStep(got, time.Time{}, time.Now(), 0)
		return step == pinNewApp, status, err
	})
	return err
}

// writeFiles renders and writes the generated files for the app cur runs with
// the release route (nil: no release).
func (rel *releaseRun) writeFiles(cur *manifest.Manifest, route *render.Release) error {
	files, err := rel.s.render(cur, route)
	if err != nil {
		return err
	}
	return render.Write(rel.s.Root, files)
}

// route makes nginx send the canary its weight, and waits until nginx's
// workers do.
func (rel *releaseRun) route(ctx context.Context) error {
	if err := rel.writeFiles(rel.cur, rel.r.route()); err != nil {
		return err
	}
	return rel.s.reroute(ctx, rel.rt, rel.cur, rel.r.route().Routing())
}

// reroute reloads nginx and waits until the routing probe answers routing
// confirmAnswers times in a row: new connections then reach the new workers
// only, and the old ones finish the requests they hold.
func (s *Stack) reroute(ctx context.Context, rt platform.Runtime, m *manifest.Manifest, routing string) error {
	if err := rt.Reroute(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	inRow := 0
	last := "no answer yet"
	for inRow < confirmAnswers {
		got, err := getRouting(ctx, s.admin(m))
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("nginx did not take the new routing (%s) within 10s: %s", routing, last)
		case err != nil:
			inRow, last = 0, err.Error()
		case got != routing:
			inRow, last = 0, "it still routes "+got
		default:
			inRow++
		}
		sleepFor(ctx, 20*time.Millisecond)
	}
	return nil
}

// abort sends every request back to the stable build, removes the canary
// and whatever else the release started, and returns why, exit 3. firstBad
// is when nginx logged the canary's first failed request, if known.
func (rel *releaseRun) abort(ctx context.Context, reason string, firstBad time.Time) error {
	s, r := rel.s, rel.r
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	s.Out.Fail("release aborted at step %d of %d (%d%%): %s", r.Step+1, len(r.Steps), r.Weight, reason)
	rel.event.Reasons = append(rel.event.Reasons, reason)
	stopped, err := s.undoRelease(ctx, rel.rt, rel.cur, r)
	if err != nil {
		return fmt.Errorf("release aborted (%s), but it could not be undone: %w; run `rollback` to finish undoing it", reason, err)
	}
	if !firstBad.IsZero() {
		rel.event.FirstBadToAbort = round(stopped.Sub(firstBad).Seconds(), 2)
		s.Out.Info("%.1fs from the canary's first failed request to its weight being 0", rel.event.FirstBadToAbort)
	}
	return fmt.Errorf("%w at step %d of %d (%d%%): %s; %s serves all traffic, as before", errAborted, r.Step+1, len(r.Steps), r.Weight, reason, r.From)
}

// undoRelease returns a stack to the stable build alone: nginx first, then
// the new build's instances go, then the state says no release.
// It returns when nginx stopped sending the canary requests.
func (s *Stack) undoRelease(ctx context.Context, rt platform.Runtime, cur *manifest.Manifest, r *Release) (time.Time, error) {
	if len(r.New) > 0 {
		// The takeover may have pinned the app's name to the new build.
		stable, err := instancesOf(ctx, rt, platform.App, r.Stable)
		if err != nil {
			return time.Time{}, err
		}
		if err := s.pinApp(stable); err != nil {
			return time.Time{}, err
		}
		sleepFor(ctx, s.NginxFollow)
	}
	files, err := s.render(cur, nil)
	if err != nil {
		return time.Time{}, err
	}
	if err := render.Write(s.Root, files); err != nil {
		return time.Time{}, err
	}
	// Always reloaded: a command killed between writing its state and
	// reloading nginx may have left nginx routing to the canary.
	if err := s.reroute(ctx, rt, cur, render.RoutingSteady); err != nil {
		return time.Time{}, err
	}
	stopped := time.Now()
	s.Out.Step("nginx sends every request to %s again; removing the new build", r.From)
	// Every instance of the new build goes, also one a killed command started
	// without recording it.
	ids, err := newBuildInstances(ctx, rt, r.Stable)
	if err != nil {
		return stopped, err
	}
	if len(ids) > 0 {
		if err := rt.Retire(ctx, stopGrace, ids...); err != nil {
			return stopped, err
		}
	}
	if err := s.unpinApp(); err != nil {
		return stopped, err
	}
	return stopped, s.setRelease(nil)
}

// newBuildInstances lists every canary and every app not in stable: what a
// release started, recorded or not. A runtime that rolls its instances
// itself (swarm) undid a failed roll of the app by itself, with instances
// of its own: only canaries are the release's then.
func newBuildInstances(ctx context.Context, rt platform.Runtime, stable []string) ([]string, error) {
	roles := []platform.Role{platform.Canary, platform.App}
	if _, rolls := rt.(platform.Roller); rolls {
		roles = roles[:1]
	}
	var ids []string
	for _, role := range roles {
		all, err := rt.Instances(ctx, role)
		if err != nil {
			return nil, err
		}
		for _, i := range all {
			if role == platform.Canary || !slices.Contains(stable, i.ID) {
				ids = append(ids, i.ID)
			}
		}
	}
	return ids, nil
}

// instancesOf reads the running instances of role among ids.
func instancesOf(ctx context.Context, rt platform.Runtime, role platform.Role, ids []string) ([]platform.Instance, error) {
	all, err := rt.Instances(ctx, role)
	if err != nil {
		return nil, err
	}
	var out []platform.Instance
	for _, i := range all {
		for _, id := range ids {
			if i.ID == id && i.Running() {
				out = append(out, i)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s of %v is running", role, ids)
	}
	return out, nil
}

// takeover makes the new build the stable one: it starts in stable mode
// beside the others, nginx moves to it, and the old build and the canary
// drain and stop.
func (rel *releaseRun) takeover(ctx context.Context) error {
	s, r, rt := rel.s, rel.r, rel.rt
	r.Phase = releaseTakeover
	if err := rel.save(); err != nil {
		return rel.abort(ctx, err.Error(), time.Time{})
	}
	if roller, ok := rt.(platform.Roller); ok {
		return rel.rollTakeover(ctx, roller)
	}
	stable, err := instancesOf(ctx, rt, platform.App, r.Stable)
	if err != nil {
		return rel.abort(ctx, err.Error(), time.Time{})
	}
	// The app service now runs the new build; its name stays pinned to the
	// old build until the new instance answers.
	if err := rel.writeFiles(rel.m, r.route()); err != nil {
		return rel.abort(ctx, err.Error(), time.Time{})
	}
	if err := s.pinApp(stable); err != nil {
		return rel.abort(ctx, err.Error(), time.Time{})
	}
	if s.abortRequested() {
		return rel.abort(ctx, errAbortRequested.Error(), time.Time{})
	}
	s.Out.Step("the new build passed every step: starting it in %s mode", rel.m.Services.Mode)
	waitCtx, cancel := context.WithTimeout(ctx, s.HealthTimeout)
	defer cancel()
	started, err := rt.StartBeside(waitCtx, platform.App)
	r.New = instanceIDs(started)
	if saveErr := rel.save(); saveErr != nil && err == nil {
		err = saveErr
	}
	if err == nil && len(started) != 1 {
		err = fmt.Errorf("expected one new app, found %d", len(started))
	}
	// An abort from here on renders the files for the old build again.
	if err != nil {
		return rel.abort(ctx, err.Error(), time.Time{})
	}
	pin := func(app platform.Instance) error { return s.pinApp([]platform.Instance{app}) }
	if err := s.waitNewApp(waitCtx, rt, rel.m, started[0], pin); err != nil {
		return rel.abort(ctx, err.Error(), time.Time{})
	}
	return rel.moveToNewBuild(ctx, started)
}

// moveToNewBuild routes every request to the app, which runs the new build
// now (started), confirms nginx answers from it, then retires the old build
// and the canary.
func (rel *releaseRun) moveToNewBuild(ctx context.Context, started []platform.Instance) error {
	s, r, rt := rel.s, rel.r, rel.rt
	if err := rel.writeFiles(rel.m, nil); err != nil {
		return err
	}
	if err := s.reroute(ctx, rt, rel.m, render.RoutingSteady); err != nil {
		return err
	}
	if err := s.confirmNginx(ctx, rel.m, started, serving(rel.m)); err != nil {
		return err
	}
	// From here on the release is finished, not undone, should this command
	// stop: see recoverRelease.
	r.Phase = releaseMoved
	if err := rel.save(); err != nil {
		return err
	}
	return s.retireReplaced(ctx, rt, r)
}

// rollTakeover makes the new build the stable one on a runtime that rolls
// its instances itself (swarm): while nginx sends every request to the
// canary, with the app as its backup, the app's instances are replaced by the
// new build one at a time, start-first; then nginx moves back to the app,
// and the canary drains and stops. A roll the runtime undid aborts the
// release with the old build serving.
func (rel *releaseRun) rollTakeover(ctx context.Context, roller platform.Roller) error {
	s, r, rt := rel.s, rel.r, rel.rt
	if err := rel.writeFiles(rel.m, r.route()); err != nil {
		return rel.abort(ctx, err.Error(), time.Time{})
	}
	if s.abortRequested() {
		return rel.abort(ctx, errAbortRequested.Error(), time.Time{})
	}
	s.Out.Step("the new build passed every step: replacing the app's tasks with it, one at a time, while the canary serves")
	started, err := s.roll(ctx, roller, rt, rel.m)
	if err != nil {
		return rel.abort(ctx, err.Error(), time.Time{})
	}
	r.New = instanceIDs(started)
	if err := rel.save(); err != nil {
		return err
	}
	return rel.moveToNewBuild(ctx, started)
}

// retireReplaced drains and stops the old build and the canary once nginx
// sends everything to the new build, and lets the runtime's DNS answer again.
func (s *Stack) retireReplaced(ctx context.Context, rt platform.Runtime, r *Release) error {
	s.Out.Step("nginx sends every request to %s; draining and stopping %s and the canary", r.To, r.From)
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), stopGrace+30*time.Second)
	defer cancelStop()
	var ids []string
	for _, role := range []platform.Role{platform.App, platform.Canary} {
		all, err := rt.Instances(stopCtx, role)
		if err != nil {
			return err
		}
		for _, i := range all {
			if !slices.Contains(r.New, i.ID) {
				ids = append(ids, i.ID)
			}
		}
	}
	if len(ids) > 0 {
		if err := rt.Retire(stopCtx, stopGrace, ids...); err != nil {
			return err
		}
	}
	return s.unpinApp()
}

// prepareReleaseLog empties the log of an earlier release (nginx appends to
// it, and judging reads from where a step starts), creating it writable by
// nginx's unprivileged user and owned by whoever runs SwiftDeploy, who can
// then empty and remove it.
func (s *Stack) prepareReleaseLog() error {
	path := s.path(render.ReleaseLog)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o666)
	if err != nil {
		return fmt.Errorf("prepare nginx's release log: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(path, 0o666)
}

// makeReleaseLogDir makes the folder nginx writes its release log in, before
// the nginx container mounts it (Docker would create it owned by root, and
// nginx runs unprivileged): writable by all, sticky, like /tmp.
func makeReleaseLogDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(dir, 0o1777)
}
