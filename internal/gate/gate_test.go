package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// recorder keeps what a Gate records, as the history would.
type recorder struct {
	events   []string
	payloads []any
}

func (r *recorder) record(event string, payload any) {
	r.events = append(r.events, event)
	r.payloads = append(r.payloads, payload)
}

// decision is the one policy_decision recorded.
func (r *recorder) decision(t *testing.T) history.PolicyDecision {
	t.Helper()
	if len(r.events) != 1 || r.events[0] != history.EventPolicyDecision {
		t.Fatalf("recorded %v, want one %s", r.events, history.EventPolicyDecision)
	}
	return r.payloads[0].(history.PolicyDecision)
}

func newGate(t *testing.T) (Gate, *recorder, *bytes.Buffer) {
	t.Helper()
	eng, err := Load(shipped, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var out bytes.Buffer
	return Gate{Engine: eng, Record: rec.record, Out: ui.New(&out)}, rec, &out
}

var busyWindow = metrics.Window{Seconds: 30, Requests: 150, Errors: 80, ErrorRatePercent: 53.3, P99Ms: 14.5}

func TestDecideRecordsTheDecisionWithTheInputItAskedWith(t *testing.T) {
	g, rec, _ := newGate(t)
	input := FromWindow(metrics.Window{Seconds: 30, Requests: 150, P99Ms: 12.8}, "stable", "canary", "promote")
	d, err := g.Decide(context.Background(), policy.Canary, "promote", input)
	if err != nil || !d.Allow {
		t.Fatalf("Decide = %+v, %v; want an allow", d, err)
	}
	got := rec.decision(t)
	want := `{"action":"promote","current_mode":"stable","error_rate_percent":0,"no_traffic":false,"p99_latency_ms":12.8,"requests":150,"target_mode":"canary","window_seconds":30}`
	if got.Domain != policy.Canary || got.Action != "promote" || string(got.Input) != want {
		t.Errorf("recorded %s for %s %s, want %s for canary promote", got.Input, got.Domain, got.Action, want)
	}
	if got.Decision == nil || !got.Decision.Allow || got.Decision.Domain != policy.Canary || got.Overridden == nil || *got.Overridden || got.Error != "" {
		t.Errorf("recorded decision %+v, overridden %v, error %q", got.Decision, got.Overridden, got.Error)
	}
}

func TestDecideRecordsADenialWithEveryViolation(t *testing.T) {
	g, rec, _ := newGate(t)
	d, err := g.Decide(context.Background(), policy.Canary, "promote", FromWindow(busyWindow, "canary", "stable", "promote"))
	if err != nil || d.Allow {
		t.Fatalf("Decide = %+v, %v; want a denial", d, err)
	}
	got := rec.decision(t).Decision
	if got == nil || got.Allow || len(got.Violations) != 1 || got.Violations[0].Rule != "error_rate" || got.Violations[0].Observed != 53.3 {
		t.Errorf("recorded %+v, want the error_rate violation at 53.3", got)
	}
}

func TestDecideFailsClosedWhenThePolicyGivesNoDecision(t *testing.T) {
	g, rec, _ := newGate(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := g.Decide(ctx, policy.Canary, "promote", FromWindow(busyWindow, "canary", "stable", "promote"))
	if err == nil || d.Allow {
		t.Fatalf("Decide = %+v, %v; want a denial and an error", d, err)
	}
	if !strings.Contains(err.Error(), "promote: policy canary failed, refusing to act (fail closed)") || !errors.Is(err, context.Canceled) {
		t.Errorf("error %q does not say the action fails closed, or lost its cause", err)
	}
	got := rec.decision(t)
	if got.Decision != nil || got.Overridden != nil || !strings.Contains(got.Error, "did not finish in time") || !strings.Contains(string(got.Input), `"requests":150`) {
		t.Errorf("recorded %+v, want the input and the error, no decision", got)
	}
}

func TestDecideFailsClosedOnAnInputThatIsNoJSONObject(t *testing.T) {
	g, rec, _ := newGate(t)
	for _, input := range []any{make(chan int), []string{"a"}} {
		rec.events, rec.payloads = nil, nil
		d, err := g.Decide(context.Background(), policy.Infrastructure, "deploy", input)
		if err == nil || d.Allow || d.Domain != policy.Infrastructure {
			t.Errorf("Decide(%T) = %+v, %v; want a denial and an error", input, d, err)
		}
		if got := rec.decision(t); got.Error == "" || got.Decision != nil {
			t.Errorf("recorded %+v, want the error alone", got)
		}
	}
}

func TestBreakGlassLetsADeniedActionThroughAndSaysSo(t *testing.T) {
	t.Setenv(policy.BreakGlassEnv, "  incident 42 ")
	g, rec, out := newGate(t)
	d, err := g.Decide(context.Background(), policy.Canary, "promote", FromWindow(busyWindow, "canary", "stable", "promote"))
	if err != nil || !d.Allow || !d.Overridden || d.OverrideReason != "incident 42" || len(d.Violations) != 1 {
		t.Fatalf("Decide = %+v, %v; want an override keeping the violation", d, err)
	}
	if got := rec.decision(t); got.Overridden == nil || !*got.Overridden || !got.Decision.Overridden {
		t.Errorf("recorded overridden %v, decision %+v", got.Overridden, got.Decision)
	}
	if !strings.Contains(out.String(), `BREAK-GLASS: SWIFTDEPLOY_BREAK_GLASS="incident 42" overrides the canary policy's denial of promote`) {
		t.Errorf("no break-glass warning in %q", out)
	}
}

func TestBreakGlassLeavesAnAllowedActionAlone(t *testing.T) {
	t.Setenv(policy.BreakGlassEnv, "incident 42")
	g, rec, out := newGate(t)
	d, err := g.Decide(context.Background(), policy.Canary, "promote", FromWindow(metrics.Window{Seconds: 30, Requests: 10}, "stable", "canary", "promote"))
	if err != nil || !d.Allow || d.Overridden || *rec.decision(t).Overridden || strings.Contains(out.String(), "BREAK-GLASS") {
		t.Errorf("Decide = %+v, %v, printed %q; want a plain allow", d, err, out)
	}
}

func TestABlankBreakGlassReasonOverridesNothing(t *testing.T) {
	t.Setenv(policy.BreakGlassEnv, "   ")
	g, _, _ := newGate(t)
	d, err := g.Decide(context.Background(), policy.Canary, "promote", FromWindow(busyWindow, "canary", "stable", "promote"))
	if err != nil || d.Allow || d.Overridden {
		t.Errorf("Decide = %+v, %v; want the denial to stand", d, err)
	}
}

func TestAskNeitherRecordsNorOverrides(t *testing.T) {
	t.Setenv(policy.BreakGlassEnv, "incident 42")
	g, _, _ := newGate(t)
	d, err := Ask(context.Background(), g.Engine, policy.Canary, FromWindow(busyWindow, "canary", "stable", "promote"))
	if err != nil || d.Allow || d.Overridden {
		t.Errorf("Ask = %+v, %v; want the policy's own denial", d, err)
	}
}

func TestTheRecordedDecisionKeepsEveryFieldOfThePolicys(t *testing.T) {
	d := policy.Decision{Allow: true, Domain: "release", Checked: map[string]any{"weight": 10.0},
		Violations: []policy.Violation{{Rule: "r", Observed: 1.5, Limit: "a number", Message: "m"}}, Notes: []string{"n"},
		Verdict: "promote", Overridden: true, OverrideReason: "why", RetrySeconds: 120}
	want, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(recorded(d))
	if err != nil || string(got) != string(want) {
		t.Errorf("recorded as\n%s\nthe policy's decision is\n%s", got, want)
	}
	blocked, err := json.Marshal(Blocked(policy.Decision{Domain: "canary", Violations: d.Violations}))
	if err != nil || string(blocked) != `{"domain":"canary","violations":[{"rule":"r","observed":1.5,"limit":"a number","message":"m"}]}` {
		t.Errorf("blocked = %s, %v", blocked, err)
	}
}

func TestPrintShowsPassOverrideOrFailWithEveryViolationAndNote(t *testing.T) {
	violations := []policy.Violation{{Rule: "error_rate", Message: "error rate 53.30% exceeds the 1.00% limit"}}
	for _, tc := range []struct {
		name string
		d    policy.Decision
		want []string
	}{
		{"pass", policy.Decision{Allow: true, Domain: "canary", Notes: []string{"no traffic"}}, []string{"policy canary: PASS", "• no traffic"}},
		{"override", policy.Decision{Allow: true, Domain: "canary", Violations: violations, OverrideReason: "incident 42"},
			[]string{"policy canary: PASS by override (incident 42)", "✘ error_rate: error rate 53.30% exceeds the 1.00% limit"}},
		{"fail", policy.Decision{Domain: "canary", Violations: violations}, []string{"policy canary: FAIL", "✘ error_rate: error rate 53.30%"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			Gate{Out: ui.New(&out)}.Print(tc.d)
			for _, want := range tc.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("printed %q, want it to say %q", out.String(), want)
				}
			}
		})
	}
}

