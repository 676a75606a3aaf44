package stack

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// TestTimeout bounds the whole test suite.
const TestTimeout = 14 * time.Minute

// Test prepares the host (the same setup an operator runs) and runs every test:
// unit tests, the Rego policy tests, the fuzz seed corpora and the end-to-end
// tests against the real Docker engine, Compose and nginx. It never skips the
// end-to-end tests: without an engine they fail.
func (s *Stack) Test(ctx context.Context) error {
	if err := s.Setup(ctx); err != nil {
		return err
	}
	s.Out.Step("go test ./... (unit, policy, fuzz corpora and end-to-end tests)")
	args := []string{"test", "-count=1", "-timeout", TestTimeout.String(), "./..."}
	if err := docker.Stream(ctx, os.Stdout, s.Root, nil, "go", args...); err != nil {
		return fmt.Errorf("tests failed: %w", err)
	}
	return nil
}
