package gate

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/golden"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/hoststats"
	"github.com/swiftdeploy/swiftdeploy/internal/judge"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
)

// shipped is the policy folder the product ships.
const shipped = "../../policies"

// judged is step as the judge builds it at the end of a 5 s step, with the
// evidence of canary and stable under the shipped thresholds.
func judged(step ReleaseStep, canary, stable judge.Build) ReleaseStep {
	eng, err := Load(shipped, nil)
	if err != nil {
		panic(err)
	}
	settings, err := judge.SettingsFrom(eng.Thresholds(policy.Release))
	if err != nil {
		panic(err)
	}
	st, err := judge.NewStep(settings, 5*time.Second)
	if err != nil {
		panic(err)
	}
	if step.Evidence, err = st.Look(time.Duration(float64(step.WindowSeconds)*float64(time.Second)), canary, stable); err != nil {
		panic(err)
	}
	step.Final = true
	return step
}

// inputs are one input of every domain, built as the commands build them.
func inputs() []struct {
	domain string
	input  any
} {
	host := FromHost(hoststats.Stats{DiskFreeGB: 61.3, CPULoad1m: 0.42, MemFreePercent: 71.5})
	window := FromWindow(metrics.Window{Seconds: 30.01, Requests: 150, Errors: 1, ErrorRatePercent: 0.6666666666666666, P99Ms: 14.5}, "stable", "canary", "promote")
	step := judged(ReleaseStep{WindowSeconds: 5.03, Weight: 10, Extensions: 0, Step: 1, Steps: 3,
		Canary: FromFigures(routelog.Figures{Requests: 300, ErrorRatePercent: 0, P99Ms: 12}, &history.BuildFigures{Requests: 301, ErrorRatePercent: 0, P99Ms: 10.5}),
		Stable: FromFigures(routelog.Figures{Requests: 2700, Errors: 3, ErrorRatePercent: 0.1111111111111111, P99Ms: 11}, nil)},
		judge.Build{Requests: 300, LatenciesMs: []float64{2, 3, 3, 4, 12}}, judge.Build{Requests: 2700, Errors: 3, LatenciesMs: []float64{2, 3, 3, 4, 11}})
	return []struct {
		domain string
		input  any
	}{{policy.Infrastructure, host}, {policy.Canary, window}, {policy.Release, step}}
}

