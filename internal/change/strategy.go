package change

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/wait"
)

// strategy is how the runtime replaces the app's instances. It is chosen
// once, by the mover, from what the runtime can do: the callers of the
// engine never ask.
type strategy interface {
	// replace starts the instances next describes in place of c.Old and
	// steers nginx to them (c.New, phase Takeover), returning them.
	replace(ctx context.Context, c *Change, cur, next *manifest.Manifest) ([]platform.Instance, error)
	// steerBack sends nginx back to the old side's instances, once it may
	// have sent requests to the new side, and returns them.
	steerBack(ctx context.Context, c *Change) ([]platform.Instance, error)
	// removeNew removes what c started on the new side, once nginx no
	// longer sends it requests.
	removeNew(ctx context.Context, c *Change) error
	// outcome says, for a change a killed command left, whether it is to
	// be finished (on the instances returned) or undone.
	outcome(ctx context.Context, c *Change) (finish bool, serving []platform.Instance, err error)
}

// beside starts a new instance beside the old ones (compose): the stack's
// resolver keeps nginx on the old ones (a pin) until the new one is
// healthy, then pins it.
type beside struct{ mv *Mover }

func (b beside) replace(ctx context.Context, c *Change, cur, next *manifest.Manifest) ([]platform.Instance, error) {
	mv := b.mv
	old, err := Instances(ctx, mv.Runtime, platform.App, c.Old)
	if err != nil {
		return nil, err
	}
	// The runtime's DNS names every app instance as soon as it starts: the
	// pin keeps nginx on the old ones while the new one is still starting.
	if err := mv.Router.Pin(old); err != nil {
		return nil, err
	}
	mv.Out.Step("starting a %s app beside the running %s one", Describe(c.To, c.From), Describe(c.From, c.To))
	waitCtx, cancel := context.WithTimeout(ctx, mv.HealthTimeout)
	defer cancel()
	started, err := mv.Runtime.StartBeside(waitCtx, platform.App)
	// Recorded also when starting failed part-way, so that it is removed.
	c.New = IDs(started)
	if saveErr := mv.save(c); saveErr != nil && err == nil {
		err = saveErr
	}
	if err != nil {
		return nil, err
	}
	if len(started) != 1 {
		return nil, fmt.Errorf("expected one new app, found %d", len(started))
	}
	pin := func(i platform.Instance) error {
		c.healthyAt = time.Now()
		if err := mv.Router.Pin([]platform.Instance{i}); err != nil {
			return err
		}
		c.Phase = Takeover
		return mv.save(c)
	}
	if err := mv.waitNew(waitCtx, c, next, started[0], "the new app", pin); err != nil {
		return nil, err
	}
	// Every nginx worker sends requests to the new app alone now.
	c.retiring(old)
	return started, nil
}

func (b beside) steerBack(ctx context.Context, c *Change) ([]platform.Instance, error) {
	old, err := Instances(ctx, b.mv.Runtime, platform.App, c.Old)
	if err != nil {
		return nil, err
	}
	if err := b.mv.Router.Pin(old); err != nil {
		return nil, err
	}
	b.mv.Router.Follow(ctx)
	return old, nil
}

// removeNew removes every canary and every app instance not in c.Old: what
// the change started, recorded or not (a command killed before it could
// write down what it started). Once nginx may have sent them requests they
// get their grace to drain.
func (b beside) removeNew(ctx context.Context, c *Change) error {
	return b.mv.removeOthers(ctx, c, []platform.Role{platform.Canary, platform.App})
}

func (b beside) outcome(ctx context.Context, c *Change) (bool, []platform.Instance, error) {
	apps, err := b.mv.Runtime.Instances(ctx, platform.App)
	if err != nil {
		return false, nil, err
	}
	old, started := among(apps, c.Old), among(apps, c.New)
	finish := c.Phase == Moved || len(old) == 0
	if finish && len(started) == 0 {
		return false, nil, fmt.Errorf("an interrupted %s left neither the old nor the new app running: run `teardown`, then `deploy`", c)
	}
	return finish, started, nil
}

