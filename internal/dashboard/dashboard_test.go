package dashboard

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/golden"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
)

var at = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func pass(domain string, notes ...string) *policy.Decision {
	return &policy.Decision{Allow: true, Domain: domain, Violations: []policy.Violation{}, Notes: notes}
}

func containers(health string) []Container {
	return []Container{
		{Name: "swiftdeploy-app-1", Service: "app", State: "running", Health: health, StartedAt: at.Add(-62*time.Minute - 3*time.Second)},
		{Name: "swiftdeploy-nginx-1", Service: "nginx", State: "running", StartedAt: at.Add(-65 * time.Minute)},
	}
}

// snapshots are the cases every golden test renders, by golden file name.
func snapshots() map[string]Snapshot {
	return map[string]Snapshot{
		"healthy_stable": {
			At: at, Project: "swiftdeploy", Up: true, Mode: "stable", Version: "v1.4.2",
			UptimeSeconds: 3723.8, Chaos: "none",
			Window:            &metrics.Window{Seconds: 30, Requests: 372, Errors: 0, P99Ms: 42.317},
			RequestsPerSecond: 12.4,
			Containers:        containers("healthy"),
			Domains:           []Domain{{Name: policy.Infrastructure, Decision: pass(policy.Infrastructure)}, {Name: "canary", Decision: pass("canary")}},
		},
		"canary_error_chaos": {
			At: at, Project: "swiftdeploy", Up: true, Mode: "canary", Version: "v1.5.0-rc1",
			UptimeSeconds: 125, Chaos: "error",
			Window:            &metrics.Window{Seconds: 30.004, Requests: 310, Errors: 175, ErrorRatePercent: 56.4516, P99Ms: 812.44},
			RequestsPerSecond: 10.332,
			Containers:        containers("unhealthy"),
			Domains: []Domain{
				{Name: policy.Infrastructure, Decision: pass(policy.Infrastructure, "memory free 41.2% (limit 10.0%)")},
				{Name: "canary", Decision: &policy.Decision{Domain: "canary", Violations: []policy.Violation{
					{Rule: "error_rate", Observed: 56.4516, Limit: 1.0, Message: "error rate 56.45% exceeds the 1.00% limit"},
					{Rule: "p99_latency", Observed: 812.44, Limit: 500.0, Message: "P99 latency 812.44 ms exceeds the 500.00 ms limit"},
				}}},
			},
		},
		// Behind the host's edge: a certificate in good time, one due for
		// renewal whose last order failed, one expired, and a name with none.
		"behind_edge": {
			At: at, Project: "swiftdeploy-shop", Up: true, Mode: "stable", Version: "v1.4.2",
			UptimeSeconds: 600, Chaos: "none",
			Containers: containers("healthy"),
			Domains:    []Domain{{Name: policy.Infrastructure, Decision: pass(policy.Infrastructure)}},
			Edge: &Edge{Running: true, Routed: true, HTTPPort: 80, HTTPSPort: 443, TLS: "acme", Renewer: true, RenewEvery: time.Hour, Hosts: []EdgeHost{
				{Name: "shop.example.com", Issuer: "CN=R11,O=Let's Encrypt", Serial: "04AB", NotAfter: at.Add(80 * 24 * time.Hour), RenewAfter: at.Add(50 * 24 * time.Hour)},
				{Name: "www.shop.example.com", Issuer: "CN=R11,O=Let's Encrypt", Serial: "04AC", NotAfter: at.Add(20 * 24 * time.Hour), RenewAfter: at.Add(-10 * 24 * time.Hour),
					Failure: "the CA answered 503", FailedAt: at.Add(-5 * time.Minute), RetryAt: at.Add(5 * time.Minute)},
				{Name: "old.shop.example.com", Issuer: "CN=R11,O=Let's Encrypt", Serial: "03FF", NotAfter: at.Add(-time.Hour), RenewAfter: at.Add(-31 * 24 * time.Hour)},
				{Name: "new.shop.example.com"},
			}},
		},
		"stack_down": {
			At: at, Project: "swiftdeploy", Up: false, Problem: "connection refused on :8080", Mode: "canary",
			UptimeSeconds: 4000, Chaos: "slow", // stale values from before the stack went down: never shown
			Window: &metrics.Window{Seconds: 5, Requests: 50, ErrorRatePercent: 2},
			Containers: []Container{
				{Name: "swiftdeploy-app-1", Service: "app", State: "exited", Health: "unhealthy", StartedAt: at.Add(-time.Hour)},
				{Name: "swiftdeploy-nginx-1", Service: "nginx", State: "exited"},
			},
			Domains: []Domain{
				{Name: policy.Infrastructure, Err: "stack down: no metrics", Decision: &policy.Decision{Domain: policy.Infrastructure}},
				{Name: "canary", Err: "stack down: no metrics"},
			},
		},
		"no_traffic": {
			At: at, Project: "demo", Up: true, Mode: "stable", Version: "v1.4.2", UptimeSeconds: 59.9, Chaos: "none",
			Window:     &metrics.Window{Seconds: 5.012, NoTraffic: true, Reset: true},
			Containers: containers("starting"),
			Domains: []Domain{
				{Name: policy.Infrastructure, Decision: pass(policy.Infrastructure)},
				{Name: "canary", Decision: pass("canary", "no traffic in the 5s window: nothing to judge")},
			},
		},
		"interrupted_switch": {
			At: at, Project: "swiftdeploy", Up: true, Mode: "stable", Version: "v1.4.2", UptimeSeconds: 40, Chaos: "none",
			Change:     "INTERRUPTED: promote stable → canary (pid 4242, started 09:26:01 UTC, starting); run `deploy` or `rollback` to finish or undo it",
			Containers: append(containers("healthy"), Container{Name: "swiftdeploy-app-2", Service: "app", State: "running", Health: "healthy", StartedAt: at.Add(-50 * time.Second)}),
		},
		"release_in_progress": {
			At: at, Project: "swiftdeploy", Up: true, Mode: "stable", Version: "v1.4.2", UptimeSeconds: 400, Chaos: "none",
			Change: "in progress: release v1.4.2 → v1.5.0 (pid 4242, started 09:26:01 UTC, canary, step 2 of 4 at 25%)",
			Release: &Release{From: "v1.4.2", To: "v1.5.0", Phase: "canary", Step: 2, Steps: 4, Weight: 25, WindowSeconds: 10, Builds: []Build{
				{Side: "stable", Image: "team/app:1.4.2", Version: "v1.4.2", Requests: 7512, RequestsPerSecond: 751.2, ErrorRatePercent: 0.04, P99Ms: 4.1},
				{Side: "canary", Image: "team/app:1.5.0", Version: "v1.5.0", Requests: 2488, RequestsPerSecond: 248.8, ErrorRatePercent: 12.5, P99Ms: 6.3},
			}},
			Containers: append(containers("healthy"), Container{Name: "swiftdeploy-canary-1", Service: "canary", State: "running", Health: "healthy", StartedAt: at.Add(-50 * time.Second)}),
		},
		"release_with_smoke": {
			At: at, Project: "swiftdeploy", Up: true, Mode: "stable", Version: "v1.4.2", UptimeSeconds: 400, Chaos: "none",
			Change: "in progress: release v1.4.2 → v1.5.0 (pid 4242, started 09:26:01 UTC, canary, step 1 of 4 at 10%)",
			Release: &Release{From: "v1.4.2", To: "v1.5.0", Phase: "canary", Step: 1, Steps: 4, Weight: 10, WindowSeconds: 10, Builds: []Build{
				{Side: "stable", Image: "team/app:1.4.2", Version: "v1.4.2", Requests: 59, SmokeRequests: 50, RequestsPerSecond: 5.9, P99Ms: 4.1},
				{Side: "canary", Image: "team/app:1.5.0", Version: "v1.5.0", Requests: 51, SmokeRequests: 50, RequestsPerSecond: 5.1, ErrorRatePercent: 1.96, P99Ms: 6.3},
			}},
			Containers: append(containers("healthy"), Container{Name: "swiftdeploy-canary-1", Service: "canary", State: "running", Health: "healthy", StartedAt: at.Add(-50 * time.Second)}),
		},
		"first_refresh": {
			At: at, Project: "swiftdeploy", Up: true, Mode: "stable", Version: "v1.4.2", UptimeSeconds: 2, Chaos: "none",
			Containers: containers("healthy"),
		},
	}
}

