package change

import (
	"context"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
)

// What a change cost clients is measured afterwards from nginx's release
// log, which nginx writes for every change (Router.Record), over the spans
// the engine marks as it goes: when each part began and ended, and when
// each build it retires stopped getting new requests from nginx. From that
// moment until the build is stopped it is retiring: a request that reaches
// it then is one the change should not have sent there.

// The parts of a change, each measured on its own (Span.Part).
const (
	PartSwitch   = "switch"   // a promote, a rollback or a release by switch: the whole move
	PartStep     = "step"     // one judged step of a canary release
	PartTakeover = "takeover" // the new build taking over once every step passed
	PartAbort    = "abort"    // a canary release aborted: the canary leaves
	PartUndo     = "undo"     // a switch that failed and was undone
)

// Span is one part of a change: what it is, and the stretch of nginx's log
// that is its own.
type Span struct {
	routelog.Span
	Part   string
	Step   int // 1-based, for a step
	Weight int // the canary's share, for a step
}

// open ends the part under way, if any, and begins part.
func (c *Change) open(part string, step, weight int) {
	now := time.Now()
	c.closeSpan(now)
	c.Spans = append(c.Spans, Span{Span: routelog.Span{From: now}, Part: part, Step: step, Weight: weight})
}

// closeSpan ends the part under way at now.
func (c *Change) closeSpan(now time.Time) {
	if n := len(c.Spans); n > 0 && c.Spans[n-1].To.IsZero() {
		c.Spans[n-1].To = now
	}
}

// retiring notes that nginx sends the instances no new request from now on:
// the part under way retires them.
func (c *Change) retiring(is []platform.Instance) {
	n := len(c.Spans)
	if n == 0 || len(is) == 0 {
		return
	}
	var addrs []string
	for _, i := range is {
		if i.Addr != "" {
			addrs = append(addrs, i.Addr)
		}
	}
	c.Spans[n-1].Retiring = append(c.Spans[n-1].Retiring, routelog.Retiring{Addrs: addrs, Since: time.Now()})
}

// retire notes, as c.retiring, the instances ids, by the address each has
// or, once it is gone (a canary that was killed), had when c saw it.
func (mv *Mover) retire(ctx context.Context, c *Change, ids []string) {
	var is []platform.Instance
	for _, id := range ids {
		i, err := mv.Runtime.Instance(ctx, id)
		if err != nil || i.Addr == "" {
			i = platform.Instance{ID: id, Addr: c.addrs[id]}
		}
		if i.Addr != "" {
			is = append(is, i)
		}
	}
	c.retiring(is)
}

// remember keeps the addresses of instances c started or replaces, for
// retire.
func (c *Change) remember(is []platform.Instance) {
	if c.addrs == nil {
		c.addrs = map[string]string{}
	}
	for _, i := range is {
		if i.Addr != "" {
			c.addrs[i.ID] = i.Addr
		}
	}
}

// record has nginx log every request of c from now on, emptying what an
// earlier change left, and returns what stops it once c is over: the
// part under way ends, and nginx stops logging. Recording that cannot start
// is only a warning for a switch (its cost goes unmeasured), and an error
// for a canary release, whose steps are judged from the log.
func (mv *Mover) record(c *Change) (stop func(), err error) {
	if err := mv.Router.Record(true); err != nil {
		if c.Stepped() {
			return func() {}, err
		}
		mv.Out.Warn("this %s's cost to clients will not be measured: %v", c.Action, err)
	}
	return func() {
		c.closeSpan(time.Now())
		mv.stopRecording()
	}, nil
}

// stopRecording has nginx stop logging every request.
func (mv *Mover) stopRecording() {
	if err := mv.Router.Record(false); err != nil {
		mv.Out.Warn("%v", err)
	}
}
