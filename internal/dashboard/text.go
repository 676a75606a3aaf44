package dashboard

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fatih/color"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
)

// none stands for a value that is not known in this refresh.
const none = "—"

// Text renders the whole screen for one refresh, ending in a newline. It writes no
// clear-screen codes and no footer: the refresh loop owns the terminal. With color, PASS
// is green, FAIL red and warnings yellow, whatever the terminal or NO_COLOR say: the
// caller decides.
func Text(s Snapshot, color bool) string {
	p := newPalette(color)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", p.bold(fmt.Sprintf("SwiftDeploy status — %s — %s UTC", s.Project, s.At.UTC().Format("15:04:05"))))
	if !s.Up {
		fmt.Fprintf(&b, "\n%s\n", p.fail(downLine(s.Problem)))
	}
	if s.Change != "" {
		fmt.Fprintf(&b, "\n%s\n", p.warn("Change "+s.Change))
	}
	if s.Release != nil {
		writeRelease(&b, s.Release, p)
	}
	b.WriteString("\n")
	writeRows(&b, summaryRows(s, p))
	if s.Edge != nil {
		writeEdge(&b, s.At, s.Edge, p)
	}
	fmt.Fprintf(&b, "\n%s\n", p.bold("Containers"))
	writeContainers(&b, s.At, s.Containers, p)
	fmt.Fprintf(&b, "\n%s\n", p.bold("Policies"))
	writeDomains(&b, s.Domains, p)
	return b.String()
}

func downLine(problem string) string {
	if problem == "" {
		return "Stack is DOWN"
	}
	return "Stack is DOWN: " + problem
}

// row is one "label value" line of the summary; value may already be coloured.
type row struct{ label, value string }

// summaryRows are the stack's vital signs. Mode and version are shown whenever the
// caller knows them; the rest comes from the running service, so it is unknown while
// the stack is down.
func summaryRows(s Snapshot, p palette) []row {
	rows := []row{{"Mode", orNone(s.Mode)}, {"Version", orNone(s.Version)}}
	if !s.Up {
		for _, label := range []string{"Uptime", "Chaos", "Req/s", "Error rate", "P99", "Window"} {
			rows = append(rows, row{label, none})
		}
		return rows
	}
	rows = append(rows, row{"Uptime", humanDuration(s.UptimeSeconds)}, row{"Chaos", chaosText(s.Chaos, p)})
	return append(rows, trafficRows(s.window(), s.RequestsPerSecond, p)...)
}

func trafficRows(w *metrics.Window, perSecond float64, p palette) []row {
	if w == nil {
		return []row{{"Req/s", none}, {"Error rate", none}, {"P99", none}, {"Window", "waiting for a second scrape"}}
	}
	window := fmt.Sprintf("%.1fs", w.Seconds)
	if w.Reset {
		window += " " + p.warn("(counter reset: the service restarted)")
	}
	if w.NoTraffic {
		return []row{{"Req/s", fmt.Sprintf("%.1f", perSecond)}, {"Error rate", p.warn("no traffic")}, {"P99", none}, {"Window", window}}
	}
	return []row{
		{"Req/s", fmt.Sprintf("%.1f", perSecond)},
		{"Error rate", fmt.Sprintf("%.2f%%", w.ErrorRatePercent)},
		{"P99", fmt.Sprintf("%.1f ms", w.P99Ms)},
		{"Window", window},
	}
}

func chaosText(chaos string, p palette) string {
	switch chaos {
	case "":
		return none
	case "none":
		return chaos
	default:
		return p.warn(chaos + " (chaos active)")
	}
}

func writeRows(b *strings.Builder, rows []row) {
	width := 0
	for _, r := range rows {
		width = max(width, utf8.RuneCountInString(r.label))
	}
	for _, r := range rows {
		fmt.Fprintf(b, "  %s  %s\n", pad(r.label, width), r.value)
	}
}

