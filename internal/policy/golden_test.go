package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/golden"
)

// goldenCase is one input whose whole Decision is pinned in testdata/decisions.golden.json.
type goldenCase struct {
	name      string
	domain    string
	input     map[string]any
	overrides map[string]map[string]any
}

// goldenRecord is what the golden file keeps of one decision: its JSON, its Go value with
// every dynamic type spelled out (float64 and int print alike in JSON) and any error.
type goldenRecord struct {
	Name     string          `json:"name"`
	Decision json.RawMessage `json:"decision"`
	GoValue  string          `json:"go_value"`
	Error    string          `json:"error,omitempty"`
}

func goldenCases() []goldenCase {
	nan, inf := math.NaN(), math.Inf(1)
	canary := func(changes map[string]any) map[string]any { return with(healthyCanary(), changes) }
	host := func(changes map[string]any) map[string]any { return with(roomyHost(), changes) }
	return []goldenCase{
		{name: "infrastructure roomy", domain: Infrastructure, input: roomyHost()},
		{name: "infrastructure low disk", domain: Infrastructure, input: host(map[string]any{"disk_free_gb": 3.2})},
		{name: "infrastructure cpu spike alone", domain: Infrastructure, input: host(map[string]any{"cpu_load_1m": 3.0})},
		{name: "infrastructure cpu spike as int", domain: Infrastructure, input: host(map[string]any{"cpu_load_1m": 3})},
		{name: "infrastructure cpu spike and low disk", domain: Infrastructure, input: host(map[string]any{"cpu_load_1m": 3.0, "disk_free_gb": 1})},
		{name: "infrastructure everything broken", domain: Infrastructure, input: map[string]any{"disk_free_gb": 1.0, "cpu_load_1m": 9.5, "mem_free_percent": 2.5}},
		{name: "infrastructure exactly at limits", domain: Infrastructure, input: map[string]any{"disk_free_gb": 10, "cpu_load_1m": 2.0, "mem_free_percent": 10.0}},
		{name: "infrastructure just past limits", domain: Infrastructure, input: map[string]any{"disk_free_gb": 9.99, "cpu_load_1m": 2.01, "mem_free_percent": 9.99}},
		{name: "infrastructure missing field", domain: Infrastructure, input: host(map[string]any{"cpu_load_1m": nil})},
		{name: "infrastructure string field", domain: Infrastructure, input: host(map[string]any{"disk_free_gb": "lots"})},
		{name: "infrastructure NaN and Inf", domain: Infrastructure, input: host(map[string]any{"disk_free_gb": nan, "mem_free_percent": inf})},
		{name: "infrastructure empty input", domain: Infrastructure, input: map[string]any{}},
		{name: "infrastructure nil input", domain: Infrastructure, input: nil},
		{name: "infrastructure json numbers and extras", domain: Infrastructure, input: map[string]any{
			"disk_free_gb": json.Number("5"), "cpu_load_1m": int64(1), "mem_free_percent": float32(50.5),
			"host": "a", "tags": []any{"x", 1, true}, "nested": map[string]any{"k": 2.5},
		}},
		{name: "infrastructure override", domain: Infrastructure, input: roomyHost(), overrides: map[string]map[string]any{Infrastructure: {"min_disk_free_gb": 100000, "cpu_settle_seconds": 7.5}}},
		{name: "infrastructure override cpu only", domain: Infrastructure, input: host(map[string]any{"cpu_load_1m": 3.0}), overrides: map[string]map[string]any{Infrastructure: {"cpu_settle_seconds": 7.5}}},
		{name: "canary healthy", domain: Canary, input: healthyCanary()},
		{name: "canary high error rate", domain: Canary, input: canary(map[string]any{"error_rate_percent": 56.45})},
		{name: "canary slow p99", domain: Canary, input: canary(map[string]any{"p99_latency_ms": 812.0})},
		{name: "canary both failing", domain: Canary, input: canary(map[string]any{"error_rate_percent": 5, "p99_latency_ms": 900.1})},
		{name: "canary at limits", domain: Canary, input: canary(map[string]any{"error_rate_percent": 1, "p99_latency_ms": 500.0})},
		{name: "canary missing p99", domain: Canary, input: canary(map[string]any{"p99_latency_ms": nil})},
		{name: "canary string metric", domain: Canary, input: canary(map[string]any{"error_rate_percent": "0.5"})},
		{name: "canary missing mode", domain: Canary, input: canary(map[string]any{"target_mode": nil})},
		{name: "canary mode not a string", domain: Canary, input: canary(map[string]any{"target_mode": 3})},
		{name: "canary unknown action", domain: Canary, input: canary(map[string]any{"action": "deploy"})},
		{name: "canary action not a string", domain: Canary, input: canary(map[string]any{"action": true})},
		{name: "canary empty input", domain: Canary, input: map[string]any{}},
		{name: "canary rollback with bad metrics", domain: Canary, input: canary(map[string]any{"action": "rollback", "error_rate_percent": 56.45, "p99_latency_ms": 812})},
		{name: "canary rollback without metrics", domain: Canary, input: map[string]any{"current_mode": "canary", "target_mode": "stable", "action": "rollback"}},
		{name: "canary empty window", domain: Canary, input: canary(map[string]any{"requests": 0, "no_traffic": true, "error_rate_percent": 0.0, "p99_latency_ms": nan})},
		{name: "canary zero requests alone", domain: Canary, input: canary(map[string]any{"requests": 0.0, "no_traffic": false, "error_rate_percent": nil, "p99_latency_ms": nil})},
		{name: "canary NaN p99 with traffic", domain: Canary, input: canary(map[string]any{"p99_latency_ms": nan})},
		{name: "canary float window", domain: Canary, input: canary(map[string]any{"window_seconds": 12.5, "requests": 0, "no_traffic": true})},
		{name: "canary window missing", domain: Canary, input: canary(map[string]any{"window_seconds": nil, "requests": 0, "no_traffic": true})},
		{name: "canary demands traffic", domain: Canary, input: canary(map[string]any{"requests": 3, "error_rate_percent": 0.0}), overrides: map[string]map[string]any{Canary: {"min_requests": 50}}},
		{name: "canary demands traffic on empty window", domain: Canary, input: canary(map[string]any{"requests": 0, "no_traffic": true}), overrides: map[string]map[string]any{Canary: {"min_requests": 50.5, "window_seconds": 60}}},
		{name: "canary loosened error rate", domain: Canary, input: canary(map[string]any{"error_rate_percent": 4.0}), overrides: map[string]map[string]any{Canary: {"max_error_rate_percent": 5}}},
		{name: "canary tightened with fractions", domain: Canary, input: canary(map[string]any{"error_rate_percent": 0.5, "p99_latency_ms": 87.5}), overrides: map[string]map[string]any{Canary: {"max_error_rate_percent": 0.125, "max_p99_latency_ms": 12.345}}},
		{name: "canary huge and tiny numbers", domain: Canary, input: canary(map[string]any{"error_rate_percent": 1e21, "p99_latency_ms": 0.005, "requests": 1e15})},
		{name: "unknown domain", domain: "nope", input: roomyHost()},
	}
}

