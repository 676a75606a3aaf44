package change

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// killedSwitch is a promote of oldApp to canary that a killed command left
// in phase, with the new instance healthy beside the old one.
func killedSwitch(t *testing.T, phase Phase) (*engine, *Change) {
	t.Helper()
	started := newApp
	started.Health = "healthy"
	e := newEngine(t, oldApp, started)
	c := e.Begin(Promote, manifestOf(v1, "stable"), manifestOf(v1, "canary"), []platform.Instance{oldApp})
	c.Phase, c.New, c.PID = phase, []string{"new"}, 4242
	if phase != Starting {
		if err := e.router.Pin([]platform.Instance{started}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Store.Set(c); err != nil {
		t.Fatal(err)
	}
	return e, c
}

func (e *engine) recoverLeft(t *testing.T, c *Change) string {
	t.Helper()
	result, err := e.Recover(context.Background(), c, manifestOf(v1, "stable"))
	if err != nil {
		t.Fatal(err)
	}
	if st := e.state(t); st.Change != nil || e.router.pin() != "unpinned" {
		t.Errorf("after recovery: change %+v, pin %s; want none, unpinned", st.Change, e.router.pin())
	}
	return result
}

func TestASwitchKilledBeforeTheSteerIsUndoneAndTheNewInstanceRemovedAtOnce(t *testing.T) {
	e, c := killedSwitch(t, Starting)
	if got := e.recoverLeft(t, c); got != Undone {
		t.Fatalf("recovered %q, want undone", got)
	}
	if len(e.rt.retired) != 0 || !slices.Equal(e.rt.removed, []string{"new"}) || len(e.modes) != 0 {
		t.Errorf("retired %v, removed %v, modes %v; want the new app removed, the manifest untouched", e.rt.retired, e.rt.removed, e.modes)
	}
}

func TestASwitchKilledAfterTheSteerButBeforeNginxConfirmedIsUndoneWithADrain(t *testing.T) {
	e, c := killedSwitch(t, Takeover)
	if got := e.recoverLeft(t, c); got != Undone {
		t.Fatalf("recovered %q, want undone", got)
	}
	if !slices.Equal(e.rt.retired, []string{"new"}) || e.rt.pinsAtRetire[0] != oldApp.Addr {
		t.Errorf("retired %v with pins %v; want the new app drained once nginx is back on the old one", e.rt.retired, e.rt.pinsAtRetire)
	}
	if e.lastFiles() != "stable 1.0.0" {
		t.Errorf("files %q, want the stable app's", e.lastFiles())
	}
}

func TestASwitchKilledAfterNginxMovedIsFinished(t *testing.T) {
	e, c := killedSwitch(t, Moved)
	if got := e.recoverLeft(t, c); got != Finished {
		t.Fatalf("recovered %q, want finished", got)
	}
	if !slices.Equal(e.rt.retired, []string{"old"}) || e.rt.pinsAtRetire[0] != newApp.Addr {
		t.Errorf("retired %v with pins %v; want the old app retired while nginx is pinned to the new one", e.rt.retired, e.rt.pinsAtRetire)
	}
	if !slices.Equal(e.modes, []string{"canary"}) || e.lastFiles() != "canary 1.0.0" {
		t.Errorf("modes %v, files %q; want the manifest and the files canary", e.modes, e.lastFiles())
	}
	ev, _ := e.events[0].(history.Recover)
	if ev.Result != Finished || ev.Action != Promote || ev.From != "stable" || ev.To != "canary" || ev.Phase != "moved" || ev.PID != 4242 {
		t.Errorf("recorded %v, want the finished promote stable → canary from phase moved", ev)
	}
}

func TestASwitchWhoseOldInstanceIsGoneIsFinishedOnTheNewOne(t *testing.T) {
	e, c := killedSwitch(t, Starting)
	e.rt.instances = slices.DeleteFunc(e.rt.instances, func(i platform.Instance) bool { return i.ID == "old" })
	if got := e.recoverLeft(t, c); got != Finished {
		t.Fatalf("recovered %q, want finished: only the new app serves", got)
	}
}

func TestAChangeThatLeftNeitherSideRunningSaysWhatToDo(t *testing.T) {
	e, c := killedSwitch(t, Moved)
	e.rt.instances = nil
	_, err := e.Recover(context.Background(), c, manifestOf(v1, "stable"))
	wantErr(t, err, "left neither the old nor the new app running", "teardown")
}

// killedRelease is a canary release of v2 that a killed command left in
// phase at step (0-based) of 10, 50, 100 %.
func killedRelease(t *testing.T, phase Phase, step int, instances ...platform.Instance) (*engine, *Change) {
	t.Helper()
	e := newEngine(t, instances...)
	c := e.Begin(Release, manifestOf(v1, "stable"), manifestOf(v2, "stable"), []platform.Instance{oldApp})
	c.Phase, c.Step, c.Weight, c.Canary = phase, step, c.Steps[step], []string{"canary"}
	if err := e.Store.Set(c); err != nil {
		t.Fatal(err)
	}
	return e, c
}

func TestAReleaseKilledMidStepIsUndoneWithNginxsRoutingSteadied(t *testing.T) {
	canary := canaryApp
	canary.Health = "healthy"
	e, c := killedRelease(t, Canary, 1, oldApp, canary)
	if got := e.recoverLeft(t, c); got != Undone {
		t.Fatalf("recovered %q, want undone", got)
	}
	if !slices.Equal(e.router.routes, []string{render.RoutingSteady}) || !slices.Equal(e.rt.retired, []string{"canary"}) {
		t.Errorf("routes %v, retired %v; want nginx steadied, then the canary drained", e.router.routes, e.rt.retired)
	}
	if e.lastFiles() != "stable 1.0.0" || e.state(t).Previous != nil {
		t.Errorf("files %q, previous %v; want the stable build's files and no previous build", e.lastFiles(), e.state(t).Previous)
	}
}

func TestAReleaseKilledAfterNginxMovedIsFinishedAndLeavesThePreviousBuild(t *testing.T) {
	canary, taker := canaryApp, takerApp
	canary.Health, taker.Health = "healthy", "healthy"
	e, c := killedRelease(t, Moved, 2, oldApp, canary, taker)
	c.New = []string{"taker"}
	if got := e.recoverLeft(t, c); got != Finished {
		t.Fatalf("recovered %q, want finished", got)
	}
	if !slices.Equal(e.rt.retired, []string{"old", "canary"}) {
		t.Errorf("retired %v, want the old build and the canary", e.rt.retired)
	}
	if st := e.state(t); st.Previous == nil || *st.Previous != v1 || e.lastFiles() != "stable 2.0.0" {
		t.Errorf("previous %v, files %q; want %s kept for rollback and the new build's files", st.Previous, e.lastFiles(), v1)
	}
}

func TestUndoingAReleaseRemovesAnInstanceItStartedWithoutRecordingIt(t *testing.T) {
	stray := takerApp
	stray.ID = "stray"
	e, c := killedRelease(t, Canary, 0, oldApp, canaryApp, stray)
	c.Canary = nil // killed before it could write down the canary
	e.recoverLeft(t, c)
	if !slices.Equal(e.rt.retired, []string{"canary", "stray"}) || !e.rt.has("old") {
		t.Errorf("retired %v, want every instance but the stable build's", e.rt.retired)
	}
}

func TestAReleaseKilledMidRollIsFinishedOnceTheRuntimeSettlesOnTheNewBuild(t *testing.T) {
	e, c := killedRelease(t, Takeover, 2, oldApp, canaryApp)
	rolled := takerApp
	rolled.Health = "healthy"
	e.rolls().settled = []platform.Instance{rolled}
	if got := e.recoverLeft(t, c); got != Finished {
		t.Fatalf("recovered %q, want finished", got)
	}
	if !slices.Equal(e.rt.retired, []string{"canary"}) || e.state(t).Previous == nil {
		t.Errorf("retired %v, previous %v; want the canary retired and the old build kept for rollback", e.rt.retired, e.state(t).Previous)
	}
}

func TestAReleaseKilledMidRollIsUndoneWhenTheRuntimeRolledBack(t *testing.T) {
	e, c := killedRelease(t, Takeover, 2, oldApp, canaryApp)
	back := oldApp
	back.ID = "old-again" // a task of the runtime's own rollback
	e.rolls().settled = []platform.Instance{back}
	if got := e.recoverLeft(t, c); got != Undone {
		t.Fatalf("recovered %q, want undone", got)
	}
	if !slices.Equal(e.rt.retired, []string{"canary"}) || !e.rt.has("old-again") {
		t.Errorf("retired %v; want only the canary: the runtime's own tasks serve the old build", e.rt.retired)
	}
}

func TestAStateFileOfTheSwitchBeforeTheChangeEngineIsStillRecovered(t *testing.T) {
	dir := t.TempDir()
	old := `{"switch": {"action": "promote", "from": "stable", "to": "canary", "pid": 4242, "started": "2026-11-30T12:00:00Z",
		"phase": "moved", "old": ["old"], "new": ["new"]}, "previous": {"image": "app:0", "version": "0.9.0"}}`
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := NewStore(dir).Load()
	if err != nil {
		t.Fatal(err)
	}
	c := st.Change
	if c == nil || c.Action != Promote || c.Strategy != manifest.StrategySwitch || c.Phase != Moved || c.To.Mode != "canary" ||
		!slices.Equal(c.Old, []string{"old"}) || c.Started.IsZero() || st.Previous.Version != "0.9.0" {
		t.Fatalf("read %+v, previous %+v; want the legacy promote in phase moved", c, st.Previous)
	}
	fillLegacy(c, manifestOf(v1, "stable"))
	if c.From.Build != v1 || c.To.Build != v1 {
		t.Errorf("builds %s → %s, want the manifest's build on both sides of a mode switch", c.From.Build, c.To.Build)
	}
}

func TestAStateFileOfTheReleaseBeforeTheChangeEngineIsStillRecovered(t *testing.T) {
	dir := t.TempDir()
	old, _ := json.Marshal(map[string]any{"release": map[string]any{"strategy": "canary", "from": v1, "to": v2, "steps": []int{10, 100},
		"step": 1, "weight": 100, "phase": "canary", "pid": 7, "stable": []string{"old"}, "canary": []string{"canary"}}})
	if err := os.WriteFile(filepath.Join(dir, StateFile), old, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := NewStore(dir).Load()
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Change; c == nil || !c.Stepped() || c.From.Build != v1 || c.To.Build != v2 || c.Weight != 100 || !slices.Equal(c.Canary, []string{"canary"}) {
		t.Errorf("read %+v, want the legacy release at 100 %%", c)
	}
}

func TestTheStoreKeepsWhatAnUpdateDoesNotTouchAndRemovesAnEmptyState(t *testing.T) {
	s := NewStore(t.TempDir())
	if err := s.Update(func(st *State) { st.Previous = &v1 }); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(&Change{Action: Promote}); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Load(); st.Previous == nil || st.Change == nil {
		t.Fatalf("state %+v, want both the previous build and the change", st)
	}
	if err := s.Save(State{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path()); !os.IsNotExist(err) {
		t.Errorf("an empty state left %s behind (%v)", s.Path(), err)
	}
	if err := s.RequestAbort("rollback, pid 1"); err != nil || !s.AbortRequested() {
		t.Fatalf("abort request: %v, requested %v", err, s.AbortRequested())
	}
	if err := s.ClearAbort(); err != nil || s.AbortRequested() {
		t.Errorf("clear abort: %v, still requested %v", err, s.AbortRequested())
	}
}
