// Package suite runs SwiftDeploy's own test suite and benchmarks for the test
// and bench targets. Both need a host ready to run stacks, because the
// end-to-end tests and the system benchmarks drive the real Docker engine,
// Compose and nginx; the caller says how to get one (the same setup an
// operator runs), so this package does not depend on the deployment lifecycle.
package suite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/benchreport"
	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// TestTimeout bounds the go test run of the whole suite.
const TestTimeout = 17 * time.Minute

// TestParallel is how many end-to-end tests that put no load on a stack
// (bad input, faults, hardening: those that call t.Parallel) run at once,
// after the ones under load, which run alone so that what they measure is
// the stack's, not a neighbour's.
const TestParallel = 4

// FuzzExecs is how many generated inputs the test target gives each fuzz
// target beyond its seed corpus: enough to catch a shallow crash, few enough for
// every run (1 to 5 s a target here). A count, not a duration: with a duration
// Go 1.26's fuzzing coordinator can race its own deadline on a busy machine and
// report "context deadline exceeded" as a failure with no failing input
// (go.dev/issue/75804, fixed in Go 1.27).
const FuzzExecs = 10000

// BenchDir holds the latest benchmark figures.
const BenchDir = "bench"

// Runner runs the suite of the module in one folder.
type Runner struct {
	// Root is the module's folder, where go test runs and BenchDir is.
	Root string
	// Out receives the runner's status lines; go test writes to the
	// standard output directly.
	Out *ui.Printer
	// Setup makes the host ready before anything runs (the stack's setup),
	// so that the end-to-end tests and system benchmarks find an engine and
	// the images. nil: the host is taken as ready.
	Setup func(context.Context) error
	// BenchSetup makes ready what only the benchmarks need, after Setup:
	// the peer proxies the stack is measured beside. nil: nothing more.
	BenchSetup func(context.Context) error
	// Now stamps the benchmark report with when it ran. nil: time.Now.
	Now func() time.Time

	// Stand-ins for this package's tests; nil: the real ones.
	goCmd []string // the go command
	// idleClass is the command that runs another in the idle scheduling
	// class, or nil where none can.
	idleClass func(ctx context.Context) []string
	tools     func(ctx context.Context) error // what the tests need beside the stack's setup
	stdout    io.Writer                       // where go test writes
}

func (r *Runner) goCommand() []string {
	if r.goCmd == nil {
		return []string{"go"}
	}
	return r.goCmd
}

func (r *Runner) out() io.Writer {
	if r.stdout == nil {
		return os.Stdout
	}
	return r.stdout
}