func writeContainers(b *strings.Builder, at time.Time, cs []Container, p palette) {
	if len(cs) == 0 {
		b.WriteString("  (no containers found)\n")
		return
	}
	cells := make([][]string, len(cs))
	for i, c := range cs {
		cells[i] = []string{c.Name, orNone(c.Service), orNone(c.State), healthText(c.Health), upFor(at, c)}
		if c.Node != "" {
			// On swarm: which node runs the task.
			cells[i] = append(cells[i], "on "+c.Node)
		}
	}
	widths := columnWidths(cells)
	for i, c := range cs {
		mark, paint := containerMark(c, p)
		line := paint(strings.TrimRight(joinPadded(cells[i], widths), " "))
		fmt.Fprintf(b, "  %s %s\n", paint(mark), line)
	}
}

// containerMark is ✔ for a running container that is healthy or has no healthcheck, and
// ✘ otherwise: yellow while its healthcheck is still starting, red when it is broken.
func containerMark(c Container, p palette) (string, func(string) string) {
	switch {
	case c.State == "running" && (c.Health == "healthy" || c.Health == ""):
		return "✔", p.plain
	case c.State == "running" && c.Health == "starting":
		return "✘", p.warn
	default:
		return "✘", p.fail
	}
}

func healthText(health string) string {
	if health == "" {
		return "no healthcheck"
	}
	return health
}

func upFor(at time.Time, c Container) string {
	if c.State != "running" || c.StartedAt.IsZero() || c.StartedAt.After(at) {
		return ""
	}
	return "up " + humanDuration(at.Sub(c.StartedAt).Seconds())
}

// writeDomains prints one line per domain, its status then its first violation (or the
// reason it has no status); further violations and notes follow, aligned under the first.
func writeDomains(b *strings.Builder, ds []Domain, p palette) {
	if len(ds) == 0 {
		b.WriteString("  (no policy domains)\n")
		return
	}
	cells := make([][]string, len(ds))
	for i, d := range ds {
		cells[i] = []string{d.Name, d.status()}
	}
	widths := columnWidths(cells)
	indent := strings.Repeat(" ", 2+widths[0]+2+widths[1]+2)
	for _, d := range ds {
		details := domainDetails(d, p)
		head := "  " + pad(d.Name, widths[0]) + "  " + p.status(d.status())
		if len(details) == 0 {
			fmt.Fprintf(b, "%s\n", head)
			continue
		}
		fmt.Fprintf(b, "%s%s  %s\n", head, pad("", widths[1]-len(d.status())), details[0])
		for _, line := range details[1:] {
			fmt.Fprintf(b, "%s%s\n", indent, line)
		}
	}
}

// domainDetails are the lines that explain a domain's status: violations, an override,
// notes; or why it could not be asked.
func domainDetails(d Domain, p palette) []string {
	if d.status() == StatusUnknown {
		return []string{p.warn(d.problem())}
	}
	var lines []string
	for _, v := range d.Decision.Violations {
		lines = append(lines, v.Rule+": "+v.Message)
	}
	if d.status() == StatusFail && len(lines) == 0 {
		lines = append(lines, "denied without a violation")
	}
	if d.Decision.Overridden {
		lines = append(lines, p.warn("overridden (break glass): "+d.Decision.OverrideReason))
	}
	for _, n := range d.Decision.Notes {
		lines = append(lines, "• "+n)
	}
	return lines
}

