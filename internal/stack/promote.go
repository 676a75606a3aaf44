package stack

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/lock"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// stopGrace is how long a replaced app gets to finish its in-flight requests.
const stopGrace = 15 * time.Second

// nginxResolveMargin covers a DNS answer that was on its way to nginx when the
// new app joined the network.
const nginxResolveMargin = 250 * time.Millisecond

// Promote switches the running app to mode (stable or canary) if the canary
// policy allows it, without a failed request: the new app starts beside the old
// one, nginx finds both under the same name, and the old one drains and stops.
func (s *Stack) Promote(ctx context.Context, mode string) error {
	return s.switchMode(ctx, mode, history.EventPromote)
}

// Rollback is the way back, whatever the stack is doing: a release under
// way is aborted (the command running it is asked to, and rollback waits for
// it); a canary mode returns to stable by the same path as promote (the
// canary policy is still asked, its input saying action "rollback", and the
// shipped policy allows it); a stable stack after a completed release returns
// to the previous build. The attempt is always recorded.
func (s *Stack) Rollback(ctx context.Context) error {
	var pending *Release // a release whose command rollback asked to abort
	if st, err := s.loadState(); err == nil && st.Release != nil {
		if h, held := lock.Held(s.Root, s.path(lockInfo)); held {
			if err := s.requestAbort(); err != nil {
				return err
			}
			pending = st.Release
			s.Out.Step("a release is under way (%s): asked it to abort", h)
		}
	}
	return s.exclusive(ctx, history.EventRollback, func() error { return s.rollbackLocked(ctx, pending) })
}

func (s *Stack) rollbackLocked(ctx context.Context, pending *Release) error {
	if err := removeIfThere(s.path(abortFile)); err != nil {
		return err
	}
	st, err := s.loadState()
	if err != nil {
		return err
	}
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	if st.Release != nil {
		// Its command is gone: undo (or finish) what it left.
		if err := engine(ctx); err != nil {
			return err
		}
		left := *st.Release
		if err := s.recoverRelease(ctx, s.Runtime(m), m, left); err != nil {
			return fmt.Errorf("rollback: %w", err)
		}
		if st, err = s.loadState(); err != nil || st.Previous == nil || *st.Previous != left.From {
			s.record(history.EventRollback, map[string]any{"result": "ok", "release": "undone"})
			return err
		}
		// It was finished: on to the previous build below.
	} else if pending != nil {
		if err := engine(ctx); err != nil {
			return err
		}
		running, _, err := runningBuild(ctx, s.Runtime(m))
		if err != nil {
			return err
		}
		if running == pending.From {
			s.Out.OK("rollback: the release was aborted; %s serves", running)
			s.record(history.EventRollback, map[string]any{"result": "ok", "release": "aborted"})
			return nil
		}
		// It finished before it saw the request: back to the previous build.
	}
	if m.Services.Mode == manifest.ModeStable && st.Previous != nil {
		return s.rollbackBuild(ctx, m, *st.Previous)
	}
	return s.switchModeLocked(ctx, manifest.ModeStable, history.EventRollback)
}

// rollbackBuild returns a stable stack to the build a completed release
// replaced, by the zero-failure switch.
func (s *Stack) rollbackBuild(ctx context.Context, m *manifest.Manifest, previous manifest.Build) (err error) {
	event := map[string]any{"to_image": previous.Image, "to_version": previous.Version}
	defer func() {
		event["result"] = resultOf(err)
		if err != nil {
			event["error"] = err.Error()
		}
		s.record(history.EventRollback, event)
	}()
	if err := engine(ctx); err != nil {
		return err
	}
	rt := s.Runtime(m)
	running, apps, err := runningBuild(ctx, rt)
	if err != nil {
		return err
	}
	if _, err := s.runningApps(ctx, rt); err != nil {
		return err
	}
	event["from_image"], event["from_version"] = running.Image, running.Version
	if running == previous {
		s.Out.OK("rollback: %s already serves: nothing to do", previous)
		event["result"] = "noop"
		return s.updateState(func(st *State) { st.Previous = nil })
	}
	cur := m.WithBuild(running)
	// The emergency path still asks the policy (the shipped one allows it).
	decision, err := s.gateSwitch(ctx, cur, cur.Services.Mode, cur.Services.Mode, history.EventRollback)
	if err != nil {
		return err
	}
	event["overridden"] = decision.Overridden
	start := time.Now()
	if err := s.replaceApp(ctx, rt, cur, m.WithBuild(previous), history.EventRollback, apps); err != nil {
		return fmt.Errorf("rollback to %s: %w", previous, err)
	}
	if err := s.updateState(func(st *State) { st.Switch, st.Previous = nil, nil }); err != nil {
		return err
	}
	event["elapsed_seconds"] = round(time.Since(start).Seconds(), 2)
	s.Out.OK("rollback: %s → %s in %.1fs; nginx's probe of %s confirms the new app answers", running, previous, time.Since(start).Seconds(), m.Services.HealthPath)
	if m.Build() != previous {
		s.Out.Warn("%s still asks for %s: set services.image and services.version to %s, or the next deploy releases it again", ManifestFile, m.Build(), previous)
	}
	return nil
}

