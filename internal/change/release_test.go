package change

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// fakeJudge promotes every step unless verdicts (by step, 0-based) say
// otherwise; during a step it can run during (a canary dying, an abort
// requested).
type fakeJudge struct {
	mu       sync.Mutex
	verdicts map[int]Verdict
	errs     map[int]error
	during   func(step int)
	begun    []int   // steps begun
	phases   []Phase // the change's phase as each step was judged
}

func (j *fakeJudge) Begin(c *Change) { j.begun = append(j.begun, c.Step) }

func (j *fakeJudge) Step(_ context.Context, c *Change) (Verdict, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.phases = append(j.phases, c.Phase)
	if j.during != nil {
		j.during(c.Step)
	}
	if err := j.errs[c.Step]; err != nil {
		return j.verdicts[c.Step], err
	}
	if v, ok := j.verdicts[c.Step]; ok {
		return v, nil
	}
	return Verdict{Promote: true}, nil
}

// release releases v2 over oldApp (v1, stable) in steps of 10, 50 and 100 %.
func (e *engine) release(ctx context.Context, j Judge) (*Change, error) {
	cur, next := manifestOf(v1, "stable"), manifestOf(v2, "stable")
	e.rt.started[platform.App] = takerApp
	e.rt.script = []string{"healthy"}
	c := e.Begin(Release, cur, next, []platform.Instance{oldApp})
	return c, e.Release(ctx, c, cur, next, j)
}