func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", file), got)
}

func TestTextMatchesGoldenFiles(t *testing.T) {
	for name, s := range snapshots() {
		t.Run(name, func(t *testing.T) { checkGolden(t, name+".txt", []byte(Text(s, false))) })
	}
}

func TestJSONMatchesGoldenFiles(t *testing.T) {
	for _, name := range []string{"canary_error_chaos", "stack_down", "interrupted_switch", "release_in_progress", "release_with_smoke", "behind_edge"} {
		t.Run(name, func(t *testing.T) {
			out, err := JSON(snapshots()[name])
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".json", out)
		})
	}
}

var documentedKeys = []string{
	"at", "change", "chaos", "containers", "counter_reset", "error_rate_percent", "mode", "no_traffic",
	"p99_latency_ms", "policies", "problem", "project", "release", "req_per_sec", "up", "uptime_seconds",
	"version", "window_seconds",
}

func decode(t *testing.T, s Snapshot) map[string]any {
	t.Helper()
	out, err := JSON(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(out, []byte("}\n")) || bytes.Count(out, []byte("\n")) != 1 {
		t.Errorf("want one object on one newline-terminated line, got %q", out)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	return doc
}

func TestJSONParsesBackWithTheDocumentedKeys(t *testing.T) {
	for name, s := range snapshots() {
		t.Run(name, func(t *testing.T) {
			doc := decode(t, s)
			var keys []string
			for k := range doc {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			want := documentedKeys
			if s.Edge != nil { // edge is there only for a stack behind the host's edge
				want = slices.Sorted(slices.Values(append(slices.Clone(documentedKeys), "edge")))
			}
			if !slices.Equal(keys, want) {
				t.Errorf("keys = %v, want %v", keys, want)
			}
			for _, c := range doc["containers"].([]any) {
				for _, k := range []string{"name", "service", "state", "health", "started_at"} {
					if _, ok := c.(map[string]any)[k]; !ok {
						t.Errorf("container %v lacks %q", c, k)
					}
				}
			}
		})
	}
}

func TestJSONReportsEachPolicyDomainWithItsStatus(t *testing.T) {
	doc := decode(t, snapshots()["canary_error_chaos"])
	policies := doc["policies"].(map[string]any)
	canary := policies["canary"].(map[string]any)
	if canary["status"] != "FAIL" {
		t.Errorf("canary status = %v, want FAIL", canary["status"])
	}
	violations := canary["violations"].([]any)
	if len(violations) != 2 {
		t.Fatalf("canary has %d violations, want 2", len(violations))
	}
	first := violations[0].(map[string]any)
	want := map[string]any{"rule": "error_rate", "observed": 56.4516, "limit": 1.0, "message": "error rate 56.45% exceeds the 1.00% limit"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("violation %s = %v, want %v", k, first[k], v)
		}
	}
	infra := policies["infrastructure"].(map[string]any)
	if infra["status"] != "PASS" || len(infra["notes"].([]any)) != 1 {
		t.Errorf("infrastructure = %v, want PASS with one note", infra)
	}

	down := decode(t, snapshots()["stack_down"])["policies"].(map[string]any)["canary"].(map[string]any)
	if down["status"] != "UNKNOWN" || down["error"] != "stack down: no metrics" {
		t.Errorf("canary when down = %v, want UNKNOWN with the error", down)
	}
}

func TestJSONShowsWhatIsNotKnownAsNull(t *testing.T) {
	tests := []struct {
		name      string
		s         Snapshot
		null      []string
		notNull   []string
		reqPerSec any
	}{
		{"stack down", snapshots()["stack_down"],
			[]string{"uptime_seconds", "chaos", "req_per_sec", "error_rate_percent", "p99_latency_ms", "window_seconds", "no_traffic", "version"},
			[]string{"mode", "problem"}, nil},
		{"no traffic", snapshots()["no_traffic"],
			[]string{"error_rate_percent", "p99_latency_ms"},
			[]string{"req_per_sec", "window_seconds", "no_traffic", "uptime_seconds"}, 0.0},
		{"first refresh", snapshots()["first_refresh"],
			[]string{"req_per_sec", "error_rate_percent", "p99_latency_ms", "window_seconds", "no_traffic"},
			[]string{"uptime_seconds", "chaos", "mode"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := decode(t, tt.s)
			for _, k := range tt.null {
				if doc[k] != nil {
					t.Errorf("%s = %v, want null", k, doc[k])
				}
			}
			for _, k := range tt.notNull {
				if doc[k] == nil {
					t.Errorf("%s is null, want a value", k)
				}
			}
			if doc["req_per_sec"] != tt.reqPerSec {
				t.Errorf("req_per_sec = %v, want %v", doc["req_per_sec"], tt.reqPerSec)
			}
		})
	}
}

func TestJSONTurnsNonFiniteNumbersIntoNull(t *testing.T) {
	s := snapshots()["healthy_stable"]
	s.RequestsPerSecond = math.Inf(1)
	s.Window = &metrics.Window{Seconds: 0, Requests: 3, P99Ms: math.NaN()}
	doc := decode(t, s)
	if doc["req_per_sec"] != nil || doc["p99_latency_ms"] != nil {
		t.Errorf("req_per_sec = %v, p99_latency_ms = %v, want both null", doc["req_per_sec"], doc["p99_latency_ms"])
	}
}

func TestJSONRejectsTwoDomainsWithTheSameName(t *testing.T) {
	s := snapshots()["healthy_stable"]
	s.Domains = append(s.Domains, Domain{Name: "canary", Err: "again"})
	if _, err := JSON(s); err == nil || !strings.Contains(err.Error(), `"canary" appears twice`) {
		t.Errorf("err = %v, want one naming the duplicate domain", err)
	}
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestColourIsUsedExactlyWhenAskedForAndKeepsTheLayout(t *testing.T) {
	for name, s := range snapshots() {
		t.Run(name, func(t *testing.T) {
			plain, coloured := Text(s, false), Text(s, true)
			if strings.Contains(plain, "\x1b") {
				t.Errorf("colour off, yet the output has escape codes:\n%q", plain)
			}
			if !ansi.MatchString(coloured) {
				t.Errorf("colour on, yet the output has no ANSI codes:\n%s", coloured)
			}
			if stripped := ansi.ReplaceAllString(coloured, ""); stripped != plain {
				t.Errorf("coloured output without its codes differs from the plain output:\n%s\nwant:\n%s", stripped, plain)
			}
		})
	}
}

func TestColourMarksPassGreenFailRedAndWarningsYellow(t *testing.T) {
	const green, red, yellow = "\x1b[32;1m", "\x1b[31;1m", "\x1b[33;1m"
	tests := []struct{ snapshot, want string }{
		{"healthy_stable", green + "PASS"},
		{"canary_error_chaos", red + "FAIL"},
		{"canary_error_chaos", yellow + "error (chaos active)"},
		{"stack_down", red + "Stack is DOWN: connection refused on :8080"},
		{"stack_down", yellow + "UNKNOWN"},
		{"no_traffic", yellow + "no traffic"},
	}
	for _, tt := range tests {
		if got := Text(snapshots()[tt.snapshot], true); !strings.Contains(got, tt.want) {
			t.Errorf("%s: want %q in\n%q", tt.snapshot, tt.want, got)
		}
	}
}

func TestDomainStatusFollowsTheDecision(t *testing.T) {
	overridden := policy.BreakGlass(policy.Decision{Domain: "canary", Violations: []policy.Violation{{Rule: "error_rate", Message: "m"}}}, "outage")
	tests := []struct {
		name string
		d    Domain
		want string
	}{
		{"allowed", Domain{Name: "canary", Decision: pass("canary")}, StatusPass},
		{"allowed with notes", Domain{Name: "canary", Decision: pass("canary", "n")}, StatusPass},
		{"denied", Domain{Name: "canary", Decision: &policy.Decision{}}, StatusFail},
		{"overridden still breaks its rule", Domain{Name: "canary", Decision: &overridden}, StatusFail},
		{"error wins over a fail-closed decision", Domain{Name: "canary", Err: "timeout", Decision: &policy.Decision{}}, StatusUnknown},
		{"not asked", Domain{Name: "canary"}, StatusUnknown},
	}
	for _, tt := range tests {
		if got := tt.d.status(); got != tt.want {
			t.Errorf("%s: status = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestTextExplainsDenialsWithoutViolationsAndOverrides(t *testing.T) {
	overridden := policy.BreakGlass(policy.Decision{Domain: "canary", Violations: []policy.Violation{{Rule: "error_rate", Message: "too many errors"}}}, "outage")
	s := Snapshot{At: at, Up: true, Domains: []Domain{
		{Name: "canary", Decision: &overridden},
		{Name: "infrastructure", Decision: &policy.Decision{}},
	}}
	got := Text(s, false)
	for _, want := range []string{
		"  canary          FAIL  error_rate: too many errors\n                        overridden (break glass): outage\n",
		"  infrastructure  FAIL  denied without a violation\n",
		"  (no containers found)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in\n%s", want, got)
		}
	}
}

func TestHumanDurationReadsLikeAClock(t *testing.T) {
	tests := []struct {
		seconds float64
		want    string
	}{
		{0, "0s"}, {59.9, "59s"}, {60, "1m00s"}, {3723, "1h02m03s"}, {97200, "27h00m00s"}, {-1, "—"}, {math.NaN(), "—"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.seconds); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.seconds, got, tt.want)
		}
	}
}
