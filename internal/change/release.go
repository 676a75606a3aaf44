package change

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
)

// Judge judges the steps of a canary release.
type Judge interface {
	// Begin marks the start of c's current step, just before nginx is
	// steered to its weight.
	Begin(c *Change)
	// Step holds c's current step while watching the canary and judges
	// it. An error ends the release as an abort.
	Step(ctx context.Context, c *Change) (Verdict, error)
}

// Verdict is a judged step.
type Verdict struct {
	Promote bool     // on to the next step; otherwise the release aborts
	Reasons []string // why not, for an abort
	// FirstBad is when nginx logged the canary's first failed request in
	// the step (zero: none).
	FirstBad time.Time
}

// ErrAbortRequested is why a release stops when a rollback asks it to.
var ErrAbortRequested = errors.New("`rollback` asked to abort the release")

// ErrAborted marks a release that stopped on a failed step or a failed
// canary: exit 3, like a denial, with stable serving.
var ErrAborted = fmt.Errorf("%w: release aborted", fail.ErrDenied)

// Aborted is a release that was aborted and undone: where it stopped and
// why.
type Aborted struct {
	Step, Steps, Weight int
	Reason              string
	From                manifest.Build
	// FirstBadToAbort is the time from the canary's first failed request
	// to its weight being 0; zero when no failed request was seen.
	FirstBadToAbort time.Duration
}

func (a *Aborted) Error() string {
	return fmt.Sprintf("%v at step %d of %d (%d%%): %s; %s serves all traffic, as before", ErrAborted, a.Step, a.Steps, a.Weight, a.Reason, a.From)
}

func (a *Aborted) Unwrap() error { return ErrAborted }

// Release moves the stack from what cur runs to what next runs step by
// step: the new build starts in canary mode beside the stable one, nginx
// sends it each step's share while judge judges the step, and once every
// step passed the new build takes over in stable mode by the same move as
// a switch. A failed step, a canary that dies or a rollback's request
// aborts: nginx back to the stable build at once, the canary removed,
// *Aborted returned. nginx logs every request meanwhile: c.Spans say which
// of them each step, the takeover or the abort is to answer for.
func (mv *Mover) Release(ctx context.Context, c *Change, cur, next *manifest.Manifest, judge Judge) error {
	if err := mv.save(c); err != nil {
		return err
	}
	stop, err := mv.record(c)
	defer stop()
	if err != nil {
		return mv.abort(ctx, c, cur, err.Error(), time.Time{})
	}
	if err := mv.startCanary(ctx, c, cur, next); err != nil {
		return mv.abort(ctx, c, cur, err.Error(), time.Time{})
	}
	for i, weight := range c.Steps {
		c.Step, c.Weight, c.Phase = i, weight, Canary
		c.open(PartStep, i+1, weight)
		// Saved before nginx changes, so that a kill in between is undone.
		if err := mv.save(c); err != nil {
			return mv.abort(ctx, c, cur, err.Error(), time.Time{})
		}
		judge.Begin(c)
		if err := mv.weigh(ctx, c, cur); err != nil {
			return mv.abort(ctx, c, cur, err.Error(), time.Time{})
		}
		mv.Out.Step("step %d of %d: the new build gets %d%% of requests for %ds", i+1, len(c.Steps), weight, next.Rollout.StepSeconds)
		v, err := judge.Step(ctx, c)
		if err != nil {
			return mv.abort(ctx, c, cur, err.Error(), v.FirstBad)
		}
		if !v.Promote {
			return mv.abort(ctx, c, cur, strings.Join(v.Reasons, "; "), v.FirstBad)
		}
	}
	return mv.takeover(ctx, c, cur, next)
}

// startCanary starts the new build in canary mode beside the stable one and
// waits until it is healthy; nginx does not know it yet (weight 0).
func (mv *Mover) startCanary(ctx context.Context, c *Change, cur, next *manifest.Manifest) error {
	if err := mv.Files(cur, c.Route()); err != nil {
		return err
	}
	mv.Out.Step("starting the new build %s in canary mode beside %s", c.To.Build, c.From.Build)
	waitCtx, cancel := context.WithTimeout(ctx, mv.HealthTimeout)
	defer cancel()
	started, err := mv.Runtime.StartBeside(waitCtx, platform.Canary)
	c.Canary = IDs(started)
	if saveErr := mv.save(c); saveErr != nil && err == nil {
		err = saveErr
	}
	if err != nil {
		return fmt.Errorf("the canary did not start: %w", err)
	}
	if len(started) != 1 {
		return fmt.Errorf("expected one canary, found %d", len(started))
	}
	return mv.waitNew(waitCtx, c, next, started[0], "the canary", nil)
}

// weigh makes nginx send the canary its weight, and waits until nginx's
// workers do.
func (mv *Mover) weigh(ctx context.Context, c *Change, cur *manifest.Manifest) error {
	if err := mv.Files(cur, c.Route()); err != nil {
		return err
	}
	start := time.Now()
	if err := mv.Router.Route(ctx, c.Route()); err != nil {
		return err
	}
	mv.Out.Info("nginx routes by the new weight %.1fs after it was set (no reload)", time.Since(start).Seconds())
	return nil
}

// takeover makes the new build the stable one once every step passed.
func (mv *Mover) takeover(ctx context.Context, c *Change, cur, next *manifest.Manifest) error {
	c.Phase = Takeover
	c.open(PartTakeover, 0, 0)
	if err := mv.save(c); err != nil {
		return mv.abort(ctx, c, cur, err.Error(), time.Time{})
	}
	if mv.Store.AbortRequested() {
		return mv.abort(ctx, c, cur, ErrAbortRequested.Error(), time.Time{})
	}
	mv.Out.Step("the new build passed every step: it takes over in %s mode", next.Services.Mode)
	if err := mv.move(ctx, c, cur, next); err != nil {
		if left := leftForNext(c, err); left != nil {
			return left
		}
		return mv.abort(ctx, c, cur, err.Error(), time.Time{})
	}
	return mv.finished(c)
}

// abort sends every request back to the stable build, removes the canary
// and whatever else the release started, and returns why (*Aborted, exit
// 3). firstBad is when nginx logged the canary's first failed request, if
// known.
func (mv *Mover) abort(ctx context.Context, c *Change, cur *manifest.Manifest, reason string, firstBad time.Time) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	mv.Out.Fail("release aborted at step %d of %d (%d%%): %s", c.Step+1, len(c.Steps), c.Weight, reason)
	c.open(PartAbort, 0, 0)
	stopped, err := mv.undo(ctx, c, cur)
	if err != nil {
		return fmt.Errorf("release aborted (%s), but it could not be undone: %w; run `rollback` to finish undoing it", reason, err)
	}
	a := &Aborted{Step: c.Step + 1, Steps: len(c.Steps), Weight: c.Weight, Reason: reason, From: c.From.Build}
	if !firstBad.IsZero() {
		a.FirstBadToAbort = stopped.Sub(firstBad)
		mv.Out.Info("%.1fs from the canary's first failed request to its weight being 0", a.FirstBadToAbort.Seconds())
	}
	return a
}
