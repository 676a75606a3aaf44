package ui

import (
	"strings"
	"testing"

	"github.com/fatih/color"
)

// terminal makes color (and so New) believe the standard output is, or is not,
// a colour terminal, for the duration of the test.
func terminal(t *testing.T, tty bool) {
	t.Helper()
	was := color.NoColor
	color.NoColor = !tty
	t.Cleanup(func() { color.NoColor = was })
}

// printAll writes one line of every kind.
func printAll(p *Printer) {
	p.Title("Deploying %s", "swiftdeploy")
	p.Step("rendering %d files", 2)
	p.OK("nginx is healthy")
	p.Fail("app is %s", "unhealthy")
	p.Warn("history not written")
	p.Info("detail")
}

func TestPrinterWithoutATerminalWritesPlainMarkedLines(t *testing.T) {
	terminal(t, false)
	var out strings.Builder
	printAll(New(&out))
	want := "Deploying swiftdeploy\n" +
		"→ rendering 2 files\n" +
		"✔ nginx is healthy\n" +
		"✘ app is unhealthy\n" +
		"! history not written\n" +
		"  detail\n"
	if got := out.String(); got != want {
		t.Errorf("output =\n%q\nwant\n%q", got, want)
	}
}

func TestPrinterOnATerminalColoursTheMarks(t *testing.T) {
	terminal(t, true)
	var out strings.Builder
	printAll(New(&out))
	got := out.String()
	if !strings.Contains(got, "\x1b[") {
		t.Errorf("output %q has no ANSI colour codes", got)
	}
	for _, mark := range []string{"→", "✔", "✘", "!"} {
		if !strings.Contains(got, mark) {
			t.Errorf("output %q lacks the mark %s", got, mark)
		}
	}
}

func TestProgressWithoutATerminalPrintsOneLinePerWindow(t *testing.T) {
	terminal(t, false)
	var out strings.Builder
	g := New(&out).Progress("waiting for health")
	for i := range 50 {
		g.Update(strings.Repeat(".", i))
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("50 quick updates printed %d lines, want 1:\n%s", len(lines), out.String())
	}
	if !strings.HasPrefix(lines[0], "… waiting for health (0s)") {
		t.Errorf("progress line = %q, want it to name the wait and its elapsed time", lines[0])
	}
	if strings.Contains(out.String(), "\x1b[") || strings.Contains(out.String(), "\r") {
		t.Errorf("plain progress %q contains terminal control codes", out.String())
	}
	before := out.String()
	g.Done()
	if out.String() != before {
		t.Errorf("Done wrote %q without a terminal, want nothing", strings.TrimPrefix(out.String(), before))
	}
}

func TestProgressOnATerminalRewritesOneLineAndDoneClearsIt(t *testing.T) {
	terminal(t, true)
	var out strings.Builder
	g := New(&out).Progress("waiting for health")
	g.Update("starting")
	g.Update("healthy")
	if got := out.String(); strings.Count(got, "\r\x1b[K") != 2 || strings.Contains(got, "\n") {
		t.Errorf("terminal progress = %q, want two in-place rewrites and no newline", got)
	}
	before := out.String()
	g.Done()
	if got := strings.TrimPrefix(out.String(), before); got != "\r\x1b[K" {
		t.Errorf("Done wrote %q, want the line cleared", got)
	}
	g.Done()
	if strings.Count(out.String(), "\r\x1b[K") != 3 {
		t.Errorf("a second Done wrote again: %q", out.String())
	}
}