func TestDenialListsEveryViolationAndWrapsErrDenied(t *testing.T) {
	d := policy.Decision{Domain: "canary", Violations: []policy.Violation{
		{Rule: "max_error_rate", Message: "error rate 4% is above 1%"},
		{Rule: "max_p99", Message: "p99 900 ms is above 500 ms"},
	}}
	err := Denial("promote", d)
	if !errors.Is(err, fail.ErrDenied) {
		t.Fatalf("denial = %v, want it to wrap fail.ErrDenied", err)
	}
	want := "promote blocked by the canary policy: error rate 4% is above 1%; p99 900 ms is above 500 ms (nothing was changed)"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("denial %q does not say %q", err, want)
	}
}

func TestWindowLengthIsTheCanaryPolicysWindow(t *testing.T) {
	eng, err := Load(shipped, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := WindowLength(eng); got != 30*time.Second {
		t.Errorf("shipped window = %s, want 30s", got)
	}
	eng, err = Load(shipped, map[string]map[string]any{policy.Canary: {"window_seconds": 7.5}})
	if err != nil {
		t.Fatal(err)
	}
	if got := WindowLength(eng); got != 7500*time.Millisecond {
		t.Errorf("overridden window = %s, want 7.5s", got)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"x.rego":    "package swiftdeploy.x\n\ndecision := {\"allow\": true, \"domain\": \"x\", \"violations\": []}\n",
		"data.json": `{"swiftdeploy": {"thresholds": {"x": {}}}}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if eng, err = Load(dir, nil); err != nil {
		t.Fatal(err)
	}
	if got := WindowLength(eng); got != 30*time.Second {
		t.Errorf("window without a canary policy = %s, want the 30s default", got)
	}
}

func TestLoadFailsClosedOnPoliciesThatDoNotCompile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.rego"), []byte("package swiftdeploy.x\n\nallow if {"), 0o644); err != nil {
		t.Fatal(err)
	}
	eng, err := Load(dir, nil)
	if eng != nil || err == nil || !strings.HasPrefix(err.Error(), "policy engine unavailable, refusing to act (fail closed): ") {
		t.Errorf("Load = %v, %v; want no engine and a fail-closed error", eng, err)
	}
}
