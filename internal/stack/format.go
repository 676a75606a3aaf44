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

func splitLines(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return strings.Split(s, "\n")
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
