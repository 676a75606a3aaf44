// Package gate asks SwiftDeploy's policies whether an action may go ahead. It
// builds each domain's input from what was measured (input.go is the whole
// contract between the commands and policies/), asks the policy engine,
// applies an operator's break-glass override, prints the answer and records
// it in history. Every failure fails closed: the action does not happen.
package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// Gate asks the policies for one command: it takes what it needs to print
// and record, never the command itself.
type Gate struct {
	Engine *policy.Engine
	// Record appends an event to history; payload is one of history's event
	// structs.
	Record func(event string, payload any)
	Out    *ui.Printer
}

// Load compiles the policies in dir with the manifest's overrides. Any
// failure here stops the action: the policies fail closed.
func Load(dir string, overrides map[string]map[string]any) (*policy.Engine, error) {
	eng, err := policy.Load(dir, overrides)
	if err != nil {
		return nil, Unavailable(err)
	}
	return eng, nil
}

// Unavailable is the error of an action whose policies cannot be asked.
func Unavailable(err error) error {
	return fmt.Errorf("policy engine unavailable, refusing to act (fail closed): %w", err)
}

// Decide asks domain about input, one of the inputs of input.go, on behalf of
// action. It applies a break-glass override when the operator set one
// (policy.BreakGlassEnv) and records the decision with the input it was
// asked with. A policy that gives no decision is an error: the action fails
// closed.
func (g Gate) Decide(ctx context.Context, domain, action string, input any) (policy.Decision, error) {
	asked, d, err := ask(ctx, g.Engine, domain, input)
	if err != nil {
		g.Record(history.EventPolicyDecision, history.PolicyDecision{Domain: domain, Action: action, Input: asked, Error: err.Error()})
		return d, fmt.Errorf("%s: policy %s failed, refusing to act (fail closed): %w", action, domain, err)
	}
	if reason := strings.TrimSpace(os.Getenv(policy.BreakGlassEnv)); reason != "" && !d.Allow {
		d = policy.BreakGlass(d, reason)
		g.Out.Warn("BREAK-GLASS: %s=%q overrides the %s policy's denial of %s", policy.BreakGlassEnv, reason, domain, action)
	}
	overridden := d.Overridden
	g.Record(history.EventPolicyDecision, history.PolicyDecision{Domain: domain, Action: action, Input: asked,
		Decision: recorded(d), Overridden: &overridden})
	return d, nil
}

// Ask asks domain about input and does nothing else: no override, no record.
// Status shows what each domain would decide now, and acts on none of it.
func Ask(ctx context.Context, eng *policy.Engine, domain string, input any) (policy.Decision, error) {
	_, d, err := ask(ctx, eng, domain, input)
	return d, err
}

// ask turns input into the document the policy reads and asks. It returns
// that document as history records it: keys sorted, as the input always was.
func ask(ctx context.Context, eng *policy.Engine, domain string, input any) (json.RawMessage, policy.Decision, error) {
	denied := policy.Decision{Domain: domain, Violations: []policy.Violation{}}
	doc, err := document(input)
	if err != nil {
		return nil, denied, fmt.Errorf("policy: decide %s: input: %w", domain, err)
	}
	asked, _ := encode(doc) // what was decoded from JSON encodes again
	d, err := eng.Decide(ctx, domain, doc)
	return asked, d, err
}

// document is input as the policy engine takes it, through JSON as OPA reads
// any input. Numbers stay json.Number, so that a whole number reaches Rego as
// an integer and a fraction as a float, as they did from Go's int and
// float64: sprintf's %v and %d in the policies' messages tell them apart.
func document(input any) (map[string]any, error) {
	data, err := encode(input)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%T is not a JSON object: %w", input, err)
	}
	return doc, nil
}

// encode is json.Marshal without HTML escaping, as history writes.
func encode(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// recorded is d as history keeps it.
func recorded(d policy.Decision) *history.Decision {
	return &history.Decision{Allow: d.Allow, Domain: d.Domain, Checked: d.Checked, Violations: violations(d.Violations),
		Notes: d.Notes, Verdict: d.Verdict, Overridden: d.Overridden, OverrideReason: d.OverrideReason, RetrySeconds: d.RetrySeconds}
}

// Blocked is the record of an action d denied: deploy_blocked as it is,
// promote_blocked once the caller adds the switch.
func Blocked(d policy.Decision) history.Blocked {
	return history.Blocked{Domain: d.Domain, Violations: violations(d.Violations)}
}

func violations(vs []policy.Violation) []history.Violation {
	if vs == nil {
		return nil
	}
	out := make([]history.Violation, len(vs))
	for i, v := range vs {
		out[i] = history.Violation{Rule: v.Rule, Observed: v.Observed, Limit: v.Limit, Message: v.Message}
	}
	return out
}

// Print shows a decision: pass, pass by override, hold (a release step
// measured longer) or fail, with every violation and note.
func (g Gate) Print(d policy.Decision) {
	if d.Allow && len(d.Violations) == 0 {
		g.Out.OK("policy %s: PASS", d.Domain)
	} else if d.Allow {
		g.Out.Warn("policy %s: PASS by override (%s)", d.Domain, d.OverrideReason)
	} else if d.Verdict == policy.VerdictHold && len(d.Violations) == 0 {
		g.Out.Warn("policy %s: HOLD", d.Domain)
	} else {
		g.Out.Fail("policy %s: FAIL", d.Domain)
	}
	for _, v := range d.Violations {
		g.Out.Info("✘ %s: %s", v.Rule, v.Message)
	}
	for _, n := range d.Notes {
		g.Out.Info("• %s", n)
	}
}

// Summary is every violation's message, on one line.
func Summary(d policy.Decision) string {
	msgs := make([]string, len(d.Violations))
	for i, v := range d.Violations {
		msgs[i] = v.Message
	}
	return strings.Join(msgs, "; ")
}

// Denial is the error for a denied action: every violated rule, exit code 3.
func Denial(action string, d policy.Decision) error {
	return fmt.Errorf("%w: %s blocked by the %s policy: %s (nothing was changed)", fail.ErrDenied, action, d.Domain, Summary(d))
}

// WindowLength is the canary policy's measuring window.
func WindowLength(eng *policy.Engine) time.Duration {
	if v, ok := eng.Thresholds(policy.Canary)["window_seconds"].(float64); ok && v > 0 {
		return time.Duration(v * float64(time.Second))
	}
	return 30 * time.Second
}