func (s *Stack) switchMode(ctx context.Context, target, action string) error {
	command := action
	if action == history.EventPromote {
		command += " " + target
	}
	return s.exclusive(ctx, command, func() error { return s.switchModeLocked(ctx, target, action) })
}

func (s *Stack) switchModeLocked(ctx context.Context, target, action string) (err error) {
	event := map[string]any{"to": target}
	defer func() {
		if err != nil {
			event["result"], event["error"] = resultOf(err), err.Error()
			s.record(action, event)
		}
	}()
	if !manifest.ValidMode(target) {
		return fmt.Errorf("%w: unknown mode %q: use stable or canary", fail.ErrInvalid, target)
	}
	if err := s.recoverIfInterrupted(ctx); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	from := m.Services.Mode
	event["from"] = from
	if from == target {
		s.Out.OK("already in %s mode: nothing to do", target)
		event["result"] = "noop"
		s.record(action, event)
		return nil
	}
	if err := engine(ctx); err != nil {
		return err
	}
	rt := s.Runtime(m)
	old, err := s.runningApps(ctx, rt)
	if err != nil {
		return err
	}
	// A mode switch keeps the build that runs, which is not the manifest's
	// after an aborted release: only `deploy` brings a new build, judged.
	cur := m
	if running := old[0].Build(); running != m.Build() {
		cur = m.WithBuild(running)
		s.Out.Info("%s asks for %s but %s runs: switching the mode of what runs (`deploy` releases the other)", ManifestFile, m.Build(), running)
	}
	decision, err := s.gateSwitch(ctx, m, from, target, action)
	if err != nil {
		return err
	}
	event["overridden"] = decision.Overridden
	start := time.Now()
	next := *cur
	next.Services.Mode = target
	if err := s.replaceApp(ctx, rt, cur, &next, action, old); err != nil {
		return fmt.Errorf("%s %s: %w", action, target, err)
	}
	if err := manifest.SetMode(s.path(ManifestFile), target); err != nil {
		return fmt.Errorf("%s %s: the app now runs in %s mode but the manifest could not be updated: %w", action, target, target, err)
	}
	if err := s.setSwitch(nil); err != nil {
		return err
	}
	elapsed := time.Since(start)
	s.Out.OK("%s: %s → %s in %.1fs; nginx's probe of %s confirms mode %s", action, from, target, elapsed.Seconds(), m.Services.HealthPath, target)
	event["result"], event["elapsed_seconds"] = "ok", round(elapsed.Seconds(), 2)
	s.record(action, event)
	return nil
}

// runningApps returns the running app instances, or why the stack cannot be
// switched.
func (s *Stack) runningApps(ctx context.Context, rt platform.Runtime) ([]platform.Instance, error) {
	running, err := runningOf(ctx, rt, platform.App)
	if err != nil {
		return nil, err
	}
	nginx, err := rt.Instances(ctx, platform.Nginx)
	if err != nil {
		return nil, err
	}
	if len(running) == 0 || len(nginx) == 0 || !nginx[0].Running() {
		return nil, fmt.Errorf("the stack %s is not running: run `deploy` first", s.Project)
	}
	// Without its resolver nginx would never move to the new app.
	if problem, err := resolverProblem(ctx, rt, nginx[0]); err != nil || problem != "" {
		if err == nil {
			err = fmt.Errorf("%s, so nginx could not follow a switch: run `deploy` to repair it", problem)
		}
		return nil, err
	}
	return running, nil
}

