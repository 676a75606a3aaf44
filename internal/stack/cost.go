package stack

import (
	"context"
	"os"
	"strconv"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
	"github.com/swiftdeploy/swiftdeploy/internal/wait"
)

// changeCost measures what c cost clients from nginx's release log, which
// nginx wrote for it, over the parts the engine marked, prints it, and
// returns it for history: nil when c made no move (no part) or the log
// cannot be read. It waits for nginx's last buffered lines first.
func (s *Stack) changeCost(ctx context.Context, c *change.Change) *history.Cost {
	if len(c.Spans) == 0 {
		return nil
	}
	wait.Sleep(context.WithoutCancel(ctx), releaseLogFlush)
	f, err := os.Open(s.path(render.ReleaseLog))
	if err != nil {
		s.Out.Warn("what the %s cost clients is not known: %v", c.Action, err)
		return nil
	}
	defer f.Close()
	spans := make([]routelog.Span, len(c.Spans))
	for i, sp := range c.Spans {
		spans[i] = sp.Span
	}
	costs, err := routelog.Costs(f, spans)
	if err != nil {
		s.Out.Warn("what the %s cost clients is not known: read nginx's release log: %v", c.Action, err)
		return nil
	}
	cost := costRecord(c.Spans, costs)
	s.Out.Info("what the %s cost clients, from nginx's log: %d requests, %d failed by nginx (502, 504, or 499: the client gave up), %d reached a retiring build",
		c.Action, cost.Requests, cost.Failed, cost.ReachedRetiring)
	return cost
}

// costRecord is history's record of the costs of spans.
func costRecord(spans []change.Span, costs []routelog.Cost) *history.Cost {
	total := routelog.Sum(costs)
	out := &history.Cost{Requests: total.Requests, Failed: total.Failed, ReachedRetiring: total.Retiring}
	for status, n := range total.FailedBy {
		if out.FailedByStatus == nil {
			out.FailedByStatus = map[string]int{}
		}
		out.FailedByStatus[strconv.Itoa(status)] = n
	}
	for i, sp := range spans {
		part := history.CostPart{
			Part: sp.Part, Step: sp.Step, Weight: sp.Weight, Seconds: round(sp.To.Sub(sp.From).Seconds(), 2),
			Requests: costs[i].Requests, Failed: costs[i].Failed, ReachedRetiring: costs[i].Retiring,
		}
		for _, r := range sp.Retiring {
			part.Retired = append(part.Retired, history.Retired{Addresses: r.Addrs, AfterSeconds: round(r.Since.Sub(sp.From).Seconds(), 2)})
		}
		out.Parts = append(out.Parts, part)
	}
	return out
}
