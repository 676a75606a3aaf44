package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// DefaultTimeout bounds one decision when the caller's context has no deadline.
const DefaultTimeout = 2 * time.Second

// BreakGlassEnv is the environment variable an operator sets, to the reason, to let an
// action through in an emergency despite a denial: SWIFTDEPLOY_BREAK_GLASS="<reason>".
const BreakGlassEnv = "SWIFTDEPLOY_BREAK_GLASS"

// Violation is one rule a decision found broken.
type Violation struct {
	Rule     string `json:"rule"`
	Observed any    `json:"observed"`
	Limit    any    `json:"limit"`
	Message  string `json:"message"`
}

// Decision is a policy's answer for one domain: whether the action may go ahead, the input
// it checked, every rule broken and notes worth showing either way.
type Decision struct {
	Allow      bool           `json:"allow"`
	Domain     string         `json:"domain"`
	Checked    map[string]any `json:"checked"`
	Violations []Violation    `json:"violations"`
	Notes      []string       `json:"notes,omitempty"`
	// Verdict, for a release step, is promote, hold (inconclusive: measure the
	// step again) or abort.
	Verdict        string `json:"verdict,omitempty"`
	Overridden     bool   `json:"overridden,omitempty"`
	OverrideReason string `json:"override_reason,omitempty"`
	// RetrySeconds, when above zero, says every violation is transient (a CPU load
	// spike): the caller may measure again and re-ask for up to that long.
	RetrySeconds float64 `json:"retry_seconds,omitempty"`
}

// Decide asks the domain's policy about input. It fails closed: on any error the Decision
// returned denies (it carries the domain and input, for the record). Without a deadline
// on ctx the evaluation is bounded by DefaultTimeout. Non-finite numbers in input (a P99
// of an empty window) reach the policy as null.
func (e *Engine) Decide(ctx context.Context, domain string, input map[string]any) (Decision, error) {
	denied := Decision{Domain: domain, Checked: input, Violations: []Violation{}}
	q, ok := e.queries[domain]
	if !ok {
		return denied, fmt.Errorf("policy: no policy for domain %q (have %s)", domain, strings.Join(e.Domains(), ", "))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	// Evaluation only notices cancellation now and then; checking before and after makes
	// an expired deadline a denial however short the evaluation.
	if err := ctx.Err(); err != nil {
		return denied, timedOut(domain, err)
	}
	parsed, err := ast.InterfaceToValue(finite(input))
	if err != nil {
		return denied, fmt.Errorf("policy: decide %s: input: %w", domain, err)
	}
	// OPA would otherwise start a goroutine per evaluation just to watch ctx (a wake-up of
	// another thread on a busy 2-core host) and fill a fresh metrics registry nobody reads.
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	rs, err := q.Eval(ctx, rego.EvalParsedInput(parsed), rego.EvalExternalCancel(cancel), rego.EvalMetrics(metrics.NoOp()))
	if ctxErr := ctx.Err(); ctxErr != nil {
		return denied, timedOut(domain, ctxErr)
	}
	if err != nil {
		return denied, fmt.Errorf("policy: decide %s: evaluation failed: %s", domain, oneLine(err))
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return denied, fmt.Errorf("policy: decide %s: %s is undefined (the policy produced no decision)", domain, decisionRef(domain))
	}
	d, err := parseDecision(rs[0].Expressions[0].Value, domain)
	if err != nil {
		return denied, fmt.Errorf("policy: decide %s: %s has the wrong shape: %w", domain, decisionRef(domain), err)
	}
	return d, nil
}

func timedOut(domain string, err error) error {
	return fmt.Errorf("policy: decide %s: evaluation did not finish in time: %w", domain, err)
}

// BreakGlass overrides a denial for an emergency: the returned decision allows and says it
// was overridden and why, keeping the original violations for the record. The lifecycle
// calls it when the operator set SWIFTDEPLOY_BREAK_GLASS (see BreakGlassEnv) to a reason.
// Without a reason (empty or blank) nothing is overridden and d is returned as it is.
func BreakGlass(d Decision, reason string) Decision {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return d
	}
	d.Allow = true
	if d.Verdict != "" {
		d.Verdict = VerdictPromote
	}
	d.Overridden = true
	d.OverrideReason = reason
	return d
}

