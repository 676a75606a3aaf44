package stack

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// TestTimeout bounds the go test run of the whole suite.
const TestTimeout = 14 * time.Minute

// FuzzTime is how long the test target runs each fuzz target beyond its seed
// corpus: long enough to catch a shallow crash, short enough for every run.
const FuzzTime = 4 * time.Second

// Test prepares the host (the same setup an operator runs) and runs every test:
// unit tests, the Rego policy tests, golden files, the end-to-end tests against
// the real Docker engine, Compose and nginx, then each fuzz target briefly. It
// never skips the end-to-end tests: without an engine they fail.
func (s *Stack) Test(ctx context.Context) error {
	if err := s.Setup(ctx); err != nil {
		return err
	}
	s.Out.Step("go test ./... (unit, policy, golden, fuzz corpora and end-to-end tests)")
	if err := s.goTest(ctx, "-count=1", "-timeout", TestTimeout.String(), "./..."); err != nil {
		return fmt.Errorf("tests failed: %w", err)
	}
	targets, err := fuzzTargets(ctx, s.Root)
	if err != nil {
		return err
	}
	for _, t := range targets {
		s.Out.Step("fuzzing %s %s for %s", t.pkg, t.name, FuzzTime)
		if err := s.goTest(ctx, "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", FuzzTime.String(), t.pkg); err != nil {
			return fmt.Errorf("fuzz %s %s found a failure (the input is saved under its testdata/fuzz): %w", t.pkg, t.name, err)
		}
	}
	s.Out.OK("all tests passed, %d fuzz targets ran %s each", len(targets), FuzzTime)
	return nil
}

func (s *Stack) goTest(ctx context.Context, args ...string) error {
	return docker.Stream(ctx, os.Stdout, s.Root, nil, "go", append([]string{"test"}, args...)...)
}

type fuzzTarget struct{ pkg, name string }

// fuzzTargets asks go test for every Fuzz function of the module, by package.
func fuzzTargets(ctx context.Context, root string) ([]fuzzTarget, error) {
	out, err := docker.Output(ctx, root, "go", "test", "-list", "^Fuzz", "./...")
	if err != nil {
		return nil, fmt.Errorf("list fuzz targets: %w", err)
	}
	var targets []fuzzTarget
	var names []string
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 1 && strings.HasPrefix(fields[0], "Fuzz"):
			names = append(names, fields[0])
		case len(fields) >= 2 && (fields[0] == "ok" || fields[0] == "?"):
			for _, n := range names {
				targets = append(targets, fuzzTarget{pkg: fields[1], name: n})
			}
			names = nil
		}
	}
	return targets, nil
}
