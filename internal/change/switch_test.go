package change

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// promote is the switch of oldApp (stable) to canary mode, same build.
func (e *engine) promote(ctx context.Context) (*Change, error) {
	cur, next := manifestOf(v1, "stable"), manifestOf(v1, "canary")
	c := e.Begin(Promote, cur, next, []platform.Instance{oldApp})
	return c, e.Switch(ctx, c, cur, next)
}

func TestASwitchMovesNginxToTheHealthyNewInstanceBeforeRetiringTheOldOne(t *testing.T) {
	e := newEngine(t, oldApp)
	e.rt.script = []string{"starting", "starting", "healthy"}
	if _, err := e.promote(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.rt.retired, []string{"old"}) || len(e.rt.removed) != 0 {
		t.Errorf("retired %v, removed %v; want the old app retired and nothing removed", e.rt.retired, e.rt.removed)
	}
	if !slices.Equal(e.rt.pinsAtRetire, []string{newApp.Addr}) {
		t.Errorf("pins when the old app was retired: %v, want the new app's address alone", e.rt.pinsAtRetire)
	}
	if want := []string{oldApp.Addr, newApp.Addr, "unpinned"}; !slices.Equal(e.router.pins, want) {
		t.Errorf("pins %v, want the old app while the new one starts, the new one once healthy, then none", e.router.pins)
	}
	if e.lastFiles() != "canary 1.0.0" || !slices.Equal(e.modes, []string{"canary"}) {
		t.Errorf("files describe %q and the manifest took %v; want canary 1.0.0, and the manifest canary", e.lastFiles(), e.modes)
	}
	if st := e.state(t); st.Change != nil || st.Previous != nil {
		t.Errorf("state after the switch: %+v, want none", st)
	}
}

func TestANewInstanceThatDiesBeforeTheSteerIsRemovedAtOnceAndTheOldOneKeepsServing(t *testing.T) {
	e := newEngine(t, oldApp)
	e.rt.script = []string{"starting", "exited"}
	_, err := e.promote(context.Background())
	wantErr(t, err, "exited with code 2", "traffic stays on the stable app")
	if len(e.rt.retired) != 0 || !slices.Equal(e.rt.removed, []string{"new"}) {
		t.Errorf("retired %v, removed %v; want only the new app removed", e.rt.retired, e.rt.removed)
	}
	if !slices.Equal(e.described, []string{"new"}) {
		t.Errorf("described %v, want the new app's state and logs printed before it goes", e.described)
	}
	if e.router.pin() != "unpinned" || e.lastFiles() != "stable 1.0.0" || len(e.modes) != 0 {
		t.Errorf("pin %s, files %q, modes %v; want unpinned, the stable app's files and the manifest untouched", e.router.pin(), e.lastFiles(), e.modes)
	}
	if st := e.state(t); st.Change != nil {
		t.Errorf("state after an undone switch: %+v, want none", st.Change)
	}
}

func TestANewInstanceThatTurnsUnhealthyAfterTheSteerSendsNginxBackToTheOldOneAndDrains(t *testing.T) {
	e := newEngine(t, oldApp)
	e.rt.script = []string{"healthy", "healthy", "unhealthy"}
	e.router.follow = time.Second // long enough to watch the new app after the pin
	_, err := e.promote(context.Background())
	wantErr(t, err, "is unhealthy", "traffic stays on the stable app")
	if want := []string{oldApp.Addr, newApp.Addr, oldApp.Addr, "unpinned"}; !slices.Equal(e.router.pins, want) {
		t.Errorf("pins %v, want the new app pinned, then the old one again", e.router.pins)
	}
	// It may have served requests since the pin: it drains.
	if !slices.Equal(e.rt.retired, []string{"new"}) || len(e.rt.removed) != 0 || e.rt.pinsAtRetire[0] != oldApp.Addr {
		t.Errorf("retired %v (pins then %v), removed %v; want only the new app retired, nginx back on the old one", e.rt.retired, e.rt.pinsAtRetire, e.rt.removed)
	}
}