// parseDecision checks the decision document field by field, so that a policy that
// answers something else is an error, never an accidental allow.
func parseDecision(v any, domain string) (Decision, error) {
	doc, ok := v.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("it is %s, want an object", kind(v))
	}
	allow, ok := doc["allow"].(bool)
	if !ok {
		return Decision{}, fmt.Errorf("allow is %s, want a boolean", kind(doc["allow"]))
	}
	if got, ok := doc["domain"].(string); !ok || got != domain {
		return Decision{}, fmt.Errorf("domain is %s, want %q", kind(doc["domain"]), domain)
	}
	checked, ok := normalize(doc["checked"]).(map[string]any)
	if !ok && doc["checked"] != nil {
		return Decision{}, fmt.Errorf("checked is %s, want an object", kind(doc["checked"]))
	}
	violations, err := parseViolations(doc["violations"])
	if err != nil {
		return Decision{}, err
	}
	notes, err := parseNotes(doc["notes"])
	if err != nil {
		return Decision{}, err
	}
	if allow && len(violations) > 0 {
		return Decision{}, fmt.Errorf("allow is true despite %d violation(s)", len(violations))
	}
	retry, ok := normalize(doc["retry_seconds"]).(float64)
	if doc["retry_seconds"] != nil && (!ok || retry < 0) {
		return Decision{}, fmt.Errorf("retry_seconds is %s, want a number of seconds or null", kind(doc["retry_seconds"]))
	}
	verdict, err := parseVerdict(doc["verdict"], allow)
	if err != nil {
		return Decision{}, err
	}
	return Decision{Allow: allow, Domain: domain, Checked: checked, Violations: violations, Notes: notes, RetrySeconds: retry, Verdict: verdict}, nil
}

// Verdicts of a release step.
const (
	VerdictPromote = "promote"
	VerdictHold    = "hold"
	VerdictAbort   = "abort"
)

// parseVerdict checks an optional verdict: one of the three, and promote
// exactly when the decision allows.
func parseVerdict(v any, allow bool) (string, error) {
	if v == nil {
		return "", nil
	}
	verdict, ok := v.(string)
	if !ok || (verdict != VerdictPromote && verdict != VerdictHold && verdict != VerdictAbort) {
		return "", fmt.Errorf("verdict is %s, want promote, hold or abort", kind(v))
	}
	if allow != (verdict == VerdictPromote) {
		return "", fmt.Errorf("verdict %q disagrees with allow %v", verdict, allow)
	}
	return verdict, nil
}

func parseViolations(v any) ([]Violation, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("violations is %s, want an array", kind(v))
	}
	out := make([]Violation, 0, len(items))
	for i, item := range items {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("violations[%d] is %s, want an object", i, kind(item))
		}
		rule, okRule := obj["rule"].(string)
		message, okMessage := obj["message"].(string)
		if !okRule || !okMessage || rule == "" {
			return nil, fmt.Errorf("violations[%d] needs a rule and a message, both strings", i)
		}
		out = append(out, Violation{Rule: rule, Observed: normalize(obj["observed"]), Limit: normalize(obj["limit"]), Message: message})
	}
	return out, nil
}

func parseNotes(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("notes is %s, want an array", kind(v))
	}
	var notes []string
	for i, item := range items {
		note, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("notes[%d] is %s, want a string", i, kind(item))
		}
		notes = append(notes, note)
	}
	return notes, nil
}

// kind describes a JSON value's type for an error message.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "missing or null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// normalize turns OPA's exact numbers (json.Number) into float64 throughout a value, the
// form every other package reads numbers in.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			out[k] = normalize(item)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = normalize(item)
		}
		return out
	default:
		return v
	}
}

// finite replaces NaN and infinite float64 values, which JSON cannot carry, with nil, so
// the policy sees them as missing. Input without such values is returned as it is.
func finite(input map[string]any) map[string]any {
	if !hasNonFinite(input) {
		return input
	}
	out := make(map[string]any, len(input))
	for k, v := range input {
		if nonFinite(v) {
			v = nil
		}
		out[k] = v
	}
	return out
}

func hasNonFinite(input map[string]any) bool {
	for _, v := range input {
		if nonFinite(v) {
			return true
		}
	}
	return false
}

func nonFinite(v any) bool {
	f, ok := v.(float64)
	return ok && (math.IsNaN(f) || math.IsInf(f, 0))
}
