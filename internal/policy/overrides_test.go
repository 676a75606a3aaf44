package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

func TestCheckOverridesRejectsUnknownDomainsAndThresholdsWithoutCompiling(t *testing.T) {
	if err := CheckOverrides("../../policies", map[string]map[string]any{"canary": {"max_error_rate_percent": 2}}); err != nil {
		t.Errorf("a known override was refused: %v", err)
	}
	if err := CheckOverrides("/nonexistent", nil); err != nil {
		t.Errorf("no overrides need no policy folder, got %v", err)
	}
	err := CheckOverrides("../../policies", map[string]map[string]any{"canary": {"max_errors": 2}, "money": {"x": 1}})
	if !errors.Is(err, fail.ErrInvalid) || !strings.Contains(err.Error(), "policy.canary.max_errors") || !strings.Contains(err.Error(), "policy.money") {
		t.Errorf("CheckOverrides = %v, want both problems as invalid input", err)
	}
}

// TestAManifestStillSettingTheRetiredReleaseMarginsIsToldWhatReplacedThem:
// the margins relative to stable and the fixed request count of the release
// policy before its statistical verdicts.
func TestAManifestStillSettingTheRetiredReleaseMarginsIsToldWhatReplacedThem(t *testing.T) {
	err := CheckOverrides("../../policies", map[string]map[string]any{Release: {
		"max_error_rate_over_stable_percent": 0.5, "max_p99_ratio_to_stable": 1.5, "min_p99_excess_ms": 400.0, "min_requests": 5.0,
	}})
	if !errors.Is(err, fail.ErrInvalid) {
		t.Fatalf("CheckOverrides = %v, want invalid input", err)
	}
	for _, want := range []string{
		"policy.release.max_error_rate_over_stable_percent: retired: the canary's error proportion is tested against stable's (Fisher's exact test) at `confidence` instead of a margin in points; remove it",
		"policy.release.max_p99_ratio_to_stable: retired: the canary's request times are compared with stable's (Mann-Whitney U) at `confidence`",
		"policy.release.min_p99_excess_ms: retired: the canary's request times are compared with stable's (Mann-Whitney U) at `confidence` instead of a P99 margin in ms; remove it",
		"policy.release.min_requests: retired: a step is inconclusive (hold) while its window could not show a failing canary worse at `confidence`",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CheckOverrides = %v\nwant it to say %q", err, want)
		}
	}
	// The canary policy keeps its own min_requests.
	if err := CheckOverrides("../../policies", map[string]map[string]any{Canary: {"min_requests": 5.0}}); err != nil {
		t.Errorf("canary.min_requests was refused: %v", err)
	}
	if _, err := Load("../../policies", map[string]map[string]any{Release: {"min_p99_excess_ms": 400.0}}); !errors.Is(err, fail.ErrInvalid) || !strings.Contains(err.Error(), "retired") {
		t.Errorf("Load = %v, want the same refusal", err)
	}
}

func TestAThresholdThatNamesSomethingTakesANameAndOnlyThat(t *testing.T) {
	e, err := Load("../../policies", map[string]map[string]any{Release: {"alpha_spending": "obrien_fleming", "confidence": 0.99}})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Thresholds(Release); got["alpha_spending"] != "obrien_fleming" || got["confidence"] != 0.99 {
		t.Errorf("release thresholds %v, want the overrides", got)
	}
	err = CheckOverrides("../../policies", map[string]map[string]any{Release: {"alpha_spending": 1.0, "confidence": "high"}})
	for _, want := range []string{`policy.release.alpha_spending: must be a name such as "pocock", got 1`, `policy.release.confidence: must be a number, got "high"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckOverrides = %v, want it to say %q", err, want)
		}
	}
}
