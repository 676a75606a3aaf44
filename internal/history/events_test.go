package history

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/golden"
	"github.com/swiftdeploy/swiftdeploy/internal/judge"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/stats"
)

func yes() *bool                   { b := true; return &b }
func num(f float64) *float64       { return &f }
func count(n int) *int             { return &n }
func raw(s string) json.RawMessage { return json.RawMessage(s) }

// fullEvents holds one payload of every event with every field set, so that
// each field's key is written and read back.
func fullEvents() []struct {
	event   string
	payload any
} {
	violation := Violation{Rule: "error_rate", Observed: 56.45, Limit: 1.0, Message: "error rate 56.45% exceeds the 1.00% limit"}
	decision := &Decision{Allow: true, Domain: "canary", Checked: map[string]any{"requests": 150.0}, Violations: []Violation{violation},
		Notes: []string{"a note"}, Verdict: "promote", Overridden: true, OverrideReason: "incident 42", RetrySeconds: 120}
	window := metrics.Window{Seconds: 30, Requests: 150, Errors: 3, ErrorRatePercent: 2, P99Ms: 14.5, NoTraffic: true, Reset: true}
	sample := Sample{At: t0, Requests: 2500, Errors: 12, Buckets: []metrics.Bucket{{UpperBound: 0.005, Count: 1500}, {UpperBound: math.Inf(1), Count: 2500}},
		UptimeSeconds: 517, Mode: 1, Chaos: 2}
	figures := BuildFigures{Requests: 300, ErrorRatePercent: 0.5, P99Ms: 12}
	cost := &Cost{Requests: 9000, Failed: 3, FailedByStatus: map[string]int{"502": 2, "499": 1}, ReachedRetiring: 1,
		Parts: []CostPart{{Part: "step", Step: 1, Weight: 10, Seconds: 5.02, Requests: 4000, Failed: 3, ReachedRetiring: 1,
			Retired: []Retired{{Addresses: []string{"172.20.0.9"}, AfterSeconds: 1.5}}}}}
	return []struct {
		event   string
		payload any
	}{
		{EventSetup, &Setup{Result: "failed", ElapsedSeconds: 1.5, Error: "setup: Docker engine: not running"}},
		{EventInit, &Init{Result: "ok", Mode: "stable", Files: []string{"nginx.conf", "docker-compose.yml"}, Error: "x"}},
		{EventValidate, &Validate{Checks: 7, Failed: []string{"policies compile"}}},
		{EventDeploy, &Deploy{Result: "ok", Mode: "stable", Release: true, ElapsedSeconds: 2.5, Overridden: true, Error: "x"}},
		{EventDeployBlocked, &Blocked{From: "stable", To: "canary", Action: "promote", Domain: "infrastructure", Violations: []Violation{violation},
			Decision: decision, Reason: "low disk", Message: "see df"}},
		{EventPromote, &Promote{From: "stable", To: "canary", Overridden: yes(), Result: "ok", ElapsedSeconds: 3.2, Cost: cost, Error: "x"}},
		{EventRollback, &Rollback{From: "canary", To: "stable", FromImage: "app:2", FromVersion: "2", ToImage: "app:1", ToVersion: "1",
			Release: "undone", Overridden: yes(), Result: "ok", ElapsedSeconds: 6.68, Cost: cost, Error: "x"}},
		{EventRecover, &Recover{Action: "promote", From: "stable", To: "canary", Phase: "moved", PID: 4242, Result: "finished"}},
		{EventChaos, &Chaos{Mode: "error", Target: "release canary", Duration: num(2), Rate: num(0.5), Instances: count(3), Result: "ok", Error: "x"}},
		{EventTeardown, &Teardown{Clean: true, Result: "ok", Error: "x"}},
		{EventAudit, &Audit{Result: "ok", Events: 1000, Skipped: 2, Report: "audit_report.md"}},
		{EventReplay, &Replay{Result: "failed", Releases: 3, Steps: 9, Changed: 1, Unjudged: 2, Error: "e"}},
		{EventPolicyDecision, &PolicyDecision{Domain: "canary", Action: "promote", Input: raw(`{"action":"promote","requests":150}`),
			Decision: decision, Overridden: yes(), Error: "x"}},
		{EventStatusScrape, &StatusScrape{Refresh: Refresh{Mode: "canary", Chaos: "error", Window: window}, ReqPerSec: num(5), Sample: &sample,
			Release: &ReleaseView{From: "1.1.0", To: "1.2.0", Phase: "canary", Step: 1, Steps: 3, Weight: 10, WindowSeconds: 10,
				Builds: []BuildView{{Side: "canary", Image: "app:2", Version: "1.2.0", Requests: 50, RequestsPerSecond: 5, ErrorRatePercent: 2, P99Ms: 7}}}}},
		{EventMetricsSample, &sample},
		{EventRelease, &ReleaseEvent{Result: ReleaseAborted, Strategy: "canary", FromImage: "app:1", FromVersion: "1", ToImage: "app:2", ToVersion: "2",
			Steps: []int{10, 50, 100}, Step: 1, Weight: 10, Reasons: []string{"r"}, Elapsed: 12.49, FirstBadToAbort: 7.09, Cost: cost, Error: "x"}},
		{EventReleaseStep, &ReleaseStep{Step: 1, Steps: 3, Weight: 10, Extension: 1, WindowSeconds: 5.03, Verdict: "abort", Canary: figures, Stable: figures,
			CanaryApp: &figures, StableApp: &figures, Reasons: []string{"r"}, StepSeconds: 30, Final: true, Notes: []string{"n"},
			Evidence:     &judge.Evidence{Confidence: 0.95, Spending: stats.Look{Spending: "pocock", Look: 3, Alpha: 0.001}},
			Looks:        []judge.Look{{Seconds: 1, Canary: stats.Counts{Requests: 10, Errors: 5}, Stable: stats.Counts{Requests: 90}}},
			CanarySample: &judge.Sample{Ms: []float64{1, 2}, N: []int{3, 1}}, StableSample: &judge.Sample{Ms: []float64{1}, N: []int{9}},
			FirstBadToVerdict: 1.1}},
		{EventDeploy, &Outcome{Result: "failed", Error: "deploy: the stack is locked"}},
		{EventError, &CommandError{Command: "chaos", Message: "post /chaos: 400"}},
	}
}

