package audit

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	timeLayout    = "2006-01-02 15:04:05"
	maxSkipsShown = 20
)

// md writes Markdown; bufio.Writer keeps the first write error for Flush.
type md struct{ w *bufio.Writer }

func (m md) line(format string, args ...any) { fmt.Fprintf(m.w, format+"\n", args...) }

// table writes a header row and its delimiter row.
func (m md) table(headers ...string) {
	m.line("| %s |", strings.Join(headers, " | "))
	m.line("|%s", strings.Repeat(" --- |", len(headers)))
}

// row writes one table row, escaping every cell.
func (m md) row(cells ...string) {
	for i, c := range cells {
		cells[i] = cell(c)
	}
	m.line("| %s |", strings.Join(cells, " | "))
}

func render(w *bufio.Writer, c *collector, stats Stats, opt Options) {
	m := md{w}
	m.line("# SwiftDeploy audit report")
	m.line("")
	m.line("- Generated at: %s UTC", opt.Now.UTC().Format(timeLayout))
	m.line("- Source: %s", cell(opt.Source))
	if c.events == 0 {
		m.line("- Period covered: none, the history holds no events")
	} else {
		m.line("- Period covered: %s → %s UTC (%s)", c.first.Format(timeLayout), c.last.Format(timeLayout), c.last.Sub(c.first).Round(time.Second))
	}
	m.line("")
	renderSummary(m, c, stats)
	renderTimeline(m, &c.timeline)
	renderReleases(m, &c.releases, &c.costs)
	renderViolations(m, &c.violations)
	renderChart(m, &c.chart)
	renderSkips(m, stats)
}

func renderSummary(m md, c *collector, stats Stats) {
	m.line("## Summary")
	m.line("")
	m.table("What", "Count")
	counts := []struct {
		what string
		n    string
	}{
		{"Events", strconv.Itoa(c.events)},
		{"Deploys", c.deploys.String()},
		{"Promotions", c.promotions.String()},
		{"Rollbacks", c.rollbacks.String()},
		{"Releases", strconv.Itoa(c.releases.total)},
		{"What changes cost clients (nginx's failures, requests to a retiring build)", c.costs.summary()},
		{"Blocked actions (deploy_blocked, promote_blocked)", strconv.Itoa(c.blocked)},
		{"Denied policy decisions", strconv.Itoa(c.denials)},
		{"Break-glass overrides", strconv.Itoa(c.overrides)},
		{"Chaos injections", strconv.Itoa(c.chaos)},
		{"Chaos recoveries", strconv.Itoa(c.recoveries)},
		{"Teardowns", c.teardowns.String()},
		{"Status scrapes and metrics samples", strconv.Itoa(c.scrapes)},
		{"Failed commands and errors", strconv.Itoa(c.errors)},
		{"Malformed lines skipped", strconv.Itoa(stats.Skipped)},
	}
	for _, r := range counts {
		m.row(r.what, r.n)
	}
	m.line("")
	if mode := c.mode; mode != "" {
		m.line("Current mode (last known): **%s**", cell(mode))
	} else {
		m.line("Current mode: unknown, no event recorded one.")
	}
	m.line("")
}

// String renders a count with its results, e.g. "3 (ok 2, denied 1)".
func (o outcome) String() string {
	var parts []string
	for i, n := range o.results {
		if n > 0 {
			parts = append(parts, resultNames[i]+" "+strconv.Itoa(n))
		}
	}
	if len(parts) == 0 {
		return strconv.Itoa(o.total)
	}
	return fmt.Sprintf("%d (%s)", o.total, strings.Join(parts, ", "))
}

// section writes a heading; when empty, it says there is nothing and returns false.
func (m md) section(title string, empty bool, nothing string) bool {
	m.line("## %s", title)
	m.line("")
	if empty {
		m.line("%s", nothing)
		m.line("")
	}
	return !empty
}

