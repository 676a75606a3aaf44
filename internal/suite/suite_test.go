package suite

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// A module with fuzz targets in internal and external test files, and the
// look-alikes go test -fuzz would not accept: a method, a function taking
// *testing.T, one named Fuzzy, one in a file whose build tag is off, and
// one in a file that is not a test file.
func TestFuzzTargetsAreFoundInEveryTestFileTheBuildSees(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/m\n\ngo 1.22\n",
		"a/a.go": "package a\n\nimport \"testing\"\n\nfunc FuzzNotATest(f *testing.F) {}\n",
		"a/a_test.go": `package a

import "testing"

type T struct{}

func (T) FuzzMethod(f *testing.F)   {}
func FuzzParse(f *testing.F)        {}
func Fuzzy(f *testing.F)            {}
func FuzzWithT(t *testing.T)        {}
func Fuzz_Second(f *testing.F)      {}
func TestParse(t *testing.T)        {}
`,
		"a/ext_test.go":    "package a_test\n\nimport \"testing\"\n\nfunc FuzzOutside(f *testing.F) {}\n",
		"a/tagged_test.go": "//go:build never\n\npackage a\n\nimport \"testing\"\n\nfunc FuzzTagged(f *testing.F) {}\n",
		"b/b.go":           "package b\n",
		"b/b_test.go":      "package b\n\nimport tt \"testing\"\n\nfunc FuzzB(f *tt.F) {}\n",
	}
	for name, text := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := fuzzTargets(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	want := []fuzzTarget{
		{pkg: "example.com/m/a", name: "FuzzParse"},
		{pkg: "example.com/m/a", name: "Fuzz_Second"},
		{pkg: "example.com/m/a", name: "FuzzOutside"},
		{pkg: "example.com/m/b", name: "FuzzB"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fuzz targets = %v, want %v", got, want)
	}
}

// A test file go list names but that does not parse is an error, not a
// module with fewer fuzz targets.
func TestAnUnparsableTestFileIsAnError(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "x_test.go"), []byte("package m\n\nfunc FuzzX(f *testing.F) {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fuzzTargets(context.Background(), root); err == nil {
		t.Fatal("an unparsable test file gave no error")
	}
}

// fuzz runs the targets one after another with the command it is given,
// says which one failed, and stops there.
func TestFuzzStopsAtTheFirstFailingTargetAndNamesIt(t *testing.T) {
	root := t.TempDir()
	// A stand-in for the go command: it fails for FuzzB's package.
	goCmd := []string{"sh", "-c", `echo "ran $*"; case "$*" in *example.com/b*) exit 1;; esac`, "go"}
	targets := []fuzzTarget{{pkg: "example.com/a", name: "FuzzA"}, {pkg: "example.com/b", name: "FuzzB"}, {pkg: "example.com/c", name: "FuzzC"}}
	var out bytes.Buffer
	err := (&Runner{Root: root}).fuzz(context.Background(), ui.New(&out), &out, goCmd, targets)
	if err == nil || !strings.Contains(err.Error(), "fuzz example.com/b FuzzB failed") || !strings.Contains(err.Error(), "testdata/fuzz/FuzzB") {
		t.Fatalf("err = %v, want FuzzB's failure and where its input is saved", err)
	}
	for _, want := range []string{"ran test -run ^$ -fuzz ^FuzzA$ -fuzztime 10000x example.com/a", "ran test -run ^$ -fuzz ^FuzzB$"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "FuzzC") {
		t.Errorf("a target after the failing one ran:\n%s", out.String())
	}
}

// Stopped (the tests beside it failed), fuzz interrupts the running target
// with SIGINT and says it was stopped, not that a target failed.
func TestFuzzStoppedSaysSoAndDoesNotBlameATarget(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// The stand-in says it is ready once its interrupt handler is set, so
	// that the stop comes after it, however slow the machine.
	ready := filepath.Join(t.TempDir(), "ready")
	goCmd := []string{"sh", "-c", `trap 'echo interrupted; kill $!; exit 130' INT; touch "` + ready + `"; sleep 30 & wait`, "go"}
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- (&Runner{Root: t.TempDir()}).fuzz(ctx, ui.New(&out), &out, goCmd, []fuzzTarget{{pkg: "example.com/a", name: "FuzzA"}})
	}()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stand-in for go test never started")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		// An interrupt, which go test passes on to its fuzzing workers, not a kill.
		if !strings.Contains(out.String(), "interrupted") {
			t.Errorf("the target was not interrupted:\n%s", out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("fuzz did not return after it was stopped")
	}
}

// testRun is Runner.Test on a module of two fuzz targets, with a stand-in
// for the go command that logs what it was asked and behaves as env says:
// STANDIN_AWAIT_FUZZ (go test ./... waits for a fuzzer beside it to start),
// STANDIN_TESTS_FAIL (go test ./... fails), STANDIN_FUZZ_BLOCKS (a fuzz
// target runs until it is interrupted), STANDIN_FUZZ_FAILS (it fails).
// beside says whether the idle scheduling class is there to fuzz beside the
// tests (a stand-in for chrt that marks the command it runs).
type testRun struct {
	err           error
	log, out, say string // what the stand-in was asked; go test's output; the runner's lines
}

