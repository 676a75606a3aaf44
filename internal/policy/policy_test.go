package policy

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

// shipped is the policy folder the product ships.
const shipped = "../../policies"

func TestShippedRegoTestsAllPass(t *testing.T) {
	passed, failed, err := RunTests(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || passed == 0 {
		t.Fatalf("passed %d, failed %d", passed, failed)
	}
	t.Logf("%d Rego tests passed", passed)
}

func TestRunTestsNamesAFailingRegoTest(t *testing.T) {
	dir := policyDir(t, map[string]string{
		"x.rego":      "package swiftdeploy.x\n\nlimit := data.swiftdeploy.thresholds.x.max\n",
		"x_test.rego": "package swiftdeploy.x_test\n\nimport data.swiftdeploy.x\n\ntest_passes if x.limit == 3\n\ntest_fails if x.limit == 4\n",
	})
	passed, failed, err := RunTests(dir)
	if passed != 1 || failed != 1 {
		t.Errorf("passed %d, failed %d; want 1 and 1", passed, failed)
	}
	if err == nil || !strings.Contains(err.Error(), "test_fails") || !strings.Contains(err.Error(), "x_test.rego:7") {
		t.Errorf("err = %v; want it to name test_fails at x_test.rego:7", err)
	}
}

func TestDomainsAreThePackagesDirectlyUnderSwiftdeploy(t *testing.T) {
	e := loadShipped(t, nil)
	if got, want := e.Domains(), []string{Canary, Infrastructure, Release}; !slices.Equal(got, want) {
		t.Errorf("Domains() = %v, want %v", got, want)
	}
}

func roomyHost() map[string]any {
	return map[string]any{"disk_free_gb": 120.5, "cpu_load_1m": 0.4, "mem_free_percent": 63.2}
}

func healthyCanary() map[string]any {
	return map[string]any{
		"current_mode": "stable", "target_mode": "canary", "action": "promote",
		"window_seconds": 30.0, "requests": 1200, "error_rate_percent": 0.25,
		"p99_latency_ms": 87.5, "no_traffic": false,
	}
}

func with(base map[string]any, changes map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

func TestDecideOnTheShippedPolicies(t *testing.T) {
	cases := []struct {
		name      string
		domain    string
		input     map[string]any
		overrides map[string]map[string]any
		allow     bool
		messages  []string
		notes     []string
	}{
		{name: "a roomy host may deploy", domain: Infrastructure, input: roomyHost(), allow: true},
		{
			name: "a full disk blocks a deploy", domain: Infrastructure,
			input:    with(roomyHost(), map[string]any{"disk_free_gb": 3.2}),
			messages: []string{"disk free 3.20 GB is below the 10.00 GB minimum"},
		},
		{
			name: "every broken infrastructure rule is reported", domain: Infrastructure,
			input: map[string]any{"disk_free_gb": 1.0, "cpu_load_1m": 3.0, "mem_free_percent": 2.5},
			messages: []string{
				"CPU load 3.00 exceeds the 2.00 maximum",
				"disk free 1.00 GB is below the 10.00 GB minimum",
				"free memory 2.50% is below the 10.00% minimum",
			},
		},
		{
			name: "a manifest override makes the disk threshold impossible", domain: Infrastructure,
			input:     roomyHost(),
			overrides: map[string]map[string]any{Infrastructure: {"min_disk_free_gb": 100000}},
			messages:  []string{"disk free 120.50 GB is below the 100000.00 GB minimum"},
		},
		{
			name: "a missing measurement fails closed", domain: Infrastructure,
			input:    with(roomyHost(), map[string]any{"cpu_load_1m": nil}),
			messages: []string{"input cpu_load_1m is missing or not a number"},
		},
		{
			name: "a healthy canary may be promoted", domain: Canary, input: healthyCanary(), allow: true},
		{
			name: "a failing canary is held back with messages that read right", domain: Canary,
			input: with(healthyCanary(), map[string]any{"error_rate_percent": 56.45, "p99_latency_ms": 812.0}),
			messages: []string{
				"error rate 56.45% exceeds the 1.00% limit",
				"P99 latency 812.00 ms exceeds the 500.00 ms limit",
			},
		},
		{
			name: "a manifest override loosens the error rate", domain: Canary,
			input:     with(healthyCanary(), map[string]any{"error_rate_percent": 4.0}),
			overrides: map[string]map[string]any{Canary: {"max_error_rate_percent": 5}},
			allow:     true,
		},
		{
			name: "an empty window passes with a note, its P99 being NaN", domain: Canary,
			input: with(healthyCanary(), map[string]any{"requests": 0, "no_traffic": true, "error_rate_percent": 0.0, "p99_latency_ms": math.NaN()}),
			allow: true,
			notes: []string{"no traffic in the last 30 s window"},
		},
		{
			name: "a NaN P99 with traffic fails closed", domain: Canary,
			input:    with(healthyCanary(), map[string]any{"p99_latency_ms": math.NaN()}),
			messages: []string{"input p99_latency_ms is missing or not a number"},
		},
		{
			name: "a rollback passes whatever the metrics say", domain: Canary,
			input: with(healthyCanary(), map[string]any{"action": "rollback", "error_rate_percent": 56.45}),
			allow: true,
			notes: []string{
				"ignored for rollback: error rate 56.45% exceeds the 1.00% limit",
				"rollback is the emergency path: allowed whatever the metrics say",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := loadShipped(t, c.overrides)
			d, err := e.Decide(context.Background(), c.domain, c.input)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != c.allow || d.Domain != c.domain {
				t.Errorf("allow %v domain %q, want %v %q", d.Allow, d.Domain, c.allow, c.domain)
			}
			if got := messages(d); !slices.Equal(got, c.messages) {
				t.Errorf("messages:\n got %q\nwant %q", got, c.messages)
			}
			if !slices.Equal(d.Notes, c.notes) {
				t.Errorf("notes:\n got %q\nwant %q", d.Notes, c.notes)
			}
			if d.Checked == nil {
				t.Error("the decision does not say what it checked")
			}
		})
	}
}

func TestAViolationCarriesObservedValueAndLimitAsNumbers(t *testing.T) {
	e := loadShipped(t, nil)
	d, err := e.Decide(context.Background(), Canary, with(healthyCanary(), map[string]any{"error_rate_percent": 56.45}))
	if err != nil {
		t.Fatal(err)
	}
	want := []Violation{{Rule: "error_rate", Observed: 56.45, Limit: 1.0, Message: "error rate 56.45% exceeds the 1.00% limit"}}
	if !reflect.DeepEqual(d.Violations, want) {
		t.Errorf("violations = %#v, want %#v", d.Violations, want)
	}
	if d.Checked["requests"] != 1200.0 {
		t.Errorf("checked requests = %#v, want 1200.0", d.Checked["requests"])
	}
}

func TestThresholdsShowDataWithOverridesApplied(t *testing.T) {
	e := loadShipped(t, map[string]map[string]any{Canary: {"max_p99_latency_ms": 250}})
	want := map[string]any{"max_error_rate_percent": 1.0, "max_p99_latency_ms": 250.0, "window_seconds": 30.0, "min_requests": 0.0}
	got := e.Thresholds(Canary)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Thresholds(canary) = %v, want %v", got, want)
	}
	got["max_p99_latency_ms"] = 1.0
	if e.Thresholds(Canary)["max_p99_latency_ms"] != 250.0 {
		t.Error("Thresholds returned the engine's own map")
	}
	if e.Thresholds("nope") != nil {
		t.Error("Thresholds of an unknown domain is not nil")
	}
}

func TestLoadReportsEveryUnknownOverrideAsInvalidInput(t *testing.T) {
	_, err := Load(shipped, map[string]map[string]any{
		"canry":        {"max_error_rate_percent": 1},
		Infrastructure: {"min_disk_gb": 5, "max_cpu_load_1m": math.Inf(1)},
	})
	if !errors.Is(err, fail.ErrInvalid) {
		t.Fatalf("err = %v, want it to wrap fail.ErrInvalid", err)
	}
	for _, want := range []string{
		`policy.canry: unknown policy domain (known: canary, infrastructure, release)`,
		`policy.infrastructure.min_disk_gb: unknown threshold`,
		`policy.infrastructure.max_cpu_load_1m: +Inf is not a finite number`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("err spans several lines: %q", err)
	}
}

func TestBreakGlassAllowsButKeepsTheViolations(t *testing.T) {
	denied := Decision{Domain: Canary, Violations: []Violation{{Rule: "error_rate", Message: "too many errors"}}}
	d := BreakGlass(denied, "  incident 42: stable is down  ")
	if !d.Allow || !d.Overridden || d.OverrideReason != "incident 42: stable is down" || len(d.Violations) != 1 {
		t.Errorf("BreakGlass = %+v", d)
	}
	if d := BreakGlass(denied, " "); d.Allow || d.Overridden {
		t.Errorf("BreakGlass without a reason overrode: %+v", d)
	}
}

// A minimal well-formed policy for temporary policy folders.
const okPolicy = "package swiftdeploy.x\n\ndecision := {\"allow\": true, \"domain\": \"x\", \"checked\": input, \"violations\": []}\n"

// xPolicy is a one-rule policy for domain x.
func xPolicy(rule string) map[string]string {
	return map[string]string{"x.rego": "package swiftdeploy.x\n\n" + rule + "\n"}
}

func TestEveryFailureFailsClosedWithItsOwnMessage(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cases := []struct {
		name   string
		files  map[string]string // nil: no folder at all
		ctx    context.Context
		domain string
		want   string
	}{
		{name: "policy folder missing", want: "the policy folder is missing"},
		{
			name:  "no policy in the folder",
			files: map[string]string{},
			want:  "no .rego policy in the folder",
		},
		{
			name:  "rego parse error",
			files: map[string]string{"x.rego": "package swiftdeploy.x\n\ndecision := ]\n\nallow := true\n"},
			want:  "x.rego:3: rego_parse_error",
		},
		{
			name:  "rego compile error",
			files: xPolicy("decision := nowhere"),
			want:  "x.rego:3: rego_unsafe_var_error: var nowhere is unsafe",
		},
		{
			name:  "data.json that is not JSON",
			files: map[string]string{"x.rego": okPolicy, "data.json": "{\"swiftdeploy\":\n  {\"thresholds\": {,}}}"},
			want:  "data.json:2:19: invalid JSON",
		},
		{
			name:  "data.json missing",
			files: map[string]string{"x.rego": okPolicy, "data.json": ""},
			want:  "data.json: no such file or directory",
		},
		{
			name:  "data.json with a threshold that is neither a number nor a name",
			files: map[string]string{"x.rego": okPolicy, "data.json": `{"swiftdeploy": {"thresholds": {"x": {"max": true}}}}`},
			want:  "data.json: swiftdeploy.thresholds.x.max is not a number or a name",
		},
		{
			name:   "domain with no policy",
			files:  map[string]string{"x.rego": okPolicy},
			domain: "nope",
			want:   `no policy for domain "nope" (have x)`,
		},
		{
			name:  "package without a decision",
			files: xPolicy("allow := true"),
			want:  "data.swiftdeploy.x.decision is undefined",
		},
		{
			name:  "decision undefined for this input",
			files: xPolicy(`decision := {"allow": true, "domain": "x", "violations": []} if input.never`),
			want:  "data.swiftdeploy.x.decision is undefined",
		},
		{
			name:  "allow that is not a boolean",
			files: xPolicy(`decision := {"allow": "yes", "domain": "x", "violations": []}`),
			want:  "wrong shape: allow is a string, want a boolean",
		},
		{
			name:  "a decision that is not an object",
			files: xPolicy("decision := true"),
			want:  "wrong shape: it is a boolean, want an object",
		},
		{
			name:  "allow despite violations",
			files: xPolicy(`decision := {"allow": true, "domain": "x", "violations": [{"rule": "r", "message": "m"}]}`),
			want:  "wrong shape: allow is true despite 1 violation(s)",
		},
		{
			name:  "evaluation error",
			files: xPolicy(`decision := {"allow": to_number(input.s) > 1, "domain": "x", "violations": []}`),
			want:  "x.rego:3: eval_builtin_error: to_number",
		},
		{
			name:  "timeout",
			files: map[string]string{"x.rego": okPolicy},
			ctx:   expired,
			want:  "evaluation did not finish in time: context deadline exceeded",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "policies")
			if c.files != nil {
				dir = policyDir(t, c.files)
			}
			ctx, domain := c.ctx, c.domain
			if ctx == nil {
				ctx = context.Background()
			}
			if domain == "" {
				domain = "x"
			}
			err := loadAndDecide(t, ctx, dir, domain)
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "policy: ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("err is not one line starting with \"policy: \": %q", err)
			}
		})
	}
}

