package stack

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/lock"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// Promote switches the running app to mode (stable or canary) if the canary
// policy allows it, without a failed request: the new app starts beside the old
// one, nginx moves to it, and the old one drains and stops.
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
	var pending *change.Change // a release whose command rollback asked to abort
	if c := s.releaseUnderWay(); c != nil {
		if h, held := lock.Held(s.Root, s.path(lockInfo)); held {
			if err := s.store().RequestAbort(fmt.Sprintf("rollback, pid %d", os.Getpid())); err != nil {
				return err
			}
			pending = c
			s.Out.Step("a release is under way (%s): asked it to abort", h)
		}
	}
	return s.exclusive(ctx, history.EventRollback, func() error { return s.rollbackLocked(ctx, pending) })
}

func (s *Stack) rollbackLocked(ctx context.Context, pending *change.Change) error {
	store := s.store()
	if err := store.ClearAbort(); err != nil {
		return err
	}
	st, err := store.Load()
	if err != nil {
		return err
	}
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	if left := st.Change; left != nil && left.Stepped() {
		// Its command is gone: undo (or finish) what it left. A switch
		// left half-done is recovered by the switch below.
		if err := engine(ctx); err != nil {
			return err
		}
		result, err := s.mover(m, s.Runtime(m)).Recover(ctx, left, m)
		if err != nil {
			return fmt.Errorf("rollback: %w", err)
		}
		if result != change.Finished {
			s.record(history.EventRollback, history.Rollback{Result: "ok", Release: "undone"})
			return nil
		}
		// It was finished: on to the previous build below.
		if st, err = store.Load(); err != nil {
			return err
		}
	} else if pending != nil {
		if err := engine(ctx); err != nil {
			return err
		}
		running, _, err := runningBuild(ctx, s.Runtime(m))
		if err != nil {
			return err
		}
		if running == pending.From.Build {
			s.Out.OK("rollback: the release was aborted; %s serves", running)
			s.record(history.EventRollback, history.Rollback{Result: "ok", Release: "aborted"})
			return nil
		}
		// It finished before it saw the request: back to the previous build.
		if st, err = store.Load(); err != nil {
			return err
		}
	}
	if m.Services.Mode == manifest.ModeStable && st.Previous != nil {
		return s.rollbackBuild(ctx, m, *st.Previous)
	}
	return s.switchModeLocked(ctx, manifest.ModeStable, history.EventRollback)
}

// rollbackBuild returns a stable stack to the build a completed release
// replaced, by the zero-failure switch.
func (s *Stack) rollbackBuild(ctx context.Context, m *manifest.Manifest, previous manifest.Build) (err error) {
	event := history.Rollback{ToImage: previous.Image, ToVersion: previous.Version}
	defer func() {
		if event.Result == "" || err != nil {
			event.Result = resultOf(err)
		}
		if err != nil {
			event.Error = err.Error()
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
	event.FromImage, event.FromVersion = running.Image, running.Version
	if running == previous {
		s.Out.OK("rollback: %s already serves: nothing to do", previous)
		event.Result = "noop"
		return s.store().Update(func(st *change.State) { st.Previous = nil })
	}
	cur := m.WithBuild(running)
	// The emergency path still asks the policy (the shipped one allows it).
	decision, err := s.gateSwitch(ctx, cur, cur.Services.Mode, cur.Services.Mode, history.EventRollback)
	if err != nil {
		return err
	}
	event.Overridden = &decision.Overridden
	start := time.Now()
	mv := s.mover(m, rt)
	next := m.WithBuild(previous)
	c := mv.Begin(change.Rollback, cur, next, apps)
	err = mv.Switch(ctx, c, cur, next)
	event.Cost = s.changeCost(ctx, c)
	if err != nil {
		return fmt.Errorf("rollback to %s: %w", previous, err)
	}
	event.ElapsedSeconds = round(time.Since(start).Seconds(), 2)
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
	event := history.Promote{To: target}
	defer func() {
		if err != nil {
			event.Result, event.Error = resultOf(err), err.Error()
			s.recordSwitch(action, event)
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
	event.From = from
	if from == target {
		s.Out.OK("already in %s mode: nothing to do", target)
		event.Result = "noop"
		s.recordSwitch(action, event)
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
	event.Overridden = &decision.Overridden
	start := time.Now()
	next := *cur
	next.Services.Mode = target
	mv := s.mover(m, rt)
	c := mv.Begin(action, cur, &next, old)
	err = mv.Switch(ctx, c, cur, &next)
	event.Cost = s.changeCost(ctx, c)
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, target, err)
	}
	elapsed := time.Since(start)
	s.Out.OK("%s: %s → %s in %.1fs; nginx's probe of %s confirms mode %s", action, from, target, elapsed.Seconds(), m.Services.HealthPath, target)
	event.Result, event.ElapsedSeconds = "ok", round(elapsed.Seconds(), 2)
	s.recordSwitch(action, event)
	return nil
}

// recordSwitch records a switch of mode as the event action names: a
// promote, or a rollback, which carries the same fields.
func (s *Stack) recordSwitch(action string, ev history.Promote) {
	if action != history.EventRollback {
		s.record(action, ev)
		return
	}
	s.record(action, history.Rollback{From: ev.From, To: ev.To, Overridden: ev.Overridden, Result: ev.Result, ElapsedSeconds: ev.ElapsedSeconds, Cost: ev.Cost, Error: ev.Error})
}
