package fail

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodeMapsWrappedSentinelsToTheExitCodeContract(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("docker: cannot connect"), 1},
		{fmt.Errorf("manifest: %w: services.port", ErrInvalid), 2},
		{fmt.Errorf("promote: %w: error rate", ErrDenied), 3},
		{fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", ErrDenied)), 3},
	}
	for _, c := range cases {
		if got := Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