func TestDecisionsMatchTheGoldenFile(t *testing.T) {
	engines := map[string]*Engine{}
	var records []goldenRecord
	for _, c := range goldenCases() {
		key := fmt.Sprint(c.overrides)
		e, ok := engines[key]
		if !ok {
			e = loadShipped(t, c.overrides)
			engines[key] = e
		}
		d, err := e.Decide(context.Background(), c.domain, c.input)
		doc, jsonErr := json.Marshal(d)
		if jsonErr != nil {
			t.Fatalf("%s: %v", c.name, jsonErr)
		}
		r := goldenRecord{Name: c.name, Decision: doc, GoValue: typed(d)}
		if err != nil {
			r.Error = err.Error()
		}
		records = append(records, r)
	}
	got, err := json.MarshalIndent(records, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden.Check(t, filepath.Join("testdata", "decisions.golden.json"), got)
}

// typed renders d with the dynamic type of every value inside Checked, Observed and Limit,
// which %#v leaves out (float64(3) and int(3) both print as 3).
func typed(d Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "allow=%v domain=%q checked=%s retry=%T(%v) notes=%#v violations=[", d.Allow, d.Domain, typedValue(d.Checked), d.RetrySeconds, d.RetrySeconds, d.Notes)
	if d.Violations == nil {
		b.WriteString("nil")
	}
	for _, v := range d.Violations {
		fmt.Fprintf(&b, "{%q %s %s %q}", v.Rule, typedValue(v.Observed), typedValue(v.Limit), v.Message)
	}
	b.WriteString("]")
	return b.String()
}

func typedValue(v any) string {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return "map(nil)"
		}
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%q:%s", k, typedValue(x[k]))
		}
		return "map{" + strings.Join(parts, " ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, item := range x {
			parts[i] = typedValue(item)
		}
		return "[" + strings.Join(parts, " ") + "]"
	default:
		return fmt.Sprintf("%T(%#v)", v, v)
	}
}
