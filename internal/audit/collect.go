package audit

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
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

	// modeValue is the raw JSON of the latest known mode, kept undecoded because
	// almost every status scrape sets it and only the last one matters.
	modeValue []byte
	// lastDenial is the first violation message of the latest denied decision,
	// shown on a block event that does not carry its own.
	lastDenial string

	timeline   timeline
	violations groups
	chart      series
	releases   releases
}

func newCollector() *collector {
	return &collector{chart: series{span: 1}}
}

func (c *collector) add(raw history.Raw) {
	c.events++
	if c.first.IsZero() {
		c.first = raw.Timestamp
	}
	c.last = raw.Timestamp
	if text(raw, "result") == "failed" {
		c.errors++ // a command that failed records its own event with the error
	}
	switch raw.Event {
	case history.EventStatusScrape:
		c.scrapes++
		c.addScrape(raw)
	case history.EventMetricsSample:
		// Its "mode" is the app's gauge (0 or 1), not the name of a mode.
		c.scrapes++
	case history.EventPolicyDecision:
		c.addDecision(raw)
	case history.EventDeployBlocked, history.EventPromoteBlocked:
		c.blocked++
		c.addBlock(raw)
	case history.EventDeploy, history.EventPromote, history.EventRollback, history.EventTeardown:
		c.addLifecycle(raw)
	case history.EventChaos:
		c.addChaos(raw)
	case history.EventRecover:
		c.addRecover(raw)
	case history.EventRelease:
		c.addRelease(raw)
	case history.EventReleaseStep:
		c.addReleaseStep(raw)
	case history.EventInit:
		c.noteMode(raw, "mode")
	case history.EventError:
		c.errors++
		c.row(raw, joinNonEmpty(": ", text(raw, "command"), text(raw, "message")))
	}
}

func (c *collector) row(raw history.Raw, detail string) {
	c.timeline.add(row{at: raw.Timestamp, event: raw.Event, detail: detail, result: text(raw, "result")})
}

// noteMode remembers the mode a successful event leaves the service in.
func (c *collector) noteMode(raw history.Raw, key string) {
	if r := text(raw, "result"); r != "" && r != "ok" {
		return
	}
	if v, ok := raw.Field(key); ok && string(v) != "null" {
		c.modeValue = append(c.modeValue[:0], v...)
	}
}

// mode returns the last known mode, or "" when none was recorded.
func (c *collector) mode() string {
	var mode string
	if json.Unmarshal(c.modeValue, &mode) != nil {
		return formatValue(c.modeValue)
	}
	return mode
}

var windowPath = []string{"window"}

// addScrape charts a scrape's window. It reads the window in one pass because
// scrapes are nearly all of a long history.
func (c *collector) addScrape(raw history.Raw) {
	c.noteMode(raw, "mode")
	var (
		errorRate, p99 float64
		found          int
		noTraffic      bool
	)
	raw.Each(windowPath, func(key []byte, value json.RawMessage) {
		var err error
		switch string(key) {
		case "error_rate_percent":
			errorRate, err = strconv.ParseFloat(string(value), 64)
		case "p99_latency_ms":
			p99, err = strconv.ParseFloat(string(value), 64)
		case "no_traffic":
			noTraffic = string(value) == "true"
			return
		default:
			return
		}
		if err == nil {
			found++
		}
	})
	switch {
	case noTraffic:
		c.chart.noTraffic++
	case found == 2:
		c.chart.add(raw.Timestamp, errorRate, p99)
	}
}

// addGateWindow charts the window a promote or rollback gate measured: a
// history with gates and no status scrape still has a chart.
func (c *collector) addGateWindow(raw history.Raw) {
	if noTraffic, ok := raw.Bool("input", "no_traffic"); ok && noTraffic {
		c.chart.noTraffic++
		return
	}
	errorRate, ok1 := raw.Number("input", "error_rate_percent")
	p99, ok2 := raw.Number("input", "p99_latency_ms")
	if ok1 && ok2 {
		c.chart.add(raw.Timestamp, errorRate, p99)
	}
}

// violation is one failed rule of a policy decision.
type violation struct {
	Rule     string          `json:"rule"`
	Observed json.RawMessage `json:"observed"`
	Limit    json.RawMessage `json:"limit"`
	Message  string          `json:"message"`
}

type decision struct {
	Allow      *bool       `json:"allow"`
	Violations []violation `json:"violations"`
}