func (r *Runner) setup(ctx context.Context) error {
	if r.Setup == nil {
		return nil
	}
	return r.Setup(ctx)
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// Test prepares the host (the same setup an operator runs) and runs every test:
// unit tests, the Rego policy tests, golden files, the end-to-end tests against
// the real Docker engine, Compose and nginx, and each fuzz target briefly beside
// them (where chrt can give the fuzzers the idle scheduling class; after them
// otherwise). It never skips the end-to-end tests: without an engine they fail.
func (r *Runner) Test(ctx context.Context) error {
	start := r.now()
	if err := r.setup(ctx); err != nil {
		return err
	}
	tools := r.tools
	if tools == nil {
		tools = func(ctx context.Context) error { return acmeTestServer(ctx, r.Out) }
	}
	if err := tools(ctx); err != nil {
		return err
	}
	targets, err := fuzzTargets(ctx, r.Root)
	if err != nil {
		return err
	}
	tests := r.now()
	// The fuzz targets run beside the tests, in Linux's idle scheduling class
	// (chrt --idle): they get only the CPU time nothing else wants, which the
	// end-to-end tests leave plenty of while stacks start, drain and wait; a
	// task of that class yields the CPU to any other at once, so the tests
	// under load lose next to nothing to them. Their output is held until the
	// tests end.
	var fuzzOut bytes.Buffer
	fuzzDone := make(chan error, 1)
	fuzzCtx, stopFuzz := context.WithCancel(ctx)
	defer stopFuzz()
	idleClass := r.idleClass
	if idleClass == nil {
		idleClass = idleClassPrefix
	}
	idle := idleClass(ctx)
	beside := idle != nil
	if beside {
		r.Out.Step("fuzzing %d targets with %d inputs each beside the tests, in the idle scheduling class", len(targets), FuzzExecs)
		goCmd := append(slices.Clip(idle), r.goCommand()...)
		go func() {
			fuzzDone <- r.fuzz(fuzzCtx, ui.New(&fuzzOut), &fuzzOut, goCmd, targets)
		}()
	}
	r.Out.Step("go test ./... (unit, policy, golden, fuzz corpora and end-to-end tests)")
	testErr := r.goTest(ctx, "-count=1", "-timeout", TestTimeout.String(), "-parallel", strconv.Itoa(TestParallel), "./...")
	if testErr != nil {
		stopFuzz()
	}
	tested := r.now()
	var fuzzErr error
	if beside {
		fuzzErr = <-fuzzDone
		if testErr == nil || !errors.Is(fuzzErr, context.Canceled) {
			r.out().Write(fuzzOut.Bytes())
		}
	} else if testErr == nil {
		fuzzErr = r.fuzz(ctx, r.Out, r.out(), r.goCommand(), targets)
	}
	if testErr != nil {
		return fmt.Errorf("tests failed: %w", testErr)
	}
	if fuzzErr != nil {
		return fuzzErr
	}
	end := r.now()
	// The phases' times, so that a run's place in the README's time budget
	// is read off its own output.
	r.Out.OK("all tests passed, %d fuzz targets ran %d inputs each, in %s (setup %s, go test %s, then %s more for the fuzzers)", len(targets), FuzzExecs,
		end.Sub(start).Round(time.Second), tests.Sub(start).Round(time.Second), tested.Sub(tests).Round(time.Second), end.Sub(tested).Round(time.Second))
	return nil
}

// idleClassPrefix is the command that runs another in the idle scheduling
// class, chrt --idle 0, if it works here: chrt is util-linux's, on every
// Debian, but a sandbox may refuse sched_setscheduler, and then (nil) the
// fuzzers run after the tests instead.
func idleClassPrefix(ctx context.Context) []string {
	if docker.Available("chrt") && exec.CommandContext(ctx, "chrt", "--idle", "0", "true").Run() == nil {
		return []string{"chrt", "--idle", "0"}
	}
	return nil
}

// fuzz runs each target on FuzzExecs generated inputs, one after another, with
// goCmd (the go command, or a command that runs it), writing to out. It stops
// at the first failure.
func (r *Runner) fuzz(ctx context.Context, p *ui.Printer, out io.Writer, goCmd []string, targets []fuzzTarget) error {
	for _, t := range targets {
		p.Step("fuzzing %s %s with %d inputs", t.pkg, t.name, FuzzExecs)
		cmd := exec.CommandContext(ctx, goCmd[0], append(goCmd[1:], "test", "-run", "^$", "-fuzz", "^"+t.name+"$", "-fuzztime", fmt.Sprintf("%dx", FuzzExecs), t.pkg)...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = r.Root, out, out
		// Stopped, go test stops its fuzzing workers itself on an interrupt.
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 10 * time.Second
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("fuzz %s %s failed (a failing input it found is saved under the package's testdata/fuzz/%s): %w", t.pkg, t.name, t.name, err)
		}
	}
	return nil
}

// Swarm prepares the host and runs the slower swarm tests, kept out of
// Test to keep it under its time budget: a canary release on a single-node
// swarm (a good build under load, then a bad one aborted), and a second
// Docker engine, in a container on a bridge the test creates, joining this
// engine's swarm as a worker, its task answering through nginx (its image
// is built from Debian's packages the first time, about a minute).
func (r *Runner) Swarm(ctx context.Context) error {
	if err := r.setup(ctx); err != nil {
		return err
	}
	r.Out.Step("go test -tags swarm -run '^TestSwarm' ./e2e (a release on swarm; a release and a roll killed and recovered; a swarm of this engine and a second one)")
	if err := r.goTest(ctx, "-tags", "swarm", "-run", "^TestSwarm", "-count=1", "-v", "-timeout", "20m", "./e2e"); err != nil {
		return fmt.Errorf("the swarm tests failed: %w", err)
	}
	r.Out.OK("a release on swarm passed, killed changes were recovered, and a task on a second swarm node answered through nginx")
	return nil
}

func (r *Runner) goTest(ctx context.Context, args ...string) error {
	goCmd := r.goCommand()
	return docker.Stream(ctx, r.out(), r.Root, nil, goCmd[0], append(slices.Concat(goCmd[1:], []string{"test"}), args...)...)
}

type fuzzTarget struct{ pkg, name string }

// fuzzTargets finds every Fuzz function of the module, by package: go list
// names each package's test files as this build sees them (build tags
// applied), and each file is parsed for a top-level func FuzzXxx(*testing.F),
// by go test's own rules. Nothing is compiled or linked, where
// go test -list linked and ran every test binary of the module again (tens
// of seconds on a bare machine, after the same binaries had just run).
func fuzzTargets(ctx context.Context, root string) ([]fuzzTarget, error) {
	const each = `{{$.ImportPath}}{{"\t"}}{{$.Dir}}{{"\t"}}{{.}}{{"\n"}}`
	out, err := docker.Go(ctx, root, "list", "-f", "{{range .TestGoFiles}}"+each+"{{end}}{{range .XTestGoFiles}}"+each+"{{end}}", "./...")
	if err != nil {
		return nil, fmt.Errorf("list fuzz targets: %w", err)
	}
	var targets []fuzzTarget
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			continue
		}
		names, err := fuzzFuncs(filepath.Join(fields[1], fields[2]))
		if err != nil {
			return nil, fmt.Errorf("list fuzz targets: %w", err)
		}
		for _, n := range names {
			targets = append(targets, fuzzTarget{pkg: fields[0], name: n})
		}
	}
	return targets, nil
}

