package render

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// renderFiles renders testdata/<name>.yaml as the slice Write takes.
func renderFiles(t *testing.T, name string) []File {
	t.Helper()
	files, err := Render(templatesDir, load(t, name), DefaultProject)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// statAll stats every file under root, failing the test if one is missing or
// holds other bytes than rendered.
func statAll(t *testing.T, root string, files []File) []os.FileInfo {
	t.Helper()
	infos := make([]os.FileInfo, len(files))
	for i, f := range files {
		path := filepath.Join(root, f.Path)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s does not hold the rendered bytes", f.Path)
		}
		if infos[i], err = os.Stat(path); err != nil {
			t.Fatal(err)
		}
	}
	return infos
}

func TestWriteCreatesEveryFileUnderRoot(t *testing.T) {
	root := t.TempDir()
	files := renderFiles(t, "defaults")
	if err := Write(root, files); err != nil {
		t.Fatal(err)
	}
	statAll(t, root, files)
	assertOnlyEntries(t, root, ".swiftdeploy", ComposeFile, NginxConf)
	assertOnlyEntries(t, filepath.Join(root, MountedNginxDir), "nginx.conf")
}

func TestWriteAgainWithTheSameFilesKeepsEveryInode(t *testing.T) {
	root := t.TempDir()
	files := renderFiles(t, "defaults")
	if err := Write(root, files); err != nil {
		t.Fatal(err)
	}
	before := statAll(t, root, files)
	if err := Write(root, renderFiles(t, "defaults")); err != nil {
		t.Fatal(err)
	}
	after := statAll(t, root, files)
	for i, f := range files {
		if !os.SameFile(before[i], after[i]) {
			t.Errorf("%s was replaced although its content did not change", f.Path)
		}
	}
}

func TestWriteReplacesAChangedFileAndKeepsTheOthers(t *testing.T) {
	root := t.TempDir()
	if err := Write(root, renderFiles(t, "defaults")); err != nil {
		t.Fatal(err)
	}
	before := statAll(t, root, renderFiles(t, "defaults"))
	// A promotion: only the compose file's MODE changes.
	m := load(t, "defaults")
	m.Services.Mode = "canary"
	changed, err := Render(templatesDir, m, DefaultProject)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(root, changed); err != nil {
		t.Fatal(err)
	}
	after := statAll(t, root, changed)
	for i, f := range changed {
		replaced := !os.SameFile(before[i], after[i])
		if wantReplaced := f.Path == ComposeFile; replaced != wantReplaced {
			t.Errorf("%s: replaced %v, want %v", f.Path, replaced, wantReplaced)
		}
	}
	assertOnlyEntries(t, root, ".swiftdeploy", ComposeFile, NginxConf)
}

// assertOnlyEntries checks that dir holds exactly the named entries: no
// temporary file is left behind.
func assertOnlyEntries(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}