func TestEveryInputMarshalsToTheKeysItsPolicyReads(t *testing.T) {
	for _, in := range inputs() {
		t.Run(in.domain, func(t *testing.T) {
			got, err := json.MarshalIndent(in.input, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", in.domain+".json"), append(got, '\n'))
		})
	}
}

// TestThePoliciesFindEveryKeyTheyNeedInEachInput asks the shipped policies
// about each input: a key they read and the input lacks, or holds as the
// wrong kind, would be a missing_input violation.
func TestThePoliciesFindEveryKeyTheyNeedInEachInput(t *testing.T) {
	eng, err := Load(shipped, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs() {
		t.Run(in.domain, func(t *testing.T) {
			d, err := Ask(context.Background(), eng, in.domain, in.input)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allow || len(d.Violations) > 0 {
				t.Errorf("%s denied a healthy input: %+v", in.domain, d.Violations)
			}
			for _, n := range d.Notes {
				if strings.Contains(n, "missing") {
					t.Errorf("%s noted %q", in.domain, n)
				}
			}
		})
	}
}

func TestAFigureThatIsNotFiniteReachesThePolicyAsMissing(t *testing.T) {
	eng, err := Load(shipped, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := FromHost(hoststats.Stats{DiskFreeGB: 61.3, CPULoad1m: math.NaN(), MemFreePercent: math.Inf(1)})
	data, err := json.Marshal(in)
	if err != nil || string(data) != `{"disk_free_gb":61.3,"cpu_load_1m":null,"mem_free_percent":null}` {
		t.Fatalf("json = %s, %v", data, err)
	}
	d, err := Ask(context.Background(), eng, policy.Infrastructure, in)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, v := range d.Violations {
		if v.Rule == "missing_input" {
			missing = append(missing, v.Message)
		}
	}
	slices.Sort(missing)
	want := []string{"input cpu_load_1m is missing or not a number", "input mem_free_percent is missing or not a number"}
	if d.Allow || !slices.Equal(missing, want) {
		t.Errorf("decision allow=%v, missing %q; want a denial naming %q", d.Allow, missing, want)
	}
}

// Whole numbers reach Rego as integers and fractions as floats, as Go's int
// and float64 did: the policies print them with %v and %d.
func TestNumbersReachThePolicyAsTheirJSONText(t *testing.T) {
	doc, err := document(ReleaseStep{WindowSeconds: 5.5, Weight: 10, Canary: FromFigures(routelog.Figures{Requests: 3}, nil)})
	if err != nil {
		t.Fatal(err)
	}
	canary := doc["canary"].(map[string]any)
	for key, want := range map[string]any{"weight": json.Number("10"), "window_seconds": json.Number("5.5")} {
		if doc[key] != want {
			t.Errorf("%s = %#v, want %#v", key, doc[key], want)
		}
	}
	if canary["requests"] != json.Number("3") {
		t.Errorf("canary.requests = %#v, want json.Number 3", canary["requests"])
	}
	if _, ok := canary["app"]; ok {
		t.Error("a build without /metrics has an app view")
	}
}

func TestTheReleasePolicyReadsTheJudgesEvidence(t *testing.T) {
	eng, err := Load(shipped, nil)
	if err != nil {
		t.Fatal(err)
	}
	quiet := judged(ReleaseStep{WindowSeconds: 5, Weight: 10, Extensions: 2, Step: 1, Steps: 3,
		Canary: FromFigures(routelog.Figures{Requests: 3, P99Ms: 10}, nil), Stable: FromFigures(routelog.Figures{Requests: 5, P99Ms: 11}, nil)},
		judge.Build{Requests: 3, LatenciesMs: []float64{10, 10, 10}}, judge.Build{Requests: 5, LatenciesMs: []float64{11, 11, 11, 11, 11}})
	d, err := Ask(context.Background(), eng, policy.Release, quiet)
	if err != nil {
		t.Fatal(err)
	}
	want := "inconclusive after 2 extensions of the step: 3 canary requests against stable's 0 failures in 5: not even all of them failing would show the canary worse at α = 0.013"
	if d.Verdict != policy.VerdictAbort || len(d.Violations) != 1 || d.Violations[0].Message != want {
		t.Errorf("verdict %s, violations %+v; want an abort saying %q", d.Verdict, d.Violations, want)
	}
	failing := judged(ReleaseStep{WindowSeconds: 5.03, Weight: 50, Step: 2, Steps: 3,
		Canary: FromFigures(routelog.Figures{Requests: 5153, Errors: 2328, ErrorRatePercent: 45.177566466136234, P99Ms: 6.5}, nil),
		Stable: FromFigures(routelog.Figures{Requests: 45565, P99Ms: 6}, nil)},
		judge.Build{Requests: 5153, Errors: 2328, LatenciesMs: []float64{1, 2, 6.5}}, judge.Build{Requests: 45565, LatenciesMs: []float64{1, 2, 6}})
	if d, err = Ask(context.Background(), eng, policy.Release, failing); err != nil {
		t.Fatal(err)
	}
	if d.Verdict != policy.VerdictAbort || len(d.Violations) != 2 || d.Violations[1].Rule != "error_rate" ||
		!strings.HasPrefix(d.Violations[0].Message, "the canary fails more often than stable: 45.18% of 5153 requests against 0.00% of 45565, p = 0 at or under α = 0.0057 (Fisher's exact test at look 1); 43.82 to 46.54 points more (95% interval)") {
		t.Errorf("verdict %s, violations %+v; want errors_vs_stable, then error_rate", d.Verdict, d.Violations)
	}
}

// TestTypedInputsGetTheDecisionsTheirMapsGot asks the shipped policies about
// each input and about the map the commands built before the inputs had
// types (Go ints and float64s): the decisions, messages included, are equal.
// (The release step's input has been typed since its evidence was added.)
func TestTypedInputsGetTheDecisionsTheirMapsGot(t *testing.T) {
	eng, err := Load(shipped, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, domain string
		typed        any
		asMap        map[string]any
	}{
		{"a busy host", policy.Infrastructure, FromHost(hoststats.Stats{DiskFreeGB: 3.2, CPULoad1m: 3, MemFreePercent: 4.5}),
			map[string]any{"disk_free_gb": 3.2, "cpu_load_1m": 3.0, "mem_free_percent": 4.5}},
		{"a failing canary", policy.Canary, FromWindow(metrics.Window{Seconds: 30, Requests: 150, ErrorRatePercent: 56.45, P99Ms: 812}, "canary", "stable", "promote"),
			map[string]any{"current_mode": "canary", "target_mode": "stable", "action": "promote", "window_seconds": 30.0, "requests": 150.0,
				"error_rate_percent": 56.45, "p99_latency_ms": 812.0, "no_traffic": false}},
		{"an empty window", policy.Canary, FromWindow(metrics.Window{Seconds: 30.2, NoTraffic: true}, "stable", "canary", "rollback"),
			map[string]any{"current_mode": "stable", "target_mode": "canary", "action": "rollback", "window_seconds": 30.2, "requests": 0.0,
				"error_rate_percent": 0.0, "p99_latency_ms": 0.0, "no_traffic": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Ask(context.Background(), eng, tc.domain, tc.typed)
			if err != nil {
				t.Fatal(err)
			}
			want, err := eng.Decide(context.Background(), tc.domain, tc.asMap)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("typed input decided\n%s\nits map\n%s", g, w)
			}
		})
	}
}