// replaceApp starts an app as next says (another mode, or another build)
// beside the old ones, which run as m says, waits until it is healthy, moves
// nginx to it, then retires the old ones, which drain their in-flight
// requests; nginx never restarts. If the new app does not become healthy, it
// is removed, the generated files describe m again and the old app keeps
// serving.
func (s *Stack) replaceApp(ctx context.Context, rt platform.Runtime, m, next *manifest.Manifest, action string, old []platform.Instance) error {
	mode := next.Services.Mode
	files, err := s.render(next, nil)
	if err != nil {
		return err
	}
	previous, err := s.render(m, nil)
	if err != nil {
		return err
	}
	if err := render.Write(s.Root, files); err != nil {
		return err
	}
	if roller, ok := rt.(platform.Roller); ok {
		return s.rollApp(ctx, roller, rt, m, next, previous)
	}
	var sw *Switch
	abandon := func(reason error, started []platform.Instance) error {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, i := range started {
			s.describe(cleanup, rt, i)
		}
		if ids := instanceIDs(started); len(ids) > 0 && sw != nil && sw.Phase == phaseMoved {
			// nginx may be sending requests to the new app: back to the old
			// one first, then let the new one drain.
			if err := s.moveNginx(cleanup, m, old, serving(m)); err != nil {
				return fmt.Errorf("%w; and nginx could not be moved back to the %s app (%v): the next deploy or rollback will finish or undo the switch", reason, describeApp(m, next), err)
			}
			if err := rt.Retire(cleanup, stopGrace, ids...); err != nil {
				s.Out.Warn("could not remove the new app: %v", err)
			}
		} else if len(ids) > 0 {
			// nginx never knew the new app.
			if err := rt.Remove(cleanup, ids...); err != nil {
				s.Out.Warn("could not remove the new app: %v", err)
			}
		}
		if err := s.unpinApp(); err != nil {
			s.Out.Warn("%v", err)
		}
		if err := render.Write(s.Root, previous); err != nil {
			s.Out.Warn("could not restore %s: %v", render.ComposeFile, err)
		}
		if err := s.setSwitch(nil); err != nil {
			s.Out.Warn("could not clear %s: %v", stateFile, err)
		}
		return fmt.Errorf("%w; traffic stays on the %s app", reason, describeApp(m, next))
	}
	// What the switch has done so far, for the next command should this one
	// be killed: see recoverSwitch.
	sw = &Switch{Action: action, From: m.Services.Mode, To: mode, PID: os.Getpid(), Started: s.Now().UTC(),
		Phase: phaseStarting, Old: instanceIDs(old)}
	if m.Services.Version != next.Services.Version {
		sw.FromVersion, sw.ToVersion = m.Services.Version, next.Services.Version
	}
	if err := s.setSwitch(sw); err != nil {
		return abandon(err, nil)
	}

	// nginx's resolver answers with the running apps only until the new one
	// answers: nginx never sends a request to an app that is still starting.
	if err := s.pinApp(old); err != nil {
		return abandon(err, nil)
	}
	s.Out.Step("starting a %s app beside the running %s one", describeApp(next, m), describeApp(m, next))
	waitCtx, cancel := context.WithTimeout(ctx, s.HealthTimeout)
	defer cancel()
	started, err := rt.StartBeside(waitCtx, platform.App)
	if err != nil {
		return abandon(err, started)
	}
	if len(started) != 1 {
		return abandon(fmt.Errorf("expected one new app, found %d", len(started)), started)
	}
	sw.New = instanceIDs(started)
	if err := s.setSwitch(sw); err != nil {
		return abandon(err, started)
	}
	moveTo := func(app platform.Instance) error {
		if err := s.pinApp([]platform.Instance{app}); err != nil {
			return err
		}
		sw.Phase = phaseMoved
		return s.setSwitch(sw)
	}
	if err := s.waitNewApp(waitCtx, rt, next, started[0], moveTo); err != nil {
		return abandon(err, started)
	}
	if err := s.confirmNginx(waitCtx, m, started, serving(next)); err != nil {
		return abandon(err, started)
	}

	s.Out.Step("nginx sends every request to the new app now; draining and stopping the old one")
	stopCtx, cancelStop := context.WithTimeout(context.WithoutCancel(ctx), stopGrace+30*time.Second)
	defer cancelStop()
	if err := rt.Retire(stopCtx, stopGrace, instanceIDs(old)...); err != nil {
		return err
	}
	// The runtime's own DNS now lists the new app alone, as the pin does.
	if err := s.unpinApp(); err != nil {
		return err
	}
	return nil
}

// rollApp has a runtime that replaces instances itself (swarm) roll the
// app's instances to next, one at a time, each ready before an old one
// stops and the next one waiting until nginx knows the new address; then
// checks that nginx answers from the new instances. A roll the runtime
// undid leaves the generated files describing m.
func (s *Stack) rollApp(ctx context.Context, roller platform.Roller, rt platform.Runtime, m, next *manifest.Manifest, previous []render.File) error {
	s.Out.Step("replacing the %s app's %d task(s) with %s ones, one at a time: each new task is ready before an old one stops", describeApp(m, next), next.Services.Replicas, describeApp(next, m))
	rolled, err := s.roll(ctx, roller, rt, next)
	if err != nil {
		if werr := render.Write(s.Root, previous); werr != nil {
			s.Out.Warn("could not restore %s: %v", render.ComposeFile, werr)
		}
		return fmt.Errorf("%w; traffic stays on the %s app where swarm kept it", err, describeApp(m, next))
	}
	return s.confirmNginx(ctx, next, rolled, serving(next))
}

