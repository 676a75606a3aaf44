package benchreport

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is everything the bench target writes: where it ran, the figures and the
// benchmark results they came from.
type Report struct {
	Machine Machine  `json:"machine"`
	Figures []Figure `json:"figures"`
	// Peers are the figures beside peer proxies, each row one figure of
	// every target side by side (PeerRows).
	Peers []PeerRow `json:"peers,omitempty"`
	Raw   []Result  `json:"raw"`
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write bench report: %w", err)
	}
	return nil
}

// Table renders the figures as a Markdown table, then the figures beside peer
// proxies as another when there are any, followed by a line describing the
// machine, as printed by the bench target and pasted into the README.
func Table(r Report) string {
	var b strings.Builder
	b.WriteString("| Figure | Value | Target | Met |\n")
	b.WriteString("| --- | ---: | --- | --- |\n")
	for _, f := range r.Figures {
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s |\n", f.Name, formatNumber(f.Value), f.Unit, f.Target, metCell(f.Met))
	}
	if len(r.Peers) > 0 {
		b.WriteString("\n" + peerTable(r.Peers))
	}
	b.WriteString("\n" + describe(r.Machine) + "\n")
	return b.String()
}

func metCell(met *bool) string {
	switch {
	case met == nil:
		return ""
	case *met:
		return "yes"
	default:
		return "**no**"
	}
}

// describe is the one line saying what the figures were measured on; unknown parts are left out.
func describe(m Machine) string {
	cpu := m.CPU
	if cpu == "" {
		cpu = "unknown CPU"
	}
	parts := []string{fmt.Sprintf("%s, %d cores, %s GB memory", cpu, m.Cores, formatNumber(m.MemoryGB))}
	system := m.OS
	if m.Kernel != "" {
		system = strings.TrimPrefix(system+", kernel "+m.Kernel, ", ")
	}
	parts = appendNonEmpty(parts, system, m.Go, prefixed("Docker ", m.Docker), prefixed("nginx ", m.Nginx))
	line := "Measured on " + strings.Join(parts, "; ")
	if !m.At.IsZero() {
		line += " at " + m.At.UTC().Format(time.RFC3339)
	}
	return line + "."
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func appendNonEmpty(parts []string, more ...string) []string {
	for _, s := range more {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return parts
}
