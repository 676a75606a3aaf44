package audit

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
)

// maxCosts bounds the changes whose cost the report lists (the latest).
const maxCosts = 100

// costRow is one change and what it cost clients.
type costRow struct {
	at             time.Time
	change, result string
	cost           history.Cost
}

// costs keeps the latest maxCosts measured changes and adds every one up.
type costs struct {
	list                       []costRow
	dropped                    int
	measured, unmeasured       int
	requests, failed, retiring int
	failedBy                   map[string]int
}

// add notes a change that moved traffic (a switch made or undone, a
// release that ended): measured when it carries its cost, as SwiftDeploy
// records since it measures it.
func (c *costs) add(at time.Time, change, result string, cost *history.Cost) {
	if cost == nil {
		c.unmeasured++
		return
	}
	c.measured++
	c.requests += cost.Requests
	c.failed += cost.Failed
	c.retiring += cost.ReachedRetiring
	for status, n := range cost.FailedByStatus {
		if c.failedBy == nil {
			c.failedBy = map[string]int{}
		}
		c.failedBy[status] += n
	}
	if len(c.list) == maxCosts {
		c.list = c.list[1:]
		c.dropped++
	}
	c.list = append(c.list, costRow{at: at, change: change, result: result, cost: *cost})
}

// addSwitchCost notes a promote or a rollback that switched: made, or
// failed once it may have moved traffic (it carries a cost then).
func (c *collector) addSwitchCost(e event, change string, cost *history.Cost) {
	if e.result == "ok" || cost != nil {
		c.costs.add(e.at, e.name+" "+change, e.result, cost)
	}
}

// summary is the line that states the history's own zero-downtime figure.
func (c *costs) summary() string {
	if c.measured == 0 {
		return "none measured"
	}
	return fmt.Sprintf("%d failed%s, %d reached a retiring build, in %d changes measured (%d requests)",
		c.failed, byStatus(c.failedBy), c.retiring, c.measured, c.requests)
}

// byStatus is " (502 ×2, 499 ×1)", the largest first; "" for none.
func byStatus(counts map[string]int) string {
	if len(counts) == 0 {
		return ""
	}
	statuses := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(statuses))
	for i, s := range statuses {
		parts[i] = fmt.Sprintf("%s ×%d", s, counts[s])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func renderCosts(m md, c *costs) {
	m.line("### What each change cost clients")
	m.line("")
	m.line("From nginx's own log of every request during each switch and release: the requests nginx " +
		"answered 502 or 504, or whose client gave up (499), and those that reached a build after its " +
		"retirement began (nginx no longer sent it requests, and it was about to stop). A build's own " +
		"errors, such as chaos's 500s, are judged by the release policy and not counted here.")
	m.line("")
	if c.measured == 0 && c.unmeasured == 0 {
		m.line("No change moved traffic.")
		m.line("")
		return
	}
	switch {
	case c.measured == 0:
	case c.failed == 0 && c.retiring == 0:
		m.line("**Zero downtime: %s.**", c.summary())
		m.line("")
	default:
		m.line("**%s.**", c.summary())
		m.line("")
	}
	if c.unmeasured > 0 {
		m.line("%s recorded without their cost (by a SwiftDeploy that did not measure it).", plural(c.unmeasured, "change was", "changes were"))
		m.line("")
	}
	if c.measured == 0 {
		return
	}
	if c.dropped > 0 {
		m.line("The last %d measured changes are listed.", len(c.list))
		m.line("")
	}
	m.table("Time (UTC)", "Change", "Result", "Part", "Seconds", "Requests", "Failed (502, 504, 499)", "Reached a retiring build")
	for _, r := range c.list {
		when, change, result := r.at.Format(timeLayout), r.change, r.result
		failed := strconv.Itoa(r.cost.Failed) + byStatus(r.cost.FailedByStatus)
		if len(r.cost.Parts) == 1 {
			p := r.cost.Parts[0]
			m.row(when, change, result, partName(p), number(p.Seconds), strconv.Itoa(p.Requests), failed, strconv.Itoa(p.ReachedRetiring))
			continue
		}
		for _, p := range r.cost.Parts {
			m.row(when, change, result, partName(p), number(p.Seconds), strconv.Itoa(p.Requests), strconv.Itoa(p.Failed), strconv.Itoa(p.ReachedRetiring))
			when, change, result = "", "", ""
		}
		m.row(when, change, result, "all", "", strconv.Itoa(r.cost.Requests), failed, strconv.Itoa(r.cost.ReachedRetiring))
	}
	m.line("")
}

// partName is "step 2 (50%)", or the part's own name.
func partName(p history.CostPart) string {
	if p.Part == "step" {
		return fmt.Sprintf("step %d (%d%%)", p.Step, p.Weight)
	}
	return p.Part
}

// plural is "1 change was" or "3 changes were".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