// A pin that does not take (the resolver down, say) must never lead to the
// old app being stopped: nginx would have nothing left to send requests to.
func TestASteerNginxDoesNotFollowLeavesTheOldInstanceServing(t *testing.T) {
	e := newEngine(t, oldApp)
	e.router.stuck = true
	_, err := e.promote(context.Background())
	wantErr(t, err, "nginx did not move to the canary 1.0.0 app", "and it could not be undone")
	if e.rt.has("old") != true || slices.Contains(e.rt.retired, "old") {
		t.Errorf("the old app was retired (%v) although nginx never left it", e.rt.retired)
	}
	if st := e.state(t); st.Change == nil {
		t.Error("a change whose undo could not be confirmed was forgotten: the next command must see it")
	}
}

func TestAStartThatFailsPartWayRemovesWhatItStarted(t *testing.T) {
	e := newEngine(t, oldApp)
	e.rt.startErr = errors.New("port already allocated")
	_, err := e.promote(context.Background())
	wantErr(t, err, "port already allocated", "traffic stays on the stable app")
	if !slices.Equal(e.rt.removed, []string{"new"}) {
		t.Errorf("removed %v, want the half-started new app", e.rt.removed)
	}
}

func TestARuntimeThatRollsIsAskedToRollAndNginxIsConfirmedAfter(t *testing.T) {
	e := newEngine(t, oldApp)
	rolled := newApp
	rolled.ID, rolled.Health = "rolled", "healthy"
	r := e.rolls()
	r.rolled = []platform.Instance{rolled}
	if _, err := e.promote(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.rolls != 1 || len(e.router.pins) != 0 {
		t.Errorf("rolls %d, pins %v; want one roll and no pin (nginx follows the runtime's DNS)", r.rolls, e.router.pins)
	}
	if e.lastFiles() != "canary 1.0.0" || !slices.Equal(e.modes, []string{"canary"}) {
		t.Errorf("files %q, modes %v; want the canary's files and the manifest canary", e.lastFiles(), e.modes)
	}
}

func TestARollTheRuntimeUndidLeavesTheFilesOfTheOldModeAndNoChange(t *testing.T) {
	e := newEngine(t, oldApp)
	e.rolls().rollErr = errors.Join(platform.ErrRolledBack, errors.New("swarm undid the update of s_app"))
	_, err := e.promote(context.Background())
	wantErr(t, err, "rolled back", "traffic stays on the stable app")
	if e.lastFiles() != "stable 1.0.0" || len(e.modes) != 0 {
		t.Errorf("files %q, modes %v; want the stable app's files again and the manifest untouched", e.lastFiles(), e.modes)
	}
	if st := e.state(t); st.Change != nil {
		t.Errorf("state after a roll the runtime undid: %+v, want none", st.Change)
	}
}

func TestARollThatOutlivesItsWaitIsLeftRecordedForTheNextCommand(t *testing.T) {
	e := newEngine(t, oldApp)
	r := e.rolls()
	r.rollErr = context.DeadlineExceeded
	_, err := e.promote(context.Background())
	wantErr(t, err, "still replacing", "the next deploy or rollback finishes or undoes")
	st := e.state(t)
	if st.Change == nil || st.Change.Phase != Starting {
		t.Fatalf("state after a roll still under way: %+v, want the change recorded", st.Change)
	}
	if e.lastFiles() != "canary 1.0.0" {
		t.Errorf("files %q: the runtime still rolls to what they describe, they must stay", e.lastFiles())
	}
	// The runtime finishes the roll by itself; the next command sees it.
	rolled := newApp
	rolled.ID, rolled.Health = "rolled", "healthy"
	r.settled = []platform.Instance{rolled}
	result, err := e.Recover(context.Background(), st.Change, manifestOf(v1, "stable"))
	if err != nil || result != Finished {
		t.Fatalf("Recover = %q, %v; want finished", result, err)
	}
	if !slices.Equal(e.modes, []string{"canary"}) || e.state(t).Change != nil {
		t.Errorf("modes %v, change %+v; want the manifest canary and no change left", e.modes, e.state(t).Change)
	}
}

func TestASwitchStepWaitsForHealthThenForNginxToFollowThePin(t *testing.T) {
	pinned := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	follow := render.ResolverStaleness + 250*time.Millisecond
	healthy := platform.Instance{Name: "swiftdeploy-app-2", State: "running", Health: "healthy"}
	cases := []struct {
		name     string
		app      platform.Instance
		pinnedAt time.Time
		now      time.Time
		step     step
		status   string // a substring; "" for none
		failure  string // a substring of the error; "" for none
	}{
		{"still starting", platform.Instance{Name: "a", State: "running", Health: "starting"}, time.Time{}, pinned, waitHealthy, "running, starting", ""},
		{"exited", platform.Instance{Name: "a", State: "exited", Health: "healthy", ExitCode: 137}, pinned, pinned, waitHealthy, "", "exited with code 137"},
		{"dead", platform.Instance{Name: "a", State: "dead"}, time.Time{}, pinned, waitHealthy, "", "exited"},
		{"unhealthy after the pin", platform.Instance{Name: "a", State: "running", Health: "unhealthy"}, pinned, pinned, waitHealthy, "", "is unhealthy"},
		{"healthy, not pinned yet", healthy, time.Time{}, pinned, pinNew, "healthy", ""},
		{"pinned, nginx may not have moved", healthy, pinned, pinned.Add(time.Second), waitNginx, fmt.Sprintf("giving nginx %.1fs more", (follow - time.Second).Seconds()), ""},
		{"a moment before nginx must have moved", healthy, pinned, pinned.Add(follow - time.Millisecond), waitNginx, "giving nginx", ""},
		{"nginx must have moved", healthy, pinned, pinned.Add(follow), takenOver, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, status, err := switchStep(c.app, c.pinnedAt, c.now, follow)
			if got != c.step {
				t.Errorf("step = %v, want %v", got, c.step)
			}
			if !strings.Contains(status, c.status) || (c.status == "" && status != "") {
				t.Errorf("status = %q, want it to hold %q", status, c.status)
			}
			switch {
			case c.failure == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.failure != "" && (err == nil || !strings.Contains(err.Error(), c.failure)):
				t.Errorf("error = %v, want one saying %q", err, c.failure)
			}
		})
	}
}