// roll has the runtime replace the app's instances with next's, one at a
// time, and returns the running instances next describes, once nginx knows
// them all.
func (s *Stack) roll(ctx context.Context, roller platform.Roller, rt platform.Runtime, next *manifest.Manifest) ([]platform.Instance, error) {
	// Each task: its start and health, then the pause that lets nginx learn it.
	limit := s.HealthTimeout + time.Duration(next.Services.Replicas)*(s.NginxFollow+stopGrace)
	waitCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := roller.Roll(waitCtx, platform.App); err != nil {
		return nil, err
	}
	// The last old instance stopped just now, maybe before nginx learnt the
	// newest one's address: until it has, one instance carries the traffic.
	sleepFor(waitCtx, s.NginxFollow)
	apps, err := rt.Instances(ctx, platform.App)
	if err != nil {
		return nil, err
	}
	var rolled []platform.Instance
	for _, a := range apps {
		if a.Running() && a.Mode == next.Services.Mode && a.Build() == next.Build() {
			rolled = append(rolled, a)
		}
	}
	return rolled, nil
}

// waitNewApp waits until the new app c is healthy, calls pin to send nginx's
// traffic to it, then waits until every nginx worker must be using the pinned
// addresses, watching the new app all along: if it exits or turns unhealthy,
// the wait fails.
func (s *Stack) waitNewApp(ctx context.Context, rt platform.Runtime, m *manifest.Manifest, app platform.Instance, pin func(platform.Instance) error) error {
	var pinnedAt time.Time
	_, err := s.waitFor(ctx, "the new app ("+app.Name+")", 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		got, err := rt.Instance(ctx, app.ID)
		if err != nil {
			return false, "", fmt.Errorf("the new app %s disappeared: %v", app.Name, err)
		}
		got = s.withHealth(ctx, m, got)
		step, status, err := switchStep(got, pinnedAt, time.Now(), s.NginxFollow)
		if step == pinNewApp {
			if err := pin(got); err != nil {
				return false, "", err
			}
			pinnedAt = time.Now()
		}
		return step == takenOver, status, err
	})
	return err
}

// A switch moves through these steps once the new app has started.
type step int

const (
	waitHealthy step = iota // Docker's healthcheck has not passed yet
	pinNewApp               // healthy: point nginx at the new app now
	waitNginx               // pinned: nginx may still use the old addresses
	takenOver               // every nginx worker uses the new app: stop the old one
)

// switchStep says where a switch stands at now, given the new app as Docker
// reports it and when nginx was pointed at it (zero: not yet). The old app may
// be stopped only once nginx has re-resolved the app's name since the pin:
// until then a worker may still send requests to the old app alone, and
// stopping it would fail them. An exited or unhealthy new app is an error.
func switchStep(app platform.Instance, pinnedAt, now time.Time, follow time.Duration) (step, string, error) {
	switch {
	case app.State == "exited" || app.State == "dead":
		return waitHealthy, "", fmt.Errorf("the new app %s exited with code %d", app.Name, app.ExitCode)
	case app.Health == "unhealthy":
		return waitHealthy, "", fmt.Errorf("the new app %s is unhealthy", app.Name)
	case app.Health != "healthy":
		return waitHealthy, app.State + ", " + app.Health, nil
	case pinnedAt.IsZero():
		return pinNewApp, "healthy", nil
	}
	left := pinnedAt.Add(follow).Sub(now)
	if left <= 0 {
		return takenOver, "", nil
	}
	return waitNginx, fmt.Sprintf("healthy; giving nginx %.1fs more to move to it", left.Seconds()), nil
}

// describeApp names the app m runs, as told apart from the one other runs:
// by version when they differ, by mode otherwise.
func describeApp(m, other *manifest.Manifest) string {
	if m.Services.Version != other.Services.Version || m.Services.Image != other.Services.Image {
		return fmt.Sprintf("%s %s", m.Services.Mode, m.Services.Version)
	}
	return m.Services.Mode
}

func instanceIDs(is []platform.Instance) []string {
	ids := make([]string, len(is))
	for n, i := range is {
		ids[n] = i.ID
	}
	return ids
}