func TestEveryEventPayloadRoundTripsThroughAppendAndTheReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	events := fullEvents()
	for _, e := range events {
		checkEveryFieldSet(t, e.payload)
		if err := Append(path, t0, e.event, e.payload); err != nil {
			t.Fatalf("%T: %v", e.payload, err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f)
	for _, e := range events {
		raw, ok := r.NextRaw()
		if !ok {
			t.Fatalf("%T: no line to read back (skipped %v)", e.payload, r.Skipped())
		}
		got := reflect.New(reflect.TypeOf(e.payload).Elem())
		if err := raw.Decode(got.Interface()); err != nil {
			t.Fatalf("%T: decode: %v", e.payload, err)
		}
		if raw.Event != e.event || !reflect.DeepEqual(got.Interface(), e.payload) {
			t.Errorf("%s read back as\n%+v\nwant\n%+v", raw.Event, got.Elem(), reflect.ValueOf(e.payload).Elem())
		}
	}
	if _, more := r.NextRaw(); more || r.SkippedCount() != 0 {
		t.Errorf("more lines than events, or skipped ones: %v", r.Skipped())
	}
}

// checkEveryFieldSet fails when a payload of fullEvents leaves a field zero:
// its key would go untested.
func checkEveryFieldSet(t *testing.T, payload any) {
	t.Helper()
	v := reflect.ValueOf(payload).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("%T.%s is not set in the test payload", payload, v.Type().Field(i).Name)
		}
	}
}