// removeOthers removes the instances of roles that are canaries or not in
// c.Old.
func (mv *Mover) removeOthers(ctx context.Context, c *Change, roles []platform.Role) error {
	var ids []string
	for _, role := range roles {
		all, err := mv.Runtime.Instances(ctx, role)
		if err != nil {
			return err
		}
		for _, i := range all {
			if role == platform.Canary || !slices.Contains(c.Old, i.ID) {
				ids = append(ids, i.ID)
			}
		}
	}
	switch {
	case len(ids) == 0:
		return nil
	case c.Phase == Starting:
		// nginx never knew them.
		return mv.Runtime.Remove(ctx, ids...)
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Grace+30*time.Second)
	defer cancel()
	return mv.Runtime.Retire(stopCtx, Grace, ids...)
}

// rolling has a runtime that replaces instances itself (swarm) roll the
// app's instances, one at a time, each new one ready before an old one
// stops; nginx learns each new address from the runtime's DNS.
type rolling struct {
	mv     *Mover
	roller platform.Roller
}

// errUnsettled marks a roll the runtime has not finished: it goes on by
// itself, and the next command finishes or undoes the change once it has
// settled.
var errUnsettled = errors.New("the runtime is still replacing the app's instances")

func (r rolling) replace(ctx context.Context, c *Change, cur, next *manifest.Manifest) ([]platform.Instance, error) {
	mv := r.mv
	mv.Out.Step("replacing the %s app's %d task(s) with %s ones, one at a time: each new task is ready before an old one stops", Describe(c.From, c.To), next.Services.Replicas, Describe(c.To, c.From))
	// Each task: its start and health, then the pause that lets nginx learn it.
	follow := mv.Router.FollowTime()
	limit := mv.HealthTimeout + time.Duration(next.Services.Replicas)*(follow+Grace)
	waitCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	old, _ := Instances(ctx, mv.Runtime, platform.App, c.Old)
	if err := r.roller.Roll(waitCtx, platform.App); err != nil {
		if errors.Is(err, platform.ErrRolledBack) {
			return nil, fmt.Errorf("%w; the runtime put the %s app back", err, Describe(c.From, c.To))
		}
		return nil, fmt.Errorf("%w (%w): the next deploy or rollback finishes or undoes the change once it has settled", errUnsettled, err)
	}
	// The last old instance stopped just now, maybe before nginx learnt the
	// newest one's address: until it has, one instance carries the traffic.
	wait.Sleep(waitCtx, follow)
	// The runtime stopped each old task after its successor was ready;
	// nginx must have left the last of them by now.
	c.retiring(old)
	rolled, err := r.running(ctx, c.To)
	if err != nil {
		return nil, err
	}
	// Only another roll could undo it now: the change is to be finished.
	c.New, c.Phase = IDs(rolled), Moved
	return rolled, mv.save(c)
}

// steerBack finds the old side's instances, which nginx reaches through the
// runtime's DNS: there is nothing to pin.
func (r rolling) steerBack(ctx context.Context, c *Change) ([]platform.Instance, error) {
	return r.running(ctx, c.From)
}

// removeNew removes the canaries: a roll of the app that failed was undone
// by the runtime itself, with instances of its own.
func (r rolling) removeNew(ctx context.Context, c *Change) error {
	return r.mv.removeOthers(ctx, c, []platform.Role{platform.Canary})
}

// outcome waits until the runtime has settled the app (a roll a killed
// command started goes on without it), then finishes the change if every
// running instance runs the new side, or undoes it if every one runs the
// old side.
func (r rolling) outcome(ctx context.Context, c *Change) (bool, []platform.Instance, error) {
	r.mv.Out.Step("waiting until the runtime has settled the app's instances")
	if err := r.roller.Settle(ctx, platform.App); err != nil {
		return false, nil, err
	}
	all, err := platform.Running(ctx, r.mv.Runtime, platform.App)
	if err != nil {
		return false, nil, err
	}
	rolled, err := r.running(ctx, c.To)
	if err != nil {
		return false, nil, err
	}
	switch {
	case len(all) > 0 && len(rolled) == len(all):
		return true, rolled, nil
	case len(rolled) == 0 && len(all) > 0:
		return false, nil, nil
	}
	return false, nil, fmt.Errorf("an interrupted %s left %d of %d app instances on the new side: run `deploy` again once the runtime has settled", c, len(rolled), len(all))
}

// running lists the running app instances of side.
func (r rolling) running(ctx context.Context, side Side) ([]platform.Instance, error) {
	all, err := platform.Running(ctx, r.mv.Runtime, platform.App)
	if err != nil {
		return nil, err
	}
	var out []platform.Instance
	for _, a := range all {
		if a.Mode == side.Mode && a.Build() == side.Build {
			out = append(out, a)
		}
	}
	return out, nil
}
