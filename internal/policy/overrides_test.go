package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

func TestCheckOverridesRejectsUnknownDomainsAndThresholdsWithoutCompiling(t *testing.T) {
	if err := CheckOverrides("../../policies", map[string]map[string]float64{"canary": {"max_error_rate_percent": 2}}); err != nil {
		t.Errorf("a known override was refused: %v", err)
	}
	if err := CheckOverrides("/nonexistent", nil); err != nil {
		t.Errorf("no overrides need no policy folder, got %v", err)
	}
	err := CheckOverrides("../../policies", map[string]map[string]float64{"canary": {"max_errors": 2}, "money": {"x": 1}})
	if !errors.Is(err, fail.ErrInvalid) || !strings.Contains(err.Error(), "policy.canary.max_errors") || !strings.Contains(err.Error(), "policy.money") {
		t.Errorf("CheckOverrides = %v, want both problems as invalid input", err)
	}
}