func TestAGoodCanaryTakesEveryStepThenTheNewBuildTakesOverAndTheOldOneIsKept(t *testing.T) {
	e := newEngine(t, oldApp)
	j := &fakeJudge{}
	if _, err := e.release(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(j.begun, []int{0, 1, 2}) || !slices.Equal(j.phases, []Phase{Canary, Canary, Canary}) {
		t.Errorf("steps begun %v in phases %v; want every step judged in phase canary", j.begun, j.phases)
	}
	wantRoutes := []string{"canary 2.0.0 at 10%", "canary 2.0.0 at 50%", "canary 2.0.0 at 100%", render.RoutingSteady}
	if !slices.Equal(e.router.routes, wantRoutes) {
		t.Errorf("routes %v, want %v", e.router.routes, wantRoutes)
	}
	if !slices.Equal(e.rt.retired, []string{"old", "canary"}) || e.rt.pinsAtRetire[0] != takerApp.Addr {
		t.Errorf("retired %v with pins %v; want the old build and the canary drained once nginx is on the new build", e.rt.retired, e.rt.pinsAtRetire)
	}
	if st := e.state(t); st.Change != nil || st.Previous == nil || *st.Previous != v1 || e.lastFiles() != "stable 2.0.0" {
		t.Errorf("state %+v, files %q; want no change, %s kept for rollback, the new build's files", st, e.lastFiles(), v1)
	}
}

func TestAFailedStepAbortsWithNginxBackOnStableAndTheCanaryRemoved(t *testing.T) {
	e := newEngine(t, oldApp)
	bad := time.Now()
	j := &fakeJudge{verdicts: map[int]Verdict{1: {Reasons: []string{"canary error rate 30.00% exceeds the 1.00% limit"}, FirstBad: bad}}}
	_, err := e.release(context.Background(), j)
	var aborted *Aborted
	if !errors.As(err, &aborted) || !errors.Is(err, ErrAborted) {
		t.Fatalf("release = %v, want *Aborted", err)
	}
	if aborted.Step != 2 || aborted.Weight != 50 || aborted.Reason != "canary error rate 30.00% exceeds the 1.00% limit" || aborted.FirstBadToAbort <= 0 {
		t.Errorf("aborted %+v, want step 2 at 50 %% with the policy's reason and a time from the first bad request", aborted)
	}
	wantErr(t, err, "at step 2 of 3 (50%)", "app:1 (version 1.0.0) serves all traffic")
	if last := e.router.routes[len(e.router.routes)-1]; last != render.RoutingSteady || !slices.Equal(e.rt.retired, []string{"canary"}) {
		t.Errorf("routes %v, retired %v; want nginx steady, then the canary drained", e.router.routes, e.rt.retired)
	}
	if st := e.state(t); st.Change != nil || st.Previous != nil || e.lastFiles() != "stable 1.0.0" {
		t.Errorf("state %+v, files %q; want nothing left and the stable build's files", st, e.lastFiles())
	}
}

func TestACanaryThatDiesMidStepAbortsTheRelease(t *testing.T) {
	e := newEngine(t, oldApp)
	j := &fakeJudge{errs: map[int]error{0: errors.New("the canary canary-1 stopped (exited, exit code 137)")}}
	_, err := e.release(context.Background(), j)
	wantErr(t, err, "release aborted", "at step 1 of 3 (10%)", "exit code 137")
	if !slices.Equal(e.rt.retired, []string{"canary"}) {
		t.Errorf("retired %v, want the canary", e.rt.retired)
	}
}

func TestACanaryThatDiesWhileStartingIsRemovedAtOnce(t *testing.T) {
	e := newEngine(t, oldApp)
	cur, next := manifestOf(v1, "stable"), manifestOf(v2, "stable")
	e.rt.script = []string{"starting", "exited"}
	c := e.Begin(Release, cur, next, []platform.Instance{oldApp})
	err := e.Release(context.Background(), c, cur, next, &fakeJudge{})
	wantErr(t, err, "release aborted", "exited with code 2")
	if !slices.Equal(e.rt.removed, []string{"canary"}) || len(e.router.routes) != 1 {
		t.Errorf("removed %v, routes %v; want the canary removed at once, nginx steadied once", e.rt.removed, e.router.routes)
	}
}

func TestARollbackRequestAbortsTheReleaseAtTheStepUnderWay(t *testing.T) {
	e := newEngine(t, oldApp)
	var c *Change
	j := &fakeJudge{during: func(step int) {
		if step == 1 {
			if err := e.Store.RequestAbort("rollback, pid 1"); err != nil {
				t.Error(err)
			}
		}
	}}
	// The judge sees the request in its own wait; this one passes the
	// step, so the engine must see it before the takeover.
	c, err := e.release(context.Background(), j)
	wantErr(t, err, "`rollback` asked to abort the release")
	if c.Weight != 100 || e.rt.has("taker") {
		t.Errorf("weight %d, taker started %v; want the abort before the new build starts in stable mode", c.Weight, e.rt.has("taker"))
	}
}

func TestANewBuildThatDiesDuringTheTakeoverAbortsWithStableServing(t *testing.T) {
	e := newEngine(t, oldApp)
	j := &fakeJudge{during: func(step int) {
		if step == 2 {
			e.rt.script = []string{"starting", "exited"}
			e.rt.looks = 0
		}
	}}
	_, err := e.release(context.Background(), j)
	wantErr(t, err, "release aborted at step 3 of 3 (100%)", "exited with code 2")
	if e.router.pin() != "unpinned" || !e.rt.has("old") || e.rt.has("taker") || e.rt.has("canary") {
		t.Errorf("pin %s, instances %v; want the stable build alone, unpinned", e.router.pin(), e.rt.instances)
	}
}

func TestAReleaseOnARuntimeThatRollsRollsTheAppWhileTheCanaryServes(t *testing.T) {
	e := newEngine(t, oldApp)
	r := e.rolls()
	rolled := takerApp
	rolled.Health = "healthy"
	r.rolled = []platform.Instance{rolled}
	cur, next := manifestOf(v1, "stable"), manifestOf(v2, "stable")
	c := e.Begin(Release, cur, next, []platform.Instance{oldApp})
	if err := e.Release(context.Background(), c, cur, next, &fakeJudge{}); err != nil {
		t.Fatal(err)
	}
	if r.rolls != 1 || len(e.router.pins) != 0 || !slices.Equal(e.rt.retired, []string{"canary"}) {
		t.Errorf("rolls %d, pins %v, retired %v; want one roll, no pin, the canary retired", r.rolls, e.router.pins, e.rt.retired)
	}
	if !slices.Contains(e.files, "stable 2.0.0 canary 2.0.0 at 100%") {
		t.Errorf("files %v: the app was not rolled with the canary still routed at 100 %%", e.files)
	}
}

func TestARollTheRuntimeUndidDuringTheTakeoverAbortsTheRelease(t *testing.T) {
	e := newEngine(t, oldApp)
	e.rolls().rollErr = errors.Join(platform.ErrRolledBack, errors.New("task unhealthy"))
	cur, next := manifestOf(v1, "stable"), manifestOf(v2, "stable")
	c := e.Begin(Release, cur, next, []platform.Instance{oldApp})
	err := e.Release(context.Background(), c, cur, next, &fakeJudge{})
	wantErr(t, err, "release aborted", "rolled back")
	if !slices.Equal(e.rt.retired, []string{"canary"}) || e.state(t).Change != nil {
		t.Errorf("retired %v, change %+v; want the canary retired and nothing left", e.rt.retired, e.state(t).Change)
	}
}

func TestAChangeSaysWhatItIsForStatus(t *testing.T) {
	started := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	sw := Change{Action: Promote, Strategy: manifest.StrategySwitch, From: Side{v1, "stable"}, To: Side{v1, "canary"}, PID: 42, Started: started, Phase: Takeover}
	if got := sw.String(); got != "promote stable → canary (pid 42, started 12:00:00 UTC, takeover)" {
		t.Errorf("switch: %q", got)
	}
	rel := Change{Action: Release, Strategy: manifest.StrategyCanary, From: Side{v1, "stable"}, To: Side{v2, "stable"}, PID: 7, Started: started,
		Phase: Canary, Steps: []int{10, 50, 100}, Step: 1, Weight: 50}
	if got := rel.String(); got != "release 1.0.0 → 2.0.0 (pid 7, started 12:00:00 UTC, canary, step 2 of 3 at 50%)" {
		t.Errorf("release: %q", got)
	}
	if Describe(sw.From, sw.To) != "stable" || Describe(rel.To, rel.From) != "stable 2.0.0" {
		t.Errorf("describe: %q, %q", Describe(sw.From, sw.To), Describe(rel.To, rel.From))
	}
}
