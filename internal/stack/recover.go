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
)

// recoverIfInterrupted runs recoverSwitch when the state file records a
// switch, which only a killed command leaves behind.
func (s *Stack) recoverIfInterrupted(ctx context.Context) error {
	st, err := s.loadState()
	if err != nil || st.Switch == nil {
		return err
	}
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	if err := engine(ctx); err != nil {
		return err
	}
	return s.recoverSwitch(ctx, s.Runtime(m), m)
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
	if st.Switch == nil {
		return ""
	}
	if _, held := lock.Held(s.Root, s.path(lockInfo)); held {
		return "in progress: " + st.Switch.String()
	}
	return "INTERRUPTED: " + st.Switch.String() + "; run `deploy` or `rollback` to finish or undo it"
}