// loadAndDecide loads dir and asks it for a decision on domain, checking that a failed
// decision never allows.
func loadAndDecide(t *testing.T, ctx context.Context, dir, domain string) error {
	t.Helper()
	e, err := Load(dir, nil)
	if err != nil {
		if e != nil {
			t.Error("Load returned an engine with its error")
		}
		return err
	}
	d, err := e.Decide(ctx, domain, map[string]any{"s": "not a number"})
	if err != nil && d.Allow {
		t.Errorf("Decide failed with %v but returned a decision that allows", err)
	}
	return err
}

// policyDir writes files into a fresh policy folder. A data.json with no thresholds is
// added unless files names one; an empty content means the file must not exist.
func policyDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, ok := files[DataFile]; !ok {
		files = with2(files, DataFile, `{"swiftdeploy": {"thresholds": {"x": {"max": 3}}}}`)
	}
	for name, content := range files {
		if content == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func with2(files map[string]string, name, content string) map[string]string {
	out := map[string]string{name: content}
	for k, v := range files {
		out[k] = v
	}
	return out
}

func loadShipped(t testing.TB, overrides map[string]map[string]any) *Engine {
	t.Helper()
	e, err := Load(shipped, overrides)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func messages(d Decision) []string {
	var out []string
	for _, v := range d.Violations {
		out = append(out, v.Message)
	}
	return out
}

func TestShippedPoliciesAreInOpaFmtLayout(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(shipped, "*.rego"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no policies found: %v", err)
	}
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		formatted, err := format.SourceWithOpts(path, src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		if string(formatted) != string(src) {
			t.Errorf("%s is not in opa fmt layout; it would read:\n%s", path, formatted)
		}
	}
}
