package change

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
	"github.com/swiftdeploy/swiftdeploy/internal/wait"
)

// Router is what the engine needs from nginx's steering (router.Router):
// pins of the app's name to instances, a graceful reread of the generated
// routing, and confirmation that nginx answers from where it was sent.
type Router interface {
	Pin(apps []platform.Instance) error
	Unpin() error
	// Follow waits until nginx must have followed the last pin.
	Follow(ctx context.Context)
	FollowTime() time.Duration
	Confirm(ctx context.Context, apps []platform.Instance, want router.Expect) error
	MoveTo(ctx context.Context, apps []platform.Instance, want router.Expect) error
	Route(ctx context.Context, rel *render.Release) error
	// Record starts (emptying what an earlier change left) or stops
	// nginx's log of every request.
	Record(on bool) error
	// RouteConfirmed is Route, then Confirm of the instances apps lists
	// (asked once nginx took the routing) answering as want.
	RouteConfirmed(ctx context.Context, rel *render.Release, want router.Expect, apps func(context.Context) []platform.Instance) error
}

// Files renders and writes the generated files for m, with the canary's
// route when route is not nil.
type Files func(m *manifest.Manifest, route *render.Release) error

// Recorder appends an event to the stack's history.
type Recorder func(event string, payload any)

// Grace is how long a replaced instance gets to finish its in-flight
// requests.
const Grace = 15 * time.Second

// Mover carries changes out on one stack.
type Mover struct {
	Runtime platform.Runtime
	Router  Router
	Store   *Store
	Files   Files
	Out     *ui.Printer
	Record  Recorder
	// Health fills in the health of an instance the runtime cannot judge
	// (its image has no healthcheck command) by asking it directly.
	Health func(ctx context.Context, m *manifest.Manifest, i platform.Instance) platform.Instance
	// Describe prints an instance's state and last log lines, when a
	// change fails because of it.
	Describe func(ctx context.Context, i platform.Instance)
	// SetMode writes the app's mode into the operator's manifest once a
	// change of mode is finished.
	SetMode func(mode string) error
	Now     func() time.Time
	// HealthTimeout bounds how long a new instance may take to turn healthy.
	HealthTimeout time.Duration
}

// Begin is a new change from what cur runs to what next runs, started now
// by this process, serving on old.
func (mv *Mover) Begin(action string, cur, next *manifest.Manifest, old []platform.Instance) *Change {
	c := &Change{Action: action, Strategy: manifest.StrategySwitch, From: SideOf(cur), To: SideOf(next), Phase: Starting,
		PID: os.Getpid(), Started: mv.Now().UTC(), Old: IDs(old)}
	if action == Release {
		c.Strategy, c.Steps, c.Sticky = next.Rollout.Strategy, next.Rollout.Steps, next.Rollout.Sticky
	}
	return c
}

// save records c as the change under way.
func (mv *Mover) save(c *Change) error { return mv.Store.Set(c) }

// strategy is how the runtime replaces the app's instances: beside the old
// ones, or rolled by the runtime itself.
func (mv *Mover) strategy() strategy {
	if roller, ok := mv.Runtime.(platform.Roller); ok {
		return rolling{mv: mv, roller: roller}
	}
	return beside{mv: mv}
}

// Switch moves all traffic at once from what cur runs to what next runs
// (another mode, or another build): the new instances start and turn
// healthy while the old ones serve, nginx moves to them, then the old ones
// drain and stop; nginx never restarts. If anything fails before nginx
// moved for good, the old instances keep serving and the generated files
// describe cur again. nginx logs every request meanwhile: c.Spans say
// which of them the change is to answer for.
func (mv *Mover) Switch(ctx context.Context, c *Change, cur, next *manifest.Manifest) error {
	stop, _ := mv.record(c)
	defer stop()
	c.open(PartSwitch, 0, 0)
	if err := mv.move(ctx, c, cur, next); err != nil {
		return mv.undoOrSay(ctx, c, cur, err)
	}
	return mv.finished(c)
}

// move is the move every change ends with: the generated files describe
// next, the strategy starts next's instances in place of the old ones and
// steers nginx to them, nginx's routing is steadied (a canary release's
// route goes) and confirmed from them, the change is marked moved, and the
// old instances and any canary drain and stop.
func (mv *Mover) move(ctx context.Context, c *Change, cur, next *manifest.Manifest) error {
	if err := mv.Files(next, c.Route()); err != nil {
		return err
	}
	if err := mv.save(c); err != nil {
		return err
	}
	started, err := mv.strategy().replace(ctx, c, cur, next)
	if err != nil {
		return err
	}
	if c.Stepped() {
		if err := mv.Files(next, nil); err != nil {
			return err
		}
		if err := mv.Router.RouteConfirmed(ctx, nil, router.Serving(next), func(context.Context) []platform.Instance { return started }); err != nil {
			return err
		}
		mv.retire(ctx, c, c.Canary)
	} else if err := mv.Router.Confirm(ctx, started, router.Serving(next)); err != nil {
		return err
	}
	if !c.healthyAt.IsZero() {
		mv.Out.Info("nginx moved to the new app %.1fs after it turned healthy", time.Since(c.healthyAt).Seconds())
	}
	// From here on the change is finished, not undone, should this command
	// stop: see Recover.
	c.Phase = Moved
	if err := mv.save(c); err != nil {
		return err
	}
	return mv.retireReplaced(ctx, c)
}

