package stack

import (
	"errors"
	"math"
	"strings"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// lastLines is what a program printed last, for the operator: the last n
// lines of s that are not blank, trimmed.
func lastLines(s string, n int) []string {
	var lines []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	return lines[max(0, len(lines)-n):]
}

// resultOf names how a command ended, for history.
func resultOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, fail.ErrDenied):
		return "denied"
	case errors.Is(err, fail.ErrInvalid):
		return "invalid"
	default:
		return "failed"
	}
}
