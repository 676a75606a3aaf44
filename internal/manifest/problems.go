package manifest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

// Problem is one mistake in a manifest.
type Problem struct {
	File      string
	Line, Col int    // 1-based; 0 when the YAML parser gave no position
	Path      string // field path such as "services.port"; empty for file-level problems
	Message   string
}

// String renders the problem as FILE:LINE:COL: PATH: MESSAGE.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Col > 0 {
			fmt.Fprintf(&b, ":%d", p.Col)
		}
	}
	b.WriteString(": ")
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error lists every problem found in a manifest, in file order.
type Error struct {
	Problems []Problem
}

// Error renders one line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap makes errors.Is(err, fail.ErrInvalid) hold: a bad manifest is bad operator input.
func (e *Error) Unwrap() error { return fail.ErrInvalid }

// sortProblems orders problems by position so the report reads top to bottom;
// problems without a position (syntax errors) come first.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Col < ps[j].Col
	})
}
