// Package change is SwiftDeploy's change engine: the one state machine that
// carries every change of the running app — promote, rollback, a release by
// switch or by canary steps — from the instances serving before to the ones
// serving after, with no failed request.
//
// A change is always the same move: start the new instances beside the old
// ones (or have a runtime that rolls do it, one at a time), wait until they
// are healthy, steer nginx to them, confirm through nginx that it answers
// from them, then retire the old ones after a grace to drain. A canary
// release puts a loop of judged steps before that move. Every phase is
// written down (Store) before it is entered, so that one undo and one
// recovery, shared by all changes, finish or undo what a killed command
// left.
//
// The engine takes narrow collaborators (a runtime, a router, a store, a
// renderer, a printer, a recorder); it never sees the stack's commands.
package change

import (
	"fmt"
	"slices"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Actions: what the operator asked for.
const (
	Promote  = "promote"
	Rollback = "rollback"
	Release  = "release"
)

// Phase is where a change stands; each is recorded before it is entered.
type Phase string

// The phases, in order. A switch goes Starting, Takeover, Moved; a canary
// release goes Starting, Canary (once per step), Takeover, Moved.
const (
	// Starting: new instances may run; nginx sends every request to the
	// old ones. Undo removes the new ones at once.
	Starting Phase = "starting"
	// Canary: nginx sends the canary build Weight percent of requests.
	Canary Phase = "canary"
	// Takeover: the new instances are taking over; nginx may send them
	// requests. Undo steers nginx back to the old ones first, then lets the
	// new ones drain.
	Takeover Phase = "takeover"
	// Moved: nginx sends every request to the new instances; the old ones
	// may still run. From here the change is finished, never undone.
	Moved Phase = "moved"
)

// Side is one end of a change: the build the app runs and its mode.
type Side struct {
	Build manifest.Build `json:"build"`
	Mode  string         `json:"mode"`
}

// Of is m running this side.
func (s Side) Of(m *manifest.Manifest) *manifest.Manifest {
	c := m.WithBuild(s.Build)
	c.Services.Mode = s.Mode
	return c
}

// SideOf is the side m runs.
func SideOf(m *manifest.Manifest) Side { return Side{Build: m.Build(), Mode: m.Services.Mode} }

// Change is one change under way, as the state file records it: what moves
// where, the phase it is in, the step of a canary release, and the
// instances of each side, so that status can show it and the next command
// can finish or undo it should this one be killed.
type Change struct {
	Action string `json:"action"` // Promote, Rollback or Release
	// Strategy is manifest.StrategySwitch (all traffic moves at once) or
	// manifest.StrategyCanary (judged steps first).
	Strategy string    `json:"strategy"`
	From     Side      `json:"from"` // what served before
	To       Side      `json:"to"`   // what serves after
	Phase    Phase     `json:"phase"`
	Steps    []int     `json:"steps,omitempty"`
	Step     int       `json:"step"`   // index in Steps of the step under way
	Weight   int       `json:"weight"` // the canary's share of requests now
	Sticky   bool      `json:"sticky,omitempty"`
	PID      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Old      []string  `json:"old"`              // instances serving before
	Canary   []string  `json:"canary,omitempty"` // the new build in canary mode
	New      []string  `json:"new,omitempty"`    // instances serving after
	// Spans are the change's parts as the command that makes it marks
	// them, for its cost to clients (not recorded in the state file).
	Spans []Span `json:"-"`
	// healthyAt is when the new instance turned healthy, in the command
	// that moves to it.
	healthyAt time.Time
	// addrs are the addresses of the instances the command saw, by id.
	addrs map[string]string
}

// Stepped reports whether the change is a canary release: nginx routes a
// share of requests to a canary build, and its routing must be steadied
// again whatever happens.
func (c *Change) Stepped() bool { return c.Strategy == manifest.StrategyCanary }

// Route is what nginx is told about the canary: nil outside a canary
// release.
func (c *Change) Route() *render.Release {
	if !c.Stepped() {
		return nil
	}
	return &render.Release{Canary: c.To.Build, Weight: c.Weight, Sticky: c.Sticky}
}

func (c Change) String() string {
	started := c.Started.UTC().Format("15:04:05")
	if c.Stepped() {
		return fmt.Sprintf("release %s → %s (pid %d, started %s UTC, %s, step %d of %d at %d%%)", c.From.Build.Version, c.To.Build.Version,
			c.PID, started, c.Phase, c.Step+1, len(c.Steps), c.Weight)
	}
	return fmt.Sprintf("%s %s → %s (pid %d, started %s UTC, %s)", c.Action, c.From.Mode, c.To.Mode, c.PID, started, c.Phase)
}

// Describe names the app a side runs, as told apart from the other side:
// by version when the builds differ, by mode otherwise.
func Describe(side, other Side) string {
	if side.Build != other.Build {
		return fmt.Sprintf("%s %s", side.Mode, side.Build.Version)
	}
	return side.Mode
}

// IDs are the ids of instances.
func IDs(is []platform.Instance) []string {
	ids := make([]string, len(is))
	for n, i := range is {
		ids[n] = i.ID
	}
	return ids
}

// among are the running instances whose id is in ids.
func among(all []platform.Instance, ids []string) []platform.Instance {
	var out []platform.Instance
	for _, i := range all {
		if i.Running() && slices.Contains(ids, i.ID) {
			out = append(out, i)
		}
	}
	return out
}