// TestEveryEventIsWrittenAsBefore pins the lines the payloads write: the same
// keys, and values in the same order, as the map literals the commands wrote
// before the payloads had types, so that old and new histories read alike.
func TestEveryEventIsWrittenAsBefore(t *testing.T) {
	var got bytes.Buffer
	path := filepath.Join(t.TempDir(), "history.jsonl")
	at := t0
	for _, w := range writtenEvents() {
		at = at.Add(time.Second)
		if err := Append(path, at, w.event, w.payload); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got.Write(data)
	golden.Check(t, filepath.Join("testdata", "events.golden.jsonl"), got.Bytes())
}

// writtenEvents are the payloads the commands write, in each of their shapes.
func writtenEvents() []struct {
	name, event string
	payload     any
} {
	no := false
	violations := []Violation{{Rule: "cpu_load", Observed: 3.0, Limit: 2.0, Message: "CPU load 3.00 exceeds the 2.00 maximum"}}
	decision := Decision{Allow: false, Domain: "infrastructure", Checked: map[string]any{"cpu_load_1m": 3.0, "disk_free_gb": 61.3, "mem_free_percent": 71.5},
		Violations: violations, RetrySeconds: 120}
	window := metrics.Window{Seconds: 30.01, Requests: 150, Errors: 1, ErrorRatePercent: 0.6666666666666666, P99Ms: 14.5}
	sample := Sample{At: t0, Requests: 25, Errors: 1, Buckets: []metrics.Bucket{{UpperBound: 0.005, Count: 15}, {UpperBound: math.Inf(1), Count: 25}},
		UptimeSeconds: 18, Mode: 1}
	return []struct {
		name, event string
		payload     any
	}{
		{"setup ok", EventSetup, Setup{Result: "ok", ElapsedSeconds: 0}},
		{"setup failed", EventSetup, Setup{Result: "failed", ElapsedSeconds: 3.2, Error: "setup: Docker engine: not running"}},
		{"init ok", EventInit, Init{Result: "ok", Mode: "stable", Files: []string{"nginx.conf", "docker-compose.yml"}}},
		{"init failed", EventInit, Init{Result: "invalid", Files: []string{"nginx.conf", "docker-compose.yml"}, Error: "manifest.yaml: services.port: must be > 0"}},
		{"validate passed", EventValidate, Validate{Checks: 9}},
		{"validate failed", EventValidate, Validate{Checks: 9, Failed: []string{"policies compile"}}},
		{"deploy ok", EventDeploy, Deploy{Mode: "stable", Result: "ok", ElapsedSeconds: 4.12}},
		{"deploy noop", EventDeploy, Deploy{Mode: "stable", Result: "noop"}},
		{"deploy released", EventDeploy, Deploy{Mode: "stable", Result: "ok", Release: true}},
		{"deploy failed", EventDeploy, Deploy{Result: "denied", Error: "deploy blocked by the infrastructure policy: CPU load 3.00 exceeds the 2.00 maximum (nothing was changed)"}},
		{"deploy blocked", EventDeployBlocked, Blocked{Domain: "infrastructure", Violations: violations}},
		{"promote blocked", EventPromoteBlocked, Blocked{From: "canary", To: "stable", Action: "promote", Domain: "canary", Violations: violations}},
		{"promote ok", EventPromote, Promote{From: "stable", To: "canary", Overridden: &no, Result: "ok", ElapsedSeconds: 3.1}},
		{"promote noop", EventPromote, Promote{From: "canary", To: "canary", Result: "noop"}},
		{"promote failed early", EventPromote, Promote{To: "canary", Result: "failed", Error: "promote: no manifest"}},
		{"rollback of a build", EventRollback, Rollback{ToImage: "app:1", ToVersion: "1.1.0", FromImage: "app:1", FromVersion: "1.2.0", Overridden: &no, Result: "ok", ElapsedSeconds: 6.68}},
		{"rollback of a release", EventRollback, Rollback{Result: "ok", Release: "undone"}},
		{"recover", EventRecover, Recover{Action: "release", From: "1.1.0", To: "1.2.0", Phase: "canary", PID: 4242, Result: "undone"}},
		{"chaos error", EventChaos, Chaos{Mode: "error", Rate: num(0.5), Result: "ok"}},
		{"chaos slow on several", EventChaos, Chaos{Mode: "slow", Duration: num(2), Instances: count(0), Result: "failed", Error: "chaos reached 0 instance(s)"}},
		{"chaos on a release's canary", EventChaos, Chaos{Mode: "recover", Target: "release canary", Result: "ok"}},
		{"teardown", EventTeardown, Teardown{Clean: true, Result: "ok"}},
		{"audit", EventAudit, Audit{Result: "ok", Events: 12, Skipped: 1, Report: "audit_report.md"}},
		{"policy decision", EventPolicyDecision, PolicyDecision{Domain: "infrastructure", Action: "deploy",
			Input: raw(`{"cpu_load_1m":3,"disk_free_gb":61.3,"mem_free_percent":71.5}`), Decision: &decision, Overridden: &no}},
		{"policy failed", EventPolicyDecision, PolicyDecision{Domain: "canary", Action: "promote", Input: raw(`{"action":"promote"}`),
			Error: "policy: decide canary: evaluation did not finish in time: context deadline exceeded"}},
		{"status scrape", EventStatusScrape, StatusScrape{Refresh: Refresh{Mode: "canary", Chaos: "none", Window: window}, ReqPerSec: num(0), Sample: &sample}},
		{"first status scrape", EventStatusScrape, StatusScrape{Refresh: Refresh{Mode: "stable", Chaos: "none"}, Sample: &sample}},
		{"status scrape in a release", EventStatusScrape, StatusScrape{Refresh: Refresh{Mode: "stable", Chaos: "error (canary)", Window: window}, ReqPerSec: num(15),
			Release: &ReleaseView{From: "1.1.0", To: "1.2.0", Phase: "canary", Step: 1, Steps: 3, Weight: 10, WindowSeconds: 10,
				Builds: []BuildView{{Side: "stable", Image: "app:1", Version: "1.1.0", Requests: 135, RequestsPerSecond: 13.5, P99Ms: 6},
					{Side: "canary", Image: "app:2", Version: "1.2.0", Requests: 15, RequestsPerSecond: 1.5, ErrorRatePercent: 6.666666666666667, P99Ms: 7}}}}},
		{"metrics sample", EventMetricsSample, Fields(sample)},
		{"locked out", EventPromote, Outcome{Result: "failed", Error: "promote canary: the stack is locked by `deploy` (pid 7)"}},
	}
}
