package stack

import (
	"errors"
	"fmt"
	"slices"
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

func TestTheLastLinesAProgramPrintedAreItsLastNonBlankLinesTrimmed(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		n    int
		want []string
	}{
		{"fewer lines than asked", "listening\nready\n", 10, []string{"listening", "ready"}},
		{"blank lines left out and lines trimmed", "\n  a  \n\n\tb\r\n  \n", 10, []string{"a", "b"}},
		{"only the last n", "1\n2\n3\n4\n", 2, []string{"3", "4"}},
		{"nothing printed", " \n\n", 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lastLines(tc.in, tc.n); !slices.Equal(got, tc.want) {
				t.Errorf("lastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}
