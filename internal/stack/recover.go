package stack

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/lock"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// recoverIfInterrupted runs recoverSwitch when the state file records a
// switch, which only a killed command leaves behind.
func (s *Stack) recoverIfInterrupted(ctx context.Context) error {
	st, err := s.loadState()
	if err != nil || (st.Switch == nil && st.Release == nil) {
		return err
	}
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	if err := engine(ctx); err != nil {
		return err
	}
	if st.Release != nil {
		return s.recoverRelease(ctx, s.Runtime(m), m, *st.Release)
	}
	return s.recoverSwitch(ctx, s.Runtime(m), m)
}

// recoverRelease undoes a release that a killed command left half-done:
// nginx back to the stable build alone, every instance of the new build
// removed. Once nginx had moved to the new build (or the stable build is gone),
// it finishes the release instead.
func (s *Stack) recoverRelease(ctx context.Context, rt platform.Runtime, m *manifest.Manifest, r Release) error {
	s.Out.Warn("found an interrupted %s", r)
	event := map[string]any{"action": "release", "from": r.From.Version, "to": r.To.Version, "phase": r.Phase, "pid": r.PID}
	apps, err := rt.Instances(ctx, platform.App)
	if err != nil {
		return err
	}
	stableRunning := slices.ContainsFunc(apps, func(a platform.Instance) bool { return a.Running() && slices.Contains(r.Stable, a.ID) })
	newRunning := slices.ContainsFunc(apps, func(a platform.Instance) bool { return a.Running() && slices.Contains(r.New, a.ID) })
	if newRunning && (r.Phase == releaseMoved || !stableRunning) {
		next := m.WithBuild(r.To)
		files, err := s.render(next, nil)
		if err != nil {
			return err
		}
		if err := render.Write(s.Root, files); err != nil {
			return err
		}
		if err := s.reroute(ctx, rt, next, render.RoutingSteady); err != nil {
			return err
		}
		if err := s.retireReplaced(ctx, rt, &r); err != nil {
			return err
		}
		if err := s.updateState(func(st *State) { st.Release, st.Previous = nil, &r.From }); err != nil {
			return err
		}
		s.Out.OK("finished the interrupted release: %s serves alone", r.To)
		event["result"] = "finished"
	} else {
		if !stableRunning {
			return fmt.Errorf("an interrupted %s left neither build serving: run `teardown`, then `deploy`", r)
		}
		if _, err := s.undoRelease(ctx, rt, m.WithBuild(r.From), &r); err != nil {
			return err
		}
		s.Out.OK("undid the interrupted release: %s serves alone, as before", r.From)
		event["result"] = "undone"
	}
	s.record(history.EventRecover, event)
	return nil
}

// recoverSwitch finishes or undoes a switch that a killed command left
// half-done, with no failed request, and says which it did. Before nginx
// moved to the new app, the new app is removed and the old one keeps
// serving; after, the old one (which nginx no longer uses) is retired and the
// manifest takes the new mode. It is called with the stack's lock held, so
// the command that wrote the state cannot still be running.
func (s *Stack) recoverSwitch(ctx context.Context, rt platform.Runtime, m *manifest.Manifest) error {
	st, err := s.loadState()
	if err != nil || st.Switch == nil {
		return err
	}
	w := *st.Switch
	s.Out.Warn("found an interrupted %s", w)
	apps, err := rt.Instances(ctx, platform.App)
	if err != nil {
		return err
	}
	running := func(ids []string) []platform.Instance {
		var out []platform.Instance
		for _, a := range apps {
			if a.Running() && slices.Contains(ids, a.ID) {
				out = append(out, a)
			}
		}
		return out
	}
	oldRunning, newRunning := running(w.Old), running(w.New)
	event := map[string]any{"action": w.Action, "from": w.From, "to": w.To, "phase": w.Phase, "pid": w.PID}
	finish := w.Phase == phaseMoved || len(oldRunning) == 0
	if finish && len(newRunning) == 0 {
		return fmt.Errorf("an interrupted %s left neither the old nor the new app running: run `deploy`", w)
	}
	if finish {
		// Even after the pin, nginx may not have followed it before the
		// command was killed.
		if err := s.moveNginx(ctx, m, newRunning, expected{Mode: w.To, Version: w.ToVersion}); err != nil {
			return err
		}
		// Every other app: the old ones nginx no longer uses.
		if ids := others(apps, instanceIDs(newRunning)); len(ids) > 0 {
			if err := rt.Retire(ctx, stopGrace, ids...); err != nil {
				return err
			}
		}
		if err := manifest.SetMode(s.path(ManifestFile), w.To); err != nil {
			return err
		}
		s.Out.OK("finished the interrupted %s: the %s app serves alone", w.Action, w.To)
		event["result"] = "finished"
	} else {
		if err := s.moveNginx(ctx, m, oldRunning, expected{Mode: w.From, Version: w.FromVersion}); err != nil {
			return err
		}
		// Every other app, also one started by a command killed before it
		// could write down what it started.
		if ids := others(apps, instanceIDs(oldRunning)); len(ids) > 0 {
			if err := rt.Remove(ctx, ids...); err != nil {
				return err
			}
		}
		s.Out.OK("undid the interrupted %s: the %s app serves alone, as before", w.Action, w.From)
		event["result"] = "undone"
	}
	if err := s.unpinApp(); err != nil {
		return err
	}
	s.record(history.EventRecover, event)
	return s.setSwitch(nil)
}

// others returns the ids of the apps not in keep.
func others(apps []platform.Instance, keep []string) []string {
	var out []string
	for _, a := range apps {
		if !slices.Contains(keep, a.ID) {
			out = append(out, a.ID)
		}
	}
	return out
}

// sleepFor waits d, or less when ctx ends first.
func sleepFor(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// changeUnderWay says, for status, what change the state file records: one a
// command is making now, or one a killed command left half-done.
func (s *Stack) changeUnderWay() string {
	st, err := s.loadState()
	if err != nil {
		return err.Error()
	}
	var change fmt.Stringer
	switch {
	case st.Release != nil:
		change = st.Release
	case st.Switch != nil:
		change = st.Switch
	default:
		return ""
	}
	if _, held := lock.Held(s.Root, s.path(lockInfo)); held {
		return "in progress: " + change.String()
	}
	return "INTERRUPTED: " + change.String() + "; run `deploy` or `rollback` to finish or undo it"
}
