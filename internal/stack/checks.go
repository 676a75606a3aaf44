package stack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/benchreport"
	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// TestTimeout bounds the go test run of the whole suite.
const TestTimeout = 14 * time.Minute

// FuzzExecs is how many generated inputs the test target gives each fuzz
// target beyond its seed corpus: enough to catch a shallow crash, few enough for
// every run (1 to 5 s a target here). A count, not a duration: with a duration
// Go 1.26's fuzzing coordinator can race its own deadline on a busy machine and
// report "context deadline exceeded" as a failure with no failing input
// (go.dev/issue/75804, fixed in Go 1.27).
const FuzzExecs = 10000

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
		s.Out.Step("fuzzing %s %s with %d inputs", t.pkg, t.name, FuzzExecs)
		if err := s.goTest(ctx, "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", fmt.Sprintf("%dx", FuzzExecs), t.pkg); err != nil {
			return fmt.Errorf("fuzz %s %s failed (a failing input it found is saved under the package's testdata/fuzz/%s): %w", t.pkg, t.name, t.name, err)
		}
	}
	s.Out.OK("all tests passed, %d fuzz targets ran %d inputs each", len(targets), FuzzExecs)
	return nil
}

func (s *Stack) goTest(ctx context.Context, args ...string) error {
	return docker.Stream(ctx, os.Stdout, s.Root, nil, "go", append([]string{"test"}, args...)...)
}

type fuzzTarget struct{ pkg, name string }

// fuzzTargets asks go test for every Fuzz function of the module, by package.
func fuzzTargets(ctx context.Context, root string) ([]fuzzTarget, error) {
	out, err := docker.Go(ctx, root, "test", "-list", "^Fuzz", "./...")
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

// BenchDir holds the latest benchmark figures.
const BenchDir = "bench"

// Bench runs the benchmarks, prints the table of figures against their targets
// and writes the same figures, with the machine they ran on, to bench/results.json
// and bench/results.md. Micro-benchmarks run with Go's default benchtime; the
// system benchmarks (a real stack under load) run once each.
func (s *Stack) Bench(ctx context.Context) error {
	if err := s.Setup(ctx); err != nil {
		return err
	}
	var captured bytes.Buffer
	out := io.MultiWriter(os.Stdout, &captured)
	passes := [][]string{
		{"-run", "^$", "-bench", ".", "-benchmem", "./service", "./internal/policy", "./internal/metrics"},
		{"-run", "^$", "-bench", ".", "-benchtime=1x", "-timeout", "30m", "./e2e"},
	}
	for _, args := range passes {
		s.Out.Step("go test %s", strings.Join(args, " "))
		if err := docker.Stream(ctx, out, s.Root, nil, "go", append([]string{"test"}, args...)...); err != nil {
			return fmt.Errorf("benchmarks failed: %w", err)
		}
	}
	results, err := benchreport.Parse(&captured)
	if err != nil {
		s.Out.Warn("some benchmark lines could not be read: %v", err)
	}
	machine := benchreport.DescribeMachine(s.Now())
	machine.Docker, _ = docker.Ping(ctx)
	report := benchreport.Report{Machine: machine, Figures: benchreport.Figures(results), Raw: results}
	var doc bytes.Buffer
	if err := benchreport.WriteJSON(&doc, report); err != nil {
		return err
	}
	table := benchreport.Table(report)
	for name, data := range map[string][]byte{"results.json": doc.Bytes(), "results.md": []byte(table)} {
		if err := atomicfile.Write(filepath.Join(s.path(BenchDir), name), data, 0o644); err != nil {
			return err
		}
	}
	s.Out.Raw("\n" + table)
	s.Out.OK("wrote %s/results.json and %s/results.md", BenchDir, BenchDir)
	return nil
}
