package replay

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
)

// testdata/releases.jsonl is the history of two end-to-end releases under
// load (SWIFTDEPLOY_E2E_KEEP_HISTORIES): a good build promoted through
// 10 → 25 → 50 → 100 % in 4 s steps, looked at every second, and a canary
// answering 500 to half its requests aborted at look 7 of its 30 s step.
const fixture = "testdata/releases.jsonl"

func load(t *testing.T, overrides map[string]map[string]any) *policy.Engine {
	t.Helper()
	eng, err := policy.Load("../../policies", overrides)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func replayFixture(t *testing.T, eng *policy.Engine) ([]Release, Totals) {
	t.Helper()
	f, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var releases []Release
	totals, err := Run(context.Background(), f, eng, func(r Release) error {
		releases = append(releases, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return releases, totals
}

func TestReplayUnderThePoliciesOfThenGivesTheVerdictsOfThen(t *testing.T) {
	releases, totals := replayFixture(t, load(t, nil))
	if totals.Releases != 2 || totals.Steps != 5 || totals.Changed != 0 || totals.Unjudged != 0 {
		t.Fatalf("totals %+v, want 2 releases, 5 steps, none changed", totals)
	}
	if len(releases[0].Steps) != 4 || releases[0].Event.Result != history.ReleaseCompleted || releases[1].Event.Result != history.ReleaseAborted {
		t.Fatalf("releases %+v", releases)
	}
	for _, r := range releases {
		for _, j := range r.Steps {
			if j.Now.Verdict != j.Step.Verdict || j.Look != j.Step.Evidence.Spending.Look {
				t.Errorf("step %d: %s then at look %d, %s now at look %d", j.Step.Step, j.Step.Verdict, j.Step.Evidence.Spending.Look, j.Now.Verdict, j.Look)
			}
			// The evidence is computed again from the same counts and samples.
			then, now := j.Step.Evidence, j.Now.Checked["evidence"].(map[string]any)
			errs := now["errors"].(map[string]any)
			latency := now["latency"].(map[string]any)
			for what, pair := range map[string][2]float64{
				"errors p":   {then.Errors.PValue, errs["p_value"].(float64)},
				"errors α":   {then.Errors.Alpha, errs["alpha"].(float64)},
				"latency p":  {then.Latency.PValue, latency["p_value"].(float64)},
				"latency U":  {then.Latency.U, latency["u"].(float64)},
				"canary P99": {j.Step.Canary.P99Ms, j.Now.Checked["canary"].(map[string]any)["p99_latency_ms"].(float64)},
				// The times were kept as measured then: before warm-ups,
				// in this fixture, whatever today's policy says.
				"warm-up": {then.Latency.WarmupSeconds, latency["warmup_seconds"].(float64)},
			} {
				if !close(pair[0], pair[1]) {
					t.Errorf("step %d: %s %v then, %v now", j.Step.Step, what, pair[0], pair[1])
				}
			}
		}
		if j, _ := r.Now(); j != nil && r.Event.Result != history.ReleaseAborted {
			t.Errorf("the completed release now aborts at step %d", j.Step.Step)
		}
	}
}

// close is within a millionth, relatively: the looks' times are recorded
// to the millisecond.
func close(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b))
}

func TestAStricterThresholdTurnsAPastPromoteIntoAnAbortAndSaysWhy(t *testing.T) {
	// The good build's P99 was 11-24 ms at every step's end.
	releases, totals := replayFixture(t, load(t, map[string]map[string]any{policy.Release: {"max_p99_latency_ms": 10.0}}))
	if totals.Changed != 4 {
		t.Errorf("%d verdicts changed, want the good release's 4 promotes", totals.Changed)
	}
	good := releases[0]
	first := good.Steps[0]
	if first.Step.Verdict != policy.VerdictPromote || first.Now.Verdict != policy.VerdictAbort || !first.Changed() {
		t.Fatalf("step 1: %s then, %s now; want a promote turned into an abort", first.Step.Verdict, first.Now.Verdict)
	}
	var said []string
	for _, v := range first.Now.Violations {
		said = append(said, v.Message)
	}
	if !strings.Contains(strings.Join(said, "; "), "canary P99 latency 23.00 ms (as clients saw it at nginx) exceeds the 10.00 ms limit") {
		t.Errorf("the abort now says %q, want the P99 against the stricter limit", said)
	}
	j, ranOn := good.Now()
	if j == nil || ranOn || j.Step.Step != 1 {
		t.Errorf("the completed release now: %+v, ran on %v; want aborted at step 1", j, ranOn)
	}
}

func TestAStricterConfidenceAtEveryLookCanAbortEarlierThanTheStepsEnd(t *testing.T) {
	// The aborted canary's looks before the deciding one saw no failure:
	// with the error limit at 0 every look before it still holds on its
	// counts, and the deciding look aborts as it did.
	releases, _ := replayFixture(t, load(t, map[string]map[string]any{policy.Release: {"max_error_rate_percent": 0.0}}))
	bad := releases[1].Steps[0]
	if bad.Now.Verdict != policy.VerdictAbort || bad.Look != bad.Step.Evidence.Spending.Look {
		t.Errorf("the bad canary now: %s at look %d, want the abort at look %d", bad.Now.Verdict, bad.Look, bad.Step.Evidence.Spending.Look)
	}
}

func TestAStepRecordedWithoutEvidenceIsSaidNotReJudged(t *testing.T) {
	old := filepath.Join("..", "audit", "testdata", "release.jsonl")
	f, err := os.Open(old)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	totals, err := Run(context.Background(), f, load(t, nil), func(r Release) error {
		for _, j := range r.Steps {
			if j.Unjudged == "" || j.Changed() {
				t.Errorf("step %d of an old history: unjudged %q, changed %v", j.Step.Step, j.Unjudged, j.Changed())
			}
		}
		return nil
	})
	if err != nil || totals.Steps != 4 || totals.Unjudged != 4 || totals.Releases != 2 {
		t.Errorf("totals %+v, %v; want 2 releases, 4 steps, all unjudged", totals, err)
	}
}

func TestAReleaseSaysWhereItWouldEndNow(t *testing.T) {
	step := func(n int, then, now string) Judgment {
		return Judgment{Step: history.ReleaseStep{Step: n, Verdict: then}, Now: policy.Decision{Verdict: now}}
	}
	for _, c := range []struct {
		name  string
		steps []Judgment
		at    int // the step it ends at now, 0 for as then
		ranOn bool
	}{
		{"as then", []Judgment{step(1, "promote", "promote"), step(2, "promote", "promote")}, 0, false},
		{"a promote aborts now", []Judgment{step(1, "promote", "promote"), step(2, "promote", "abort"), step(3, "promote", "abort")}, 2, false},
		{"an abort runs on now", []Judgment{step(1, "promote", "promote"), step(2, "abort", "hold")}, 2, true},
		{"unjudged steps are passed over", []Judgment{{Step: history.ReleaseStep{Step: 1, Verdict: "abort"}, Unjudged: "old"}}, 0, false},
	} {
		j, ranOn := Release{Steps: c.steps}.Now()
		at := 0
		if j != nil {
			at = j.Step.Step
		}
		if at != c.at || ranOn != c.ranOn {
			t.Errorf("%s: ends at step %d now (ran on %v), want %d (%v)", c.name, at, ranOn, c.at, c.ranOn)
		}
	}
}
