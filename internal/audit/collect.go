package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/gate"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
)

// outcome counts events of one kind by their "result" field.
type outcome struct {
	total   int
	results [len(resultNames)]int
}

// resultNames are the results the product writes; anything else counts as "other".
var resultNames = [...]string{"ok", "failed", "denied", "noop", "other"}

func (o *outcome) add(result string) {
	o.total++
	for i, name := range resultNames[:len(resultNames)-1] {
		if result == name {
			o.results[i]++
			return
		}
	}
	if result != "" {
		o.results[len(resultNames)-1]++
	}
}

// collector holds everything the report needs, each part bounded in size.
type collector struct {
	events      int
	first, last time.Time

	deploys, promotions, rollbacks, teardowns outcome
	blocked, denials, overrides, errors       int
	chaos, recoveries, scrapes                int

	// mode is the latest known mode, "" until an event says one.
	mode string
	// lastDenial is the first violation message of the latest denied decision,
	// shown on a block event that does not carry its own.
	lastDenial string

	timeline   timeline
	violations groups
	chart      series
	releases   releases
	costs      costs
}

func newCollector() *collector {
	return &collector{chart: series{span: 1}}
}

// event is the line being collected and how its command ended.
type event struct {
	at     time.Time
	name   string
	result string
}

func (c *collector) add(raw history.Raw, l line) {
	c.events++
	if c.first.IsZero() {
		c.first = raw.Timestamp
	}
	c.last = raw.Timestamp
	e := event{at: raw.Timestamp, name: raw.Event, result: l.result}
	if e.result == "failed" {
		c.errors++ // a command that failed records its own event with the error
	}
	switch p := l.payload.(type) {
	case nil:
		switch raw.Event {
		case history.EventStatusScrape:
			c.scrapes++
			c.addScrape(e, l.scrape)
		case history.EventMetricsSample:
			// Its mode is the app's gauge (0 or 1), not the name of a mode.
			c.scrapes++
		}
	case *history.PolicyDecision:
		c.addDecision(e, p)
	case *history.Blocked:
		c.blocked++
		c.addBlock(e, p)
	case *history.Deploy:
		c.addDeploy(e, p)
	case *history.Promote:
		c.addPromote(e, p)
	case *history.Rollback:
		c.addRollback(e, p)
	case *history.Teardown:
		c.addTeardown(e, p)
	case *history.Chaos:
		c.addChaos(e, p)
	case *history.Recover:
		c.addRecover(e, p)
	case *history.ReleaseEvent:
		if l.err == nil {
			c.addRelease(e, p)
		}
	case *history.ReleaseStep:
		if l.err == nil {
			c.addReleaseStep(e, p)
		}
	case *history.Init:
		c.noteMode(e, p.Mode)
	case *history.CommandError:
		c.errors++
		c.row(e, joinNonEmpty(": ", p.Command, p.Message))
	case *history.Certificate:
		c.addCertificate(e, p)
	case *history.Edge:
		c.addEdge(e, p)
	}
}

// addCertificate lists a certificate the edge got for a host name, or
// failed to get, with what it serves then.
func (c *collector) addCertificate(e event, p *history.Certificate) {
	detail := p.Action + " " + p.Host + " (" + p.Source
	if p.Forced {
		detail += ", forced"
	}
	if p.By == "renewer" {
		detail += ", by the edge's renewer"
	}
	detail += ")"
	if p.Result == "ok" {
		detail += ": " + joinNonEmpty(", ", p.Issuer, "serial "+p.Serial, "expires "+p.NotAfter)
	} else {
		detail += ": " + joinNonEmpty("; ", p.Error, "serving "+p.Kept)
	}
	c.row(e, detail)
}

// addEdge lists the stack's host names joining or leaving the host's edge.
func (c *collector) addEdge(e event, p *history.Edge) {
	detail := p.Action + " the host's edge: " + strings.Join(p.Hosts, ", ")
	if p.TLS != "" {
		detail += fmt.Sprintf(" (TLS %s, ports %d/%d)", p.TLS, p.HTTPPort, p.HTTPSPort)
	}
	if p.EdgeStarted {
		detail += "; the edge was started"
	}
	if p.EdgeRemoved {
		detail += "; the edge was removed"
	}
	c.row(e, detail)
}

func (c *collector) row(e event, detail string) {
	c.timeline.add(row{at: e.at, event: e.name, detail: detail, result: e.result})
}

// noteMode remembers the mode a successful event leaves the service in.
func (c *collector) noteMode(e event, mode string) {
	if (e.result == "" || e.result == "ok") && mode != "" {
		c.mode = mode
	}
}

// addScrape charts a scrape's window. Decoding its refresh alone leaves the
// sample it carries unread.
func (c *collector) addScrape(e event, f history.Refresh) {
	c.noteMode(e, f.Mode)
	switch w := f.Window; {
	case w == metrics.Window{}:
	case w.NoTraffic:
		c.chart.noTraffic++
	default:
		c.chart.add(e.at, w.ErrorRatePercent, w.P99Ms)
	}
}