func (c *collector) addDecision(raw history.Raw) {
	var d decision
	if !field(raw, "decision", &d) || d.Allow == nil {
		return
	}
	domain := text(raw, "domain")
	if domain == "canary" {
		c.addGateWindow(raw)
	}
	for _, v := range d.Violations {
		c.violations.add(raw.Timestamp, domain, v)
	}
	if *d.Allow {
		return
	}
	c.denials++
	c.lastDenial = firstMessage(d.Violations)
	var overridden bool
	if field(raw, "overridden", &overridden) && overridden {
		c.overrides++
		c.row(raw, joinNonEmpty(": ", "break-glass override of "+joinNonEmpty(" for ", domain, text(raw, "action")), c.lastDenial))
	}
}

func (c *collector) addBlock(raw history.Raw) {
	reason := blockReason(raw)
	if reason == "" {
		reason = c.lastDenial
	}
	c.row(raw, joinNonEmpty(": ", modeChange(raw), reason))
}

// blockReason finds the first violation message a block event carries, in
// either of the shapes the product may write.
func blockReason(raw history.Raw) string {
	var vs []violation
	if field(raw, "violations", &vs) && len(vs) > 0 {
		return firstMessage(vs)
	}
	var d decision
	if field(raw, "decision", &d) && len(d.Violations) > 0 {
		return firstMessage(d.Violations)
	}
	return joinNonEmpty("; ", text(raw, "reason"), text(raw, "message"))
}

func (c *collector) addLifecycle(raw history.Raw) {
	result := text(raw, "result")
	detail := ""
	switch raw.Event {
	case history.EventDeploy:
		c.deploys.add(result)
		c.noteMode(raw, "mode")
		if m := text(raw, "mode"); m != "" {
			detail = "mode " + m
		}
		detail += overrideNote(raw)
	case history.EventPromote:
		c.promotions.add(result)
		c.noteMode(raw, "to")
		detail = modeChange(raw) + overrideNote(raw)
	case history.EventRollback:
		c.rollbacks.add(result)
		c.noteMode(raw, "to")
		detail = modeChange(raw)
		if from, to := text(raw, "from_version"), text(raw, "to_version"); to != "" {
			detail = "build " + orDash(from) + " → " + to
		}
		if r := text(raw, "release"); r != "" {
			detail = "release " + r
		}
	case history.EventTeardown:
		c.teardowns.add(result)
		var clean bool
		if field(raw, "clean", &clean) && clean {
			detail = "generated files removed"
		}
	}
	c.row(raw, detail)
}

// addRecover notes a switch that a killed command left half-done and the next
// command finished (the service now runs in its "to" mode) or undid.
func (c *collector) addRecover(raw history.Raw) {
	if text(raw, "result") == "finished" {
		if v, ok := raw.Field("to"); ok {
			c.modeValue = append(c.modeValue[:0], v...)
		}
	}
	c.row(raw, "interrupted "+text(raw, "action")+" "+modeChange(raw))
}

func (c *collector) addChaos(raw history.Raw) {
	mode := text(raw, "mode")
	if mode == "recover" {
		c.recoveries++
	} else {
		c.chaos++
	}
	detail := mode
	if rate := text(raw, "rate"); rate != "" {
		detail += ", rate " + rate
	}
	if d := text(raw, "duration"); d != "" {
		detail += ", duration " + d
		if _, err := strconv.ParseFloat(d, 64); err == nil {
			detail += " s"
		}
	}
	c.row(raw, detail)
}

// overrideNote marks an action that went ahead through the break-glass override.
func overrideNote(raw history.Raw) string {
	var overridden bool
	if field(raw, "overridden", &overridden) && overridden {
		return " (break-glass override)"
	}
	return ""
}

// modeChange renders an event's from and to fields as "stable → canary".
func modeChange(raw history.Raw) string {
	from, to := text(raw, "from"), text(raw, "to")
	if from == "" && to == "" {
		return ""
	}
	return orDash(from) + " → " + orDash(to)
}

func firstMessage(vs []violation) string {
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

// field decodes one field into v and reports whether it was there and fit.
func field(raw history.Raw, key string, v any) bool {
	data, ok := raw.Field(key)
	return ok && json.Unmarshal(data, v) == nil
}

// text returns a field as display text: strings as they are, other values as JSON.
func text(raw history.Raw, key string) string {
	data, ok := raw.Field(key)
	if !ok {
		return ""
	}
	return formatValue(data)
}

func formatValue(data json.RawMessage) string {
	var s string
	if len(data) > 0 && data[0] == '"' && json.Unmarshal(data, &s) == nil {
		return s
	}
	if string(data) == "null" {
		return ""
	}
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
