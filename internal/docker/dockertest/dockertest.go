// Package dockertest puts a fake docker command first on PATH, so that the
// packages above internal/docker are tested without an engine: internal/docker
// still builds every command line and parses what comes back, and only the
// program at the far end is fake. Its answers are the outputs a real engine
// prints, usually fixtures under a package's testdata/.
package dockertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fake is a docker command that answers each call with the first rule whose
// pattern matches the call's arguments, and records every call.
type Fake struct {
	t     testing.TB
	dir   string
	rules []rule
}

type rule struct {
	pattern string
	outputs []string
	status  int
}

// New puts a fake docker first on PATH for the rest of the test (so the test
// cannot run in parallel). A call that no rule matches prints what it was
// asked and exits with status 99.
func New(t testing.TB) *Fake {
	t.Helper()
	f := &Fake{t: t, dir: t.TempDir()}
	t.Setenv("PATH", f.dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	f.write()
	return f
}

// On answers calls whose arguments, joined by single spaces, match pattern,
// in which * stands for any text. The first call gets the first output, the
// next the next, and the last is repeated: an engine's state moves on between
// calls. A pattern given again replaces its earlier answer.
func (f *Fake) On(pattern string, outputs ...string) *Fake {
	return f.set(rule{pattern: pattern, outputs: outputs})
}

// OnFile answers as On does with the content of a file (a fixture).
func (f *Fake) OnFile(pattern, path string) *Fake {
	f.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.On(pattern, string(data))
}

// Fail answers calls matching pattern with output and a non-zero exit
// status, as a command the engine refused.
func (f *Fake) Fail(pattern, output string, status int) *Fake {
	return f.set(rule{pattern: pattern, outputs: []string{output}, status: status})
}

func (f *Fake) set(r rule) *Fake {
	f.t.Helper()
	if len(r.outputs) == 0 {
		r.outputs = []string{""}
	}
	replaced := false
	for i := range f.rules {
		if f.rules[i].pattern == r.pattern {
			f.rules[i], replaced = r, true
			// The replaced answer starts again at its first output.
			os.Remove(filepath.Join(f.dir, fmt.Sprintf("count-%d", i)))
		}
	}
	if !replaced {
		f.rules = append(f.rules, r)
	}
	f.write()
	return f
}

// Calls lists the arguments of every call so far, in order, each joined by
// single spaces.
func (f *Fake) Calls() []string {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, "calls"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// Count is how many calls so far began with prefix.
func (f *Fake) Count(prefix string) int {
	n := 0
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// write renders the rules as a shell script: a case over "$*", each answer
// in a file of its own so that no output needs quoting, and a counter per
// rule choosing which of its outputs comes next.
func (f *Fake) write() {
	f.t.Helper()
	var script strings.Builder
	fmt.Fprintf(&script, "#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\ncase \"$*\" in\n", quote(filepath.Join(f.dir, "calls")))
	for i, r := range f.rules {
		for j, out := range r.outputs {
			if err := os.WriteFile(f.answer(i, j), []byte(out), 0o644); err != nil {
				f.t.Fatal(err)
			}
		}
		count := quote(filepath.Join(f.dir, fmt.Sprintf("count-%d", i)))
		last := len(r.outputs) - 1
		fmt.Fprintf(&script, "%s)\n  n=$(cat %s 2>/dev/null || echo 0)\n  echo $((n + 1)) > %s\n  [ \"$n\" -gt %d ] && n=%d\n",
			pattern(r.pattern), count, count, last, last)
		fmt.Fprintf(&script, "  cat %s.\"$n\"\n  exit %d;;\n", quote(f.answer(i, -1)), r.status)
	}
	script.WriteString("*)\n  echo \"fake docker: no answer for: $*\" >&2\n  exit 99;;\nesac\n")
	if err := os.WriteFile(filepath.Join(f.dir, "docker"), []byte(script.String()), 0o755); err != nil {
		f.t.Fatal(err)
	}
}

// answer names the file of a rule's output j; j < 0 gives the prefix the
// script adds the output's number to.
func (f *Fake) answer(i, j int) string {
	prefix := filepath.Join(f.dir, fmt.Sprintf("answer-%d", i))
	if j < 0 {
		return prefix
	}
	return fmt.Sprintf("%s.%d", prefix, j)
}

// pattern turns a pattern's literal text into quoted shell words around
// unquoted *, so that nothing but * is a wildcard.
func pattern(p string) string {
	parts := strings.Split(p, "*")
	for i, part := range parts {
		parts[i] = quote(part)
	}
	return strings.Join(parts, "*")
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
