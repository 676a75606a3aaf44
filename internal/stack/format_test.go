package stack

import (
	"errors"
	"fmt"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

func TestResultOfNamesHowACommandEnded(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"success", nil, "ok"},
		{"denied", fmt.Errorf("promote: %w", fail.ErrDenied), "denied"},
		{"invalid", fmt.Errorf("%w: bad port", fail.ErrInvalid), "invalid"},
		{"denied wins over invalid", errors.Join(fail.ErrInvalid, fail.ErrDenied), "denied"},
		{"anything else", errors.New("connection refused"), "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resultOf(tc.err); got != tc.want {
				t.Errorf("resultOf(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