// fuzzFuncs returns the names of a test file's fuzz targets, in file order.
func fuzzFuncs(file string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || !isFuzzName(fn.Name.Name) || fn.Type.Params.NumFields() != 1 {
			continue
		}
		star, ok := fn.Type.Params.List[0].Type.(*ast.StarExpr)
		if !ok {
			continue
		}
		// go test's own check: *F or *something.F, since how a file
		// imports testing cannot be known from the type alone.
		switch x := star.X.(type) {
		case *ast.Ident:
			if x.Name == "F" {
				names = append(names, fn.Name.Name)
			}
		case *ast.SelectorExpr:
			if x.Sel.Name == "F" {
				names = append(names, fn.Name.Name)
			}
		}
	}
	return names, nil
}

// isFuzzName is go test's rule: Fuzz, then nothing or a character that is
// not a lower-case letter (FuzzParse, Fuzz_x, not Fuzzy).
func isFuzzName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Fuzz")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return !unicode.IsLower(r)
}

// Bench prepares the host, and the peer proxies (BenchSetup), runs
// the benchmarks, prints the table of figures against their targets
// and writes the same figures, with the machine they ran on, to bench/results.json
// and bench/results.md. Micro-benchmarks run with Go's default benchtime; the
// system benchmarks (a real stack under load) run once each.
func (r *Runner) Bench(ctx context.Context) error {
	if err := r.setup(ctx); err != nil {
		return err
	}
	if r.BenchSetup != nil {
		if err := r.BenchSetup(ctx); err != nil {
			return err
		}
	}
	var captured bytes.Buffer
	out := io.MultiWriter(os.Stdout, &captured)
	passes := [][]string{
		{"-run", "^$", "-bench", ".", "-benchmem", "./service", "./internal/policy", "./internal/metrics"},
		{"-run", "^$", "-bench", ".", "-benchtime=1x", "-timeout", "30m", "./e2e"},
	}
	for _, args := range passes {
		r.Out.Step("go test %s", strings.Join(args, " "))
		if err := docker.Stream(ctx, out, r.Root, nil, "go", append([]string{"test"}, args...)...); err != nil {
			return fmt.Errorf("benchmarks failed: %w", err)
		}
	}
	results, err := benchreport.Parse(&captured)
	if err != nil {
		r.Out.Warn("some benchmark lines could not be read: %v", err)
	}
	machine := benchreport.DescribeMachine(r.now())
	machine.Docker, _ = docker.Ping(ctx)
	report := benchreport.Report{Machine: machine, Figures: benchreport.Figures(results), Peers: benchreport.PeerRows(results), Raw: results}
	var doc bytes.Buffer
	if err := benchreport.WriteJSON(&doc, report); err != nil {
		return err
	}
	table := benchreport.Table(report)
	for name, data := range map[string][]byte{"results.json": doc.Bytes(), "results.md": []byte(table)} {
		if err := atomicfile.Write(filepath.Join(r.Root, BenchDir, name), data, 0o644); err != nil {
			return err
		}
	}
	r.Out.Raw("\n" + table)
	r.Out.OK("wrote %s/results.json and %s/results.md", BenchDir, BenchDir)
	return nil
}

// acmeTestServer installs Debian's pebble, Let's Encrypt's ACME test
// server, when it is missing: the end-to-end tests of the edge obtain real
// certificates from it, through the real HTTP-01 flow, on loopback.
func acmeTestServer(ctx context.Context, out *ui.Printer) error {
	if docker.Available("pebble") && docker.Available("pebble-challtestsrv") {
		return nil
	}
	out.Step("installing pebble, the ACME test server the edge's tests get certificates from")
	if err := docker.AptInstall(ctx, "pebble"); err != nil {
		return fmt.Errorf("the edge's tests need pebble: %w", err)
	}
	return nil
}
