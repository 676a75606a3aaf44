// Package ui prints what SwiftDeploy does: one line per step, coloured on a
// terminal and plain when piped (fatih/color also honours NO_COLOR and TERM=dumb),
// and progress for long waits.
package ui

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/fatih/color"
)

// Printer writes status lines. It is safe for concurrent use.
type Printer struct {
	mu  sync.Mutex
	out io.Writer
	tty bool
}

// New returns a Printer on w. Colour and in-place progress are used only when
// color says the standard output is a terminal that wants them.
func New(w io.Writer) *Printer {
	return &Printer{out: w, tty: !color.NoColor}
}

var (
	green  = color.New(color.FgGreen, color.Bold)
	red    = color.New(color.FgRed, color.Bold)
	yellow = color.New(color.FgYellow, color.Bold)
	cyan   = color.New(color.FgCyan)
	bold   = color.New(color.Bold)
)

func (p *Printer) line(c *color.Color, mark, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if p.tty {
		fmt.Fprintf(p.out, "%s %s\n", c.Sprint(mark), msg)
		return
	}
	fmt.Fprintf(p.out, "%s %s\n", mark, msg)
}

// Step announces something about to happen.
func (p *Printer) Step(format string, args ...any) { p.line(cyan, "→", format, args...) }

// OK reports a success.
func (p *Printer) OK(format string, args ...any) { p.line(green, "✔", format, args...) }

// Fail reports a failed check.
func (p *Printer) Fail(format string, args ...any) { p.line(red, "✘", format, args...) }

// Warn reports something the operator should know that is not a failure.
func (p *Printer) Warn(format string, args ...any) { p.line(yellow, "!", format, args...) }

// Info prints an indented detail line.
func (p *Printer) Info(format string, args ...any) { p.line(color.New(), " ", format, args...) }

// Title prints a bold heading.
func (p *Printer) Title(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		bold.Fprintf(p.out, format+"\n", args...)
		return
	}
	fmt.Fprintf(p.out, format+"\n", args...)
}

// Raw writes s as it is.
func (p *Printer) Raw(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.out, s)
}

// Progress shows that a wait is going on: on a terminal one line rewritten in
// place, when piped a line every plainEvery.
type Progress struct {
	p      *Printer
	what   string
	start  time.Time
	last   time.Time
	active bool
}

const plainEvery = 5 * time.Second

// Progress starts a progress display for what.
func (p *Printer) Progress(what string) *Progress {
	return &Progress{p: p, what: what, start: time.Now()}
}

// Elapsed is the time since the progress started.
func (g *Progress) Elapsed() time.Duration { return time.Since(g.start) }

// Update shows the elapsed time and the latest status.
func (g *Progress) Update(status string) {
	g.p.mu.Lock()
	defer g.p.mu.Unlock()
	secs := int(g.Elapsed().Seconds())
	if g.p.tty {
		fmt.Fprintf(g.p.out, "\r\033[K%s %s… %ds %s", cyan.Sprint("⏳"), g.what, secs, status)
		g.active = true
		return
	}
	if time.Since(g.last) >= plainEvery || g.last.IsZero() {
		fmt.Fprintf(g.p.out, "… %s (%ds) %s\n", g.what, secs, status)
		g.last = time.Now()
	}
}

// Done clears the in-place line, if any.
func (g *Progress) Done() {
	g.p.mu.Lock()
	defer g.p.mu.Unlock()
	if g.active {
		fmt.Fprint(g.p.out, "\r\033[K")
		g.active = false
	}
}