// finished records a finished change: the operator's manifest takes a new
// mode, a release leaves the build it replaced for `rollback`, a rollback
// to that build forgets it, and no change is under way any more.
func (mv *Mover) finished(c *Change) error {
	if c.From.Mode != c.To.Mode {
		if err := mv.SetMode(c.To.Mode); err != nil {
			return fmt.Errorf("the app now runs in %s mode but the manifest could not be updated: %w", c.To.Mode, err)
		}
	}
	return mv.Store.Update(func(st *State) {
		st.Change = nil
		switch {
		case c.Action == Release:
			st.Previous = &c.From.Build
		case c.Action == Rollback && c.From.Build != c.To.Build:
			st.Previous = nil
		}
	})
}

// retireReplaced drains and stops every instance of the app not in c.New,
// and every canary, once nginx sends everything to c.New; then lets the
// runtime's DNS answer again.
func (mv *Mover) retireReplaced(ctx context.Context, c *Change) error {
	if len(c.Old) > 0 || len(c.Canary) > 0 {
		mv.Out.Step("nginx sends every request to the %s app now; draining and stopping the %s app", Describe(c.To, c.From), Describe(c.From, c.To))
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Grace+30*time.Second)
	defer cancel()
	var ids []string
	for _, role := range []platform.Role{platform.App, platform.Canary} {
		all, err := mv.Runtime.Instances(stopCtx, role)
		if err != nil {
			return err
		}
		for _, i := range all {
			if role == platform.Canary || !slices.Contains(c.New, i.ID) {
				ids = append(ids, i.ID)
			}
		}
	}
	if len(ids) > 0 {
		if err := mv.Runtime.Retire(stopCtx, Grace, ids...); err != nil {
			return err
		}
	}
	// The runtime's own DNS now lists the new instances alone, as the pin
	// does.
	return mv.Router.Unpin()
}

// undoOrSay undoes c, returning why it was undone, or, when the undo
// failed too, what is left for the next command.
func (mv *Mover) undoOrSay(ctx context.Context, c *Change, cur *manifest.Manifest, reason error) error {
	if left := leftForNext(c, reason); left != nil {
		return left
	}
	c.open(PartUndo, 0, 0)
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if _, err := mv.undo(cleanup, c, cur); err != nil {
		return fmt.Errorf("%w; and it could not be undone (%v): the next deploy or rollback will finish or undo it", reason, err)
	}
	return fmt.Errorf("%w; traffic stays on the %s app", reason, Describe(c.From, c.To))
}

// leftForNext is the error for a change that must not be undone now, nil
// for one that may be: from Moved on a change is finished, never undone,
// and a runtime still rolling the app decides by itself where it ends.
func leftForNext(c *Change, reason error) error {
	switch {
	case c.Phase == Moved:
		return fmt.Errorf("%w; nginx already serves the %s app: the next deploy or rollback finishes the change", reason, Describe(c.To, c.From))
	case errors.Is(reason, errUnsettled):
		return reason
	}
	return nil
}