func runTest(t *testing.T, beside bool, env ...string) testRun {
	t.Helper()
	root := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":      "module example.com/m\n\ngo 1.22\n",
		"m_test.go":   "package m\n\nimport \"testing\"\n\nfunc FuzzA(f *testing.F) {}\nfunc FuzzB(f *testing.F) {}\n",
		"bin/go-like": standInGo,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"STANDIN_AWAIT_FUZZ", "STANDIN_TESTS_FAIL", "STANDIN_FUZZ_BLOCKS", "STANDIN_FUZZ_FAILS"} {
		t.Setenv(name, "")
	}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	var out, say bytes.Buffer
	r := &Runner{Root: root, Out: ui.New(&say), goCmd: []string{filepath.Join(root, "bin/go-like")}, stdout: &out,
		tools: func(context.Context) error { return nil },
		idleClass: func(context.Context) []string {
			if beside {
				return []string{"env", "STANDIN_CLASS=idle"}
			}
			return nil
		}}
	done := make(chan error, 1)
	go func() { done <- r.Test(context.Background()) }()
	var run testRun
	select {
	case run.err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("Test did not return")
	}
	log, _ := os.ReadFile(filepath.Join(root, "bin/log"))
	run.log, run.out, run.say = string(log), out.String(), say.String()
	return run
}

const standInGo = `#!/bin/sh
dir=$(dirname "$0")
case "$*" in
*-fuzz*)
	echo "fuzz ${STANDIN_CLASS:-normal} $*" >> "$dir/log"
	echo "fuzzed $*"
	touch "$dir/fuzzing"
	if [ -n "$STANDIN_FUZZ_BLOCKS" ]; then
		trap 'echo interrupted >> "$dir/log"; exit 130' INT
		while :; do sleep 0.05; done
	fi
	[ -z "$STANDIN_FUZZ_FAILS" ] || exit 1
	;;
*)
	# The tests take long enough for a fuzzer beside them to have started
	# (its output must still come after theirs), up to 10 s.
	if [ -n "$STANDIN_AWAIT_FUZZ" ]; then
		i=0
		while [ ! -e "$dir/fuzzing" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
	fi
	echo "tests $*" >> "$dir/log"
	echo "tests ran"
	[ -z "$STANDIN_TESTS_FAIL" ] || exit 1
	;;
esac
`

func TestTheFuzzersRunBesideTheTestsInTheIdleClassAndTheirOutputFollows(t *testing.T) {
	run := runTest(t, true, "STANDIN_AWAIT_FUZZ=1")
	if run.err != nil {
		t.Fatalf("Test: %v\n%s", run.err, run.out)
	}
	for _, want := range []string{"tests test -count=1 -timeout 17m0s -parallel 4 ./...", "fuzz idle test -run ^$ -fuzz ^FuzzA$", "fuzz idle test -run ^$ -fuzz ^FuzzB$"} {
		if !strings.Contains(run.log, want) {
			t.Errorf("the go command was not asked %q:\n%s", want, run.log)
		}
	}
	if tests, fuzz := strings.Index(run.out, "tests ran"), strings.Index(run.out, "fuzzed"); tests < 0 || fuzz < tests {
		t.Errorf("the fuzzers' output does not follow the tests':\n%s", run.out)
	}
	if !strings.Contains(run.say, "beside the tests") || !strings.Contains(run.say, "all tests passed, 2 fuzz targets ran") {
		t.Errorf("the runner said:\n%s", run.say)
	}
}

func TestFailingTestsStopTheFuzzersBesideThem(t *testing.T) {
	run := runTest(t, true, "STANDIN_AWAIT_FUZZ=1", "STANDIN_TESTS_FAIL=1", "STANDIN_FUZZ_BLOCKS=1")
	if run.err == nil || !strings.Contains(run.err.Error(), "tests failed") {
		t.Fatalf("err = %v, want the tests' failure", run.err)
	}
	if !strings.Contains(run.log, "interrupted") || strings.Contains(run.log, "FuzzB") {
		t.Errorf("the fuzzer under way was not interrupted, or the next one ran:\n%s", run.log)
	}
	// A stopped fuzzer's output says nothing about the code.
	if strings.Contains(run.out, "fuzzed") {
		t.Errorf("a stopped fuzzer's output was printed:\n%s", run.out)
	}
}

func TestAFailingFuzzerBesidePassingTestsFailsTheRun(t *testing.T) {
	run := runTest(t, true, "STANDIN_AWAIT_FUZZ=1", "STANDIN_FUZZ_FAILS=1")
	if run.err == nil || !strings.Contains(run.err.Error(), "fuzz example.com/m FuzzA failed") {
		t.Fatalf("err = %v, want FuzzA's failure", run.err)
	}
	if !strings.Contains(run.out, "fuzzed") {
		t.Errorf("the failing fuzzer's output was not printed:\n%s", run.out)
	}
}

func TestWithoutTheIdleClassTheFuzzersRunAfterTestsThatPassed(t *testing.T) {
	run := runTest(t, false)
	if run.err != nil {
		t.Fatalf("Test: %v\n%s", run.err, run.out)
	}
	tests, fuzz := strings.Index(run.log, "tests "), strings.Index(run.log, "fuzz normal test -run ^$ -fuzz ^FuzzA$")
	if tests < 0 || fuzz < tests || !strings.Contains(run.log, "fuzz normal test -run ^$ -fuzz ^FuzzB$") {
		t.Errorf("want the tests, then each fuzzer in the normal class:\n%s", run.log)
	}
	if strings.Contains(run.say, "beside the tests") {
		t.Errorf("the runner said the fuzzers ran beside the tests:\n%s", run.say)
	}

	run = runTest(t, false, "STANDIN_TESTS_FAIL=1")
	if run.err == nil || !strings.Contains(run.err.Error(), "tests failed") {
		t.Fatalf("err = %v, want the tests' failure", run.err)
	}
	if strings.Contains(run.log, "fuzz") {
		t.Errorf("fuzzers ran after tests that failed:\n%s", run.log)
	}
}
