package suite

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
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
