package golden

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestFirstDifferenceNamesTheFirstDifferingLine(t *testing.T) {
	got := FirstDifference([]byte("a\nb\nc\n"), []byte("a\nB\nc\n"))
	if !strings.Contains(got, "line 2") || !strings.Contains(got, `"b"`) || !strings.Contains(got, `"B"`) {
		t.Errorf("FirstDifference = %q", got)
	}
	if got := FirstDifference([]byte("a\n"), []byte("a\nextra\n")); !strings.Contains(got, "line 2") {
		t.Errorf("an extra line: %q", got)
	}
}

func TestCheckFailsOnAMismatchAndPassesOnAMatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	*update = true
	Check(t, path, []byte("same\n"))
	*update = false
	Check(t, path, []byte("same\n"))
	fake := &testing.T{}
	done := make(chan struct{})
	go func() { defer close(done); Check(fake, path, []byte("other\n")) }()
	<-done
	if !fake.Failed() {
		t.Error("a mismatch did not fail the test")
	}
}
