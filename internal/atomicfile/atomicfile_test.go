package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesContentAndLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "f.txt")
	for _, content := range []string{"one\n", "two\n"} {
		if err := Write(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read back %q, %v; want %q", got, err, content)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only the file: %v", len(entries), entries)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
}

func TestWriteOfIdenticalContentKeepsTheSameInode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := Write(path, []byte("same"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if err := Write(path, []byte("same"), 0o644); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("identical content was rewritten to a new inode")
	}
}

func TestWriteIntoAnUnwritableFolderFails(t *testing.T) {
	if os.Getuid() == 0 {
		// root ignores permission bits; use a path whose parent is a file instead.
		parent := filepath.Join(t.TempDir(), "file")
		os.WriteFile(parent, nil, 0o644)
		if err := Write(filepath.Join(parent, "x"), []byte("x"), 0o644); err == nil {
			t.Fatal("writing below a regular file succeeded")
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	if err := Write(filepath.Join(dir, "x"), []byte("x"), 0o644); err == nil {
		t.Fatal("writing into a read-only folder succeeded")
	}
}

func TestWriteFromThatFailsLeavesTheOldFileAndNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.md")
	if err := Write(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFrom(path, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half of the new")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WriteFrom = %v, want the fill's error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old\n" {
		t.Errorf("file now holds %q, want the old content", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %v, want only the file", entries)
	}
}