func TestARollbackToThePreviousBuildForgetsItAndAReleaseRemembersIt(t *testing.T) {
	e := newEngine(t, oldApp)
	e.rt.started[platform.App] = takerApp
	cur, next := manifestOf(v1, "stable"), manifestOf(v2, "stable")
	next.Rollout.Strategy = manifest.StrategySwitch
	c := e.Begin(Release, cur, next, []platform.Instance{oldApp})
	if err := e.Switch(context.Background(), c, cur, next); err != nil {
		t.Fatal(err)
	}
	if st := e.state(t); st.Previous == nil || *st.Previous != v1 {
		t.Fatalf("previous after a release by switch: %+v, want %s", st.Previous, v1)
	}
	back := takerApp
	back.ID, back.Health = "back", "starting"
	e.rt.started[platform.App] = back
	back.Health = "healthy"
	c = e.Begin(Rollback, next, cur, []platform.Instance{takerApp})
	if err := e.Switch(context.Background(), c, next, cur); err != nil {
		t.Fatal(err)
	}
	if st := e.state(t); st.Previous != nil || len(e.modes) != 0 {
		t.Errorf("previous %+v, modes %v after the rollback; want it forgotten and the manifest's mode untouched", st.Previous, e.modes)
	}
}

func TestARollNginxDoesNotFollowIsLeftToFinishNotUndone(t *testing.T) {
	e := newEngine(t, oldApp)
	rolled := newApp
	rolled.ID, rolled.Health = "rolled", "healthy"
	e.rolls().rolled = []platform.Instance{rolled}
	e.router.stuck = true
	_, err := e.promote(context.Background())
	wantErr(t, err, "nginx did not move", "the next deploy or rollback finishes the change")
	if c := e.state(t).Change; c == nil || c.Phase != Moved {
		t.Errorf("change %+v: only another roll could undo a finished roll, the next command must finish it", c)
	}
	if e.lastFiles() != "canary 1.0.0" {
		t.Errorf("files %q, want what the runtime runs", e.lastFiles())
	}
}