// columnWidths is the widest cell of each column, in runes (the marks and dashes are one
// column each on a terminal, several bytes each in UTF-8).
func columnWidths(rows [][]string) []int {
	var widths []int
	for _, cells := range rows {
		for i, c := range cells {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	return widths
}

func joinPadded(cells []string, widths []int) string {
	padded := make([]string, len(cells))
	for i, c := range cells {
		padded[i] = pad(c, widths[i])
	}
	return strings.Join(padded, "  ")
}

// pad pads plain text; colour is applied after, so escape codes never count as width.
func pad(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-utf8.RuneCountInString(s)))
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// humanDuration is 1h02m03s, 2m03s or 3s; whole seconds, which is all a dashboard needs.
func humanDuration(seconds float64) string {
	if math.IsNaN(seconds) || seconds < 0 {
		return none
	}
	d := time.Duration(seconds) * time.Second
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, sec)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, sec)
	default:
		return fmt.Sprintf("%ds", sec)
	}
}

// palette colours text when enabled and leaves it alone otherwise. Its colours are
// enabled explicitly, so the caller's choice wins over fatih/color's terminal detection.
type palette struct{ green, red, yellow, strong *color.Color }

func newPalette(on bool) palette {
	if !on {
		return palette{}
	}
	enabled := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		c.EnableColor()
		return c
	}
	return palette{
		green:  enabled(color.FgGreen, color.Bold),
		red:    enabled(color.FgRed, color.Bold),
		yellow: enabled(color.FgYellow, color.Bold),
		strong: enabled(color.Bold),
	}
}

func paint(c *color.Color, s string) string {
	if c == nil {
		return s
	}
	return c.Sprint(s)
}

func (p palette) plain(s string) string { return s }
func (p palette) fail(s string) string  { return paint(p.red, s) }
func (p palette) warn(s string) string  { return paint(p.yellow, s) }
func (p palette) bold(s string) string  { return paint(p.strong, s) }

// status colours a status word by what it says.
func (p palette) status(s string) string {
	switch s {
	case StatusPass:
		return paint(p.green, s)
	case StatusFail:
		return p.fail(s)
	default:
		return p.warn(s)
	}
}

// writeEdge shows the host's edge: whether it runs and routes here, and each
// host name's certificate with its expiry.
func writeEdge(b *strings.Builder, at time.Time, e *Edge, p palette) {
	state := fmt.Sprintf("running on ports %d and %d", e.HTTPPort, e.HTTPSPort)
	switch {
	case e.Problem != "":
		state = p.warn(e.Problem)
	case !e.Running:
		state = p.fail("not running")
	case !e.Routed:
		state += ", " + p.warn("not routing this stack's names (deploy routes them)")
	}
	if e.TLS == "acme" && e.Problem == "" {
		if e.Renewer {
			state += ", renewer looks every " + humanDuration(e.RenewEvery.Seconds())
		} else {
			state += ", " + p.warn("renewer not running (deploy starts it)")
		}
	}
	fmt.Fprintf(b, "\n%s %s (TLS %s)\n", p.bold("Edge"), state, e.TLS)
	for _, h := range e.Hosts {
		switch {
		case e.TLS == "off":
			fmt.Fprintf(b, "  %s  http only\n", h.Name)
		case h.Issuer == "":
			fmt.Fprintf(b, "  %s  %s\n", h.Name, p.fail("no certificate"))
		default:
			expiry := "expires " + h.NotAfter.UTC().Format("2006-01-02")
			if at.After(h.NotAfter) {
				expiry = p.fail("EXPIRED " + h.NotAfter.UTC().Format("2006-01-02"))
			} else if at.After(h.RenewAfter) && e.Renewer {
				expiry = p.warn(expiry + ", renewal due (the renewer orders it)")
			} else if at.After(h.RenewAfter) {
				expiry = p.warn(expiry + ", renewal due (run renew)")
			}
			fmt.Fprintf(b, "  %s  %s, %s, serial %s\n", h.Name, h.Issuer, expiry, h.Serial)
		}
		if h.Failure != "" {
			fmt.Fprintf(b, "    %s; next try from %s\n", p.fail("order failed "+h.FailedAt.UTC().Format("2006-01-02 15:04 UTC")+": "+h.Failure),
				h.RetryAt.UTC().Format("2006-01-02 15:04 UTC"))
		}
	}
}
