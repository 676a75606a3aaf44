package change

import (
	"context"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
)

// Recovered is what Recover did with a change a killed command left.
const (
	Finished = "finished"
	Undone   = "undone"
)

// Recover finishes or undoes c, a change that a killed command left
// half-done (it is called with the stack's lock held, so that command
// cannot still be running), with no failed request, and says which it did.
// Before nginx moved to the new side for good the change is undone and the
// old side keeps serving; after, or when the old side is gone, it is
// finished. m is the operator's manifest, for everything c does not say.
func (mv *Mover) Recover(ctx context.Context, c *Change, m *manifest.Manifest) (string, error) {
	mv.Out.Warn("found an interrupted %s", c)
	// The killed command left nginx logging every request.
	defer mv.stopRecording()
	fillLegacy(c, m)
	cur, next := c.From.Of(m), c.To.Of(m)
	finish, serving, err := mv.strategy().outcome(ctx, c)
	if err != nil {
		return "", err
	}
	result := Undone
	if finish {
		result = Finished
		if err := mv.finish(ctx, c, next, serving); err != nil {
			return "", err
		}
		mv.Out.OK("finished the interrupted %s: the %s app serves alone", c.Action, Describe(c.To, c.From))
	} else {
		if _, err := mv.undo(ctx, c, cur); err != nil {
			return "", err
		}
		mv.Out.OK("undid the interrupted %s: the %s app serves alone, as before", c.Action, Describe(c.From, c.To))
	}
	// A switch is told by its modes, a canary release by its versions.
	from, to := c.From.Mode, c.To.Mode
	if c.Stepped() {
		from, to = c.From.Build.Version, c.To.Build.Version
	}
	mv.Record(history.EventRecover, history.Recover{Action: c.Action, From: from, To: to, Phase: string(c.Phase), PID: c.PID, Result: result})
	return result, nil
}

// finish completes c on serving, the instances of its new side: nginx's
// routing steadied and moved to them (it may not have followed the last
// pin before the command was killed), everything else retired.
func (mv *Mover) finish(ctx context.Context, c *Change, next *manifest.Manifest, serving []platform.Instance) error {
	if err := mv.Files(next, nil); err != nil {
		return err
	}
	if c.Stepped() {
		if err := mv.Router.Route(ctx, nil); err != nil {
			return err
		}
	}
	if err := mv.Router.MoveTo(ctx, serving, router.Serving(next)); err != nil {
		return err
	}
	c.New, c.Phase = IDs(serving), Moved
	if err := mv.save(c); err != nil {
		return err
	}
	if err := mv.retireReplaced(ctx, c); err != nil {
		return err
	}
	return mv.finished(c)
}

// fillLegacy completes a change recorded by a SwiftDeploy before the
// change engine, which named builds by version only, and only when they
// differed: the rest is the manifest's.
func fillLegacy(c *Change, m *manifest.Manifest) {
	for _, side := range []*Side{&c.From, &c.To} {
		if side.Build.Image == "" {
			side.Build.Image = m.Services.Image
		}
		if side.Build.Version == "" {
			side.Build.Version = m.Services.Version
		}
	}
}