// undo returns the stack to what cur runs, on the instances c.Old: nginx
// first (pinned back to them, or its canary routing steadied), then the new
// side's instances go (drained once nginx may have known them, removed at
// once otherwise), then the state says no change. It returns when nginx
// stopped sending requests to the new side.
func (mv *Mover) undo(ctx context.Context, c *Change, cur *manifest.Manifest) (time.Time, error) {
	steered := c.Phase == Takeover || c.Phase == Moved
	var old []platform.Instance
	if steered {
		// nginx may be sending requests to the new instances: back to the
		// old ones first.
		var err error
		if old, err = mv.strategy().steerBack(ctx, c); err != nil {
			return time.Time{}, err
		}
		mv.retire(ctx, c, c.New)
	}
	if err := mv.Files(cur, nil); err != nil {
		return time.Time{}, err
	}
	var stopped time.Time
	switch {
	case c.Stepped():
		// Always reread: a command killed between writing its state and
		// steering nginx may have left nginx routing to the canary. Seen
		// from nginx too, before the canary goes: every answer from the
		// stable build, through the pool clients' requests go to.
		stable := func(ctx context.Context) []platform.Instance {
			if old == nil {
				old, _ = Instances(ctx, mv.Runtime, platform.App, c.Old)
			}
			return old
		}
		if err := mv.Router.RouteConfirmed(ctx, nil, router.Serving(cur), stable); err != nil {
			return time.Time{}, fmt.Errorf("nginx could not be moved back to %s: %w", c.From.Build, err)
		}
		stopped = time.Now()
		mv.retire(ctx, c, c.Canary)
	case steered:
		if err := mv.Router.Confirm(ctx, old, router.Serving(cur)); err != nil {
			return time.Time{}, fmt.Errorf("nginx could not be moved back to the %s app: %w", Describe(c.From, c.To), err)
		}
	}
	if stopped.IsZero() {
		stopped = time.Now()
	}
	// What failed says why, before it goes.
	for _, i := range c.started(ctx, mv.Runtime) {
		if !i.Running() || i.Health != "healthy" {
			mv.Describe(ctx, i)
		}
	}
	if c.Stepped() {
		mv.Out.Step("nginx sends every request to %s again; removing the new build", c.From.Build)
	} else {
		mv.Out.Step("nginx sends every request to the %s app again; removing the %s one", Describe(c.From, c.To), Describe(c.To, c.From))
	}
	if err := mv.strategy().removeNew(ctx, c); err != nil {
		return stopped, err
	}
	if err := mv.Router.Unpin(); err != nil {
		return stopped, err
	}
	return stopped, mv.save(nil)
}

// Instances reads the running instances of role among ids; none is an
// error.
func Instances(ctx context.Context, rt platform.Runtime, role platform.Role, ids []string) ([]platform.Instance, error) {
	all, err := rt.Instances(ctx, role)
	if err != nil {
		return nil, err
	}
	out := among(all, ids)
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s of %v is running", role, ids)
	}
	return out, nil
}

// started lists what c started, as the runtime sees it now.
func (c *Change) started(ctx context.Context, rt platform.Runtime) []platform.Instance {
	var out []platform.Instance
	for _, id := range append(append([]string{}, c.Canary...), c.New...) {
		if i, err := rt.Instance(ctx, id); err == nil {
			out = append(out, i)
		}
	}
	return out
}

// waitNew waits until the new instance is healthy, calls pin to send
// nginx's traffic to it (nil: nginx is not sent there yet), then waits until
// every nginx worker must be using the pinned addresses, watching the new
// instance all along: if it exits or turns unhealthy, the wait fails.
func (mv *Mover) waitNew(ctx context.Context, c *Change, m *manifest.Manifest, i platform.Instance, what string, pin func(platform.Instance) error) error {
	var pinnedAt time.Time
	follow := mv.Router.FollowTime()
	_, err := wait.For(ctx, mv.Out, what+" ("+i.Name+")", 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		if c.Stepped() && mv.Store.AbortRequested() {
			return false, "", ErrAbortRequested
		}
		got, err := mv.Runtime.Instance(ctx, i.ID)
		if err != nil {
			return false, "", fmt.Errorf("%s %s disappeared: %v", what, i.Name, err)
		}
		got = mv.Health(ctx, m, got)
		c.remember([]platform.Instance{got})
		if pin == nil {
			follow = 0
		}
		step, status, err := switchStep(got, pinnedAt, time.Now(), follow)
		if step == pinNew {
			if pin == nil {
				return true, "", nil
			}
			if err := pin(got); err != nil {
				return false, "", err
			}
			pinnedAt = time.Now()
		}
		return step == takenOver, status, err
	})
	return err
}

// A new instance moves through these steps once it has started.
type step int

const (
	waitHealthy step = iota // its healthcheck has not passed yet
	pinNew                  // healthy: point nginx at it now
	waitNginx               // pinned: nginx may still use the old addresses
	takenOver               // every nginx worker uses it: the old may stop
)

// switchStep says where a new instance stands at now, given the instance
// as the runtime reports it and when nginx was pointed at it (zero: not
// yet). The old instances may be stopped only once nginx has re-resolved
// the app's name since the pin: until then a worker may still send
// requests to the old ones alone, and stopping them would fail them. An
// exited or unhealthy instance is an error.
func switchStep(i platform.Instance, pinnedAt, now time.Time, follow time.Duration) (step, string, error) {
	switch {
	case i.State == "exited" || i.State == "dead":
		return waitHealthy, "", fmt.Errorf("the new app %s exited with code %d", i.Name, i.ExitCode)
	case i.Health == "unhealthy":
		return waitHealthy, "", fmt.Errorf("the new app %s is unhealthy", i.Name)
	case i.Health != "healthy":
		return waitHealthy, i.State + ", " + i.Health, nil
	case pinnedAt.IsZero():
		return pinNew, "healthy", nil
	}
	left := pinnedAt.Add(follow).Sub(now)
	if left <= 0 {
		return takenOver, "", nil
	}
	return waitNginx, fmt.Sprintf("healthy; giving nginx %.1fs more to move to it", left.Seconds()), nil
}
