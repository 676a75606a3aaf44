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