func renderTimeline(m md, t *timeline) {
	if !m.section("Timeline", t.total == 0, "No deploys, promotions, rollbacks, blocks, chaos injections or teardowns were recorded.") {
		return
	}
	head, folded, tail := t.rows()
	if folded > 0 {
		m.line("%d events; the first %d and the last %d are listed.", t.total, len(head), len(tail))
		m.line("")
	}
	m.table("Time (UTC)", "Event", "Details", "Result")
	for _, r := range head {
		m.row(r.at.Format(timeLayout), r.event, r.detail, r.result)
	}
	if folded > 0 {
		m.row("…", "", fmt.Sprintf("%d events folded", folded), "")
	}
	for _, r := range tail {
		m.row(r.at.Format(timeLayout), r.event, r.detail, r.result)
	}
	m.line("")
}

func renderViolations(m md, g *groups) {
	if !m.section("Policy violations", g.total == 0, "No policy violations were recorded.") {
		return
	}
	m.line("%d violations, folded by policy domain and rule.", g.total)
	m.line("")
	m.table("Domain", "Rule", "Count", "First seen (UTC)", "Last seen (UTC)", "Observed", "Limit", "Latest message")
	for _, gr := range g.list {
		m.row(gr.domain, gr.rule, strconv.Itoa(gr.count), gr.first.Format(timeLayout), gr.last.Format(timeLayout),
			gr.observed(), gr.limit, gr.message)
	}
	if g.unlisted > 0 {
		m.row("…", "", strconv.Itoa(g.unlisted), "", "", "", "", fmt.Sprintf("more violations of rules past the first %d", maxGroups))
	}
	m.line("")
}

func renderChart(m md, s *series) {
	pts := s.plotted()
	nothing := "No metrics were recorded."
	if s.noTraffic > 0 {
		nothing = fmt.Sprintf("No metrics were recorded with traffic (windows with no traffic: %d).", s.noTraffic)
	}
	if !m.section("Error rate and P99 over time", len(pts) == 0, nothing) {
		return
	}
	m.line("%d measurement windows (status scrapes, and the windows promote, rollback and release gates judged), plotted as %d points; each point is the worst of the windows it covers.", s.total, len(pts))
	if s.noTraffic > 0 {
		m.line("Windows with no traffic, not plotted: %d.", s.noTraffic)
	}
	m.line("")
	labels := make([]string, len(pts))
	errorRates := make([]string, len(pts))
	p99s := make([]string, len(pts))
	for i, p := range pts {
		labels[i] = strconv.Quote(p.at.Format("15:04:05"))
		errorRates[i] = number(p.errorRate)
		p99s[i] = number(p.p99)
	}
	xAxis := "[" + strings.Join(labels, ", ") + "]"
	mermaid(m, "Error rate (%)", xAxis, errorRates)
	mermaid(m, "P99 latency (ms)", xAxis, p99s)
}

// mermaid writes one xychart. Error rate and P99 get a chart each because
// xychart-beta has one y-axis, on which a 1 % line vanishes beside 500 ms.
func mermaid(m md, title, xAxis string, values []string) {
	m.line("```mermaid")
	m.line("xychart-beta")
	m.line("    title %q", title)
	m.line("    x-axis %s", xAxis)
	m.line("    y-axis %q", title)
	m.line("    line [%s]", strings.Join(values, ", "))
	m.line("```")
	m.line("")
}

func renderSkips(m md, stats Stats) {
	if stats.Skipped == 0 {
		return
	}
	m.line("## Skipped lines")
	m.line("")
	if stats.Skipped == 1 {
		m.line("1 malformed line was skipped.")
	} else {
		m.line("%d malformed lines were skipped.", stats.Skipped)
	}
	m.line("")
	m.table("Line", "Reason")
	shown := stats.Skips[:min(len(stats.Skips), maxSkipsShown)]
	for _, s := range shown {
		m.row(strconv.Itoa(s.Line), s.Reason)
	}
	if more := stats.Skipped - len(shown); more > 0 {
		m.row("…", fmt.Sprintf("%d more", more))
	}
	m.line("")
}

// cellEscaper keeps text inside one table cell and stops it from turning into
// formatting, links or HTML.
var cellEscaper = strings.NewReplacer(
	"\\", "\\\\",
	"|", "\\|",
	"\r\n", "<br>",
	"\n", "<br>",
	"\r", "<br>",
	"*", "\\*",
	"_", "\\_",
	"`", "\\`",
	"[", "\\[",
	"]", "\\]",
	"~", "\\~",
	"<", "&lt;",
	">", "&gt;",
	"&", "&amp;",
)

func cell(s string) string { return cellEscaper.Replace(s) }