// addGateWindow charts the window a promote or rollback gate measured: a
// history with gates and no status scrape still has a chart.
func (c *collector) addGateWindow(at time.Time, input json.RawMessage) {
	var in gate.Canary
	if len(input) == 0 || input[0] != '{' || json.Unmarshal(input, &in) != nil {
		return
	}
	if in.NoTraffic {
		c.chart.noTraffic++
		return
	}
	c.chart.add(at, float64(in.ErrorRatePercent), float64(in.P99Ms))
}

func (c *collector) addDecision(e event, p *history.PolicyDecision) {
	d := p.Decision
	if d == nil {
		return // the policy failed: the action failed closed and says so itself
	}
	if p.Domain == policy.Canary {
		c.addGateWindow(e.at, p.Input)
	}
	for _, v := range d.Violations {
		c.violations.add(e.at, p.Domain, v)
	}
	if d.Allow {
		return
	}
	c.denials++
	c.lastDenial = firstMessage(d.Violations)
	if p.Overridden != nil && *p.Overridden {
		c.overrides++
		c.row(e, joinNonEmpty(": ", "break-glass override of "+joinNonEmpty(" for ", p.Domain, p.Action), c.lastDenial))
	}
}

func (c *collector) addBlock(e event, p *history.Blocked) {
	reason := blockReason(p)
	if reason == "" {
		reason = c.lastDenial
	}
	c.row(e, joinNonEmpty(": ", modeChange(p.From, p.To), reason))
}

// blockReason finds the first violation message a block carries, in any of
// the places a block may say why.
func blockReason(p *history.Blocked) string {
	if len(p.Violations) > 0 {
		return firstMessage(p.Violations)
	}
	if p.Decision != nil && len(p.Decision.Violations) > 0 {
		return firstMessage(p.Decision.Violations)
	}
	return joinNonEmpty("; ", p.Reason, p.Message)
}

func (c *collector) addDeploy(e event, p *history.Deploy) {
	c.deploys.add(e.result)
	c.noteMode(e, p.Mode)
	detail := ""
	if p.Mode != "" {
		detail = "mode " + p.Mode
	}
	c.row(e, detail+overrideNote(p.Overridden))
}

func (c *collector) addPromote(e event, p *history.Promote) {
	c.promotions.add(e.result)
	c.noteMode(e, p.To)
	c.row(e, modeChange(p.From, p.To)+overrideNote(p.Overridden != nil && *p.Overridden))
	c.addSwitchCost(e, modeChange(p.From, p.To), p.Cost)
}

func (c *collector) addRollback(e event, p *history.Rollback) {
	c.rollbacks.add(e.result)
	c.noteMode(e, p.To)
	detail := modeChange(p.From, p.To)
	if p.ToVersion != "" {
		detail = "build " + orDash(p.FromVersion) + " → " + p.ToVersion
	}
	if p.Release != "" {
		// The release it aborted records its own cost.
		c.row(e, "release "+p.Release)
		return
	}
	c.row(e, detail)
	c.addSwitchCost(e, detail, p.Cost)
}

func (c *collector) addTeardown(e event, p *history.Teardown) {
	c.teardowns.add(e.result)
	detail := ""
	if p.Clean {
		detail = "generated files removed"
	}
	c.row(e, detail)
}

// addRecover notes a switch that a killed command left half-done and the next
// command finished (the service now runs in its "to" mode) or undid.
func (c *collector) addRecover(e event, p *history.Recover) {
	if p.Result == "finished" && p.To != "" {
		c.mode = p.To
	}
	c.row(e, "interrupted "+p.Action+" "+modeChange(p.From, p.To))
}

func (c *collector) addChaos(e event, p *history.Chaos) {
	if p.Mode == "recover" {
		c.recoveries++
	} else {
		c.chaos++
	}
	detail := p.Mode
	if p.Rate != nil {
		detail += ", rate " + jsonNumber(*p.Rate)
	}
	if p.Duration != nil {
		detail += ", duration " + jsonNumber(*p.Duration) + " s"
	}
	c.row(e, detail)
}

// overrideNote marks an action that went ahead through the break-glass override.
func overrideNote(overridden bool) string {
	if overridden {
		return " (break-glass override)"
	}
	return ""
}

// modeChange renders an event's from and to as "stable → canary".
func modeChange(from, to string) string {
	if from == "" && to == "" {
		return ""
	}
	return orDash(from) + " → " + orDash(to)
}

func firstMessage(vs []history.Violation) string {
	for _, v := range vs {
		if v.Message != "" {
			return v.Message
		}
		if v.Rule != "" {
			return v.Rule
		}
	}
	return ""
}

// jsonNumber prints f as history writes it.
func jsonNumber(f float64) string {
	data, _ := json.Marshal(f) // a number read from JSON is finite
	return string(data)
}

// formatValue prints a value read from JSON as display text: strings as they
// are, null as nothing, anything else as JSON.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	data, _ := json.Marshal(v) // what was read from JSON is JSON again
	return string(data)
}

func joinNonEmpty(sep string, parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += sep
		}
		out += p
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
