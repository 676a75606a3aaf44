// Package audit turns history.jsonl into audit_report.md, a GitHub Flavored
// Markdown report: a summary of counts, a timeline of deploys, mode changes,
// blocks, rollbacks and chaos injections, the policy violations folded by rule,
// and charts of error rate and P99 over time (Mermaid xychart-beta).
//
// The history is read once, as a stream, and everything the report keeps is
// bounded: the timeline keeps its first and last rows, violations are folded
// into at most a fixed number of groups and the chart keeps a fixed number of
// points. A history of a million events gives a report a person can read, in
// flat memory.
package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
)

// Options are the facts about a report that do not come from the history.
type Options struct {
	Now    time.Time // printed as the time the report was generated
	Source string    // the history's name, printed in the report, e.g. "history.jsonl"
}

// Stats says how much of the history went into the report.
type Stats struct {
	Events  int            // valid events read
	Skipped int            // malformed lines skipped
	Skips   []history.Skip // the first skipped lines, for one warning each
}

// Write reads the history once and writes the report to w.
func Write(w io.Writer, hist io.Reader, opt Options) (Stats, error) {
	c := newCollector()
	// Parsing and decoding are most of the work: spread them over the cores,
	// collecting in file order.
	sum, err := history.EachDecoded(hist, runtime.GOMAXPROCS(0), newDecode, c.add)
	stats := Stats{Events: c.events, Skipped: sum.Skipped, Skips: sum.Skips}
	if err != nil {
		return stats, fmt.Errorf("audit: %w", err)
	}
	bw := bufio.NewWriter(w)
	render(bw, c, stats, opt)
	if err := bw.Flush(); err != nil {
		return stats, fmt.Errorf("audit: write report: %w", err)
	}
	return stats, nil
}

// WriteFile writes the report for the history at historyPath to reportPath,
// atomically: a reader sees the old report or the new one, never half of one.
// A missing history is an empty one.
func WriteFile(reportPath, historyPath string, opt Options) (Stats, error) {
	var hist io.Reader = strings.NewReader("")
	f, err := os.Open(historyPath)
	switch {
	case err == nil:
		defer f.Close()
		hist = f
	case !errors.Is(err, fs.ErrNotExist):
		return Stats{}, fmt.Errorf("audit: %w", err)
	}
	var stats Stats
	err = atomicfile.WriteFrom(reportPath, 0o644, func(w io.Writer) error {
		var werr error
		stats, werr = Write(w, hist, opt)
		return werr
	})
	if err != nil {
		return stats, fmt.Errorf("audit: %w", err)
	}
	return stats, nil
}
