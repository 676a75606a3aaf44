package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// replayEvents is the size of the history BenchmarkReplayCommand re-judges.
const replayEvents = 100_000

// BenchmarkReplayCommand runs `replay` as an operator would on a history of
// replayEvents events: the two end-to-end releases of
// internal/replay/testdata/releases.jsonl (steps with their looks, evidence
// and samples, an abort among them, and the deploys, decisions and scrapes
// around them) written again and again, so that every step is a real one
// to re-judge. It reports the wall time, the peak resident memory (VmHWM),
// and the steps re-judged.
func BenchmarkReplayCommand(b *testing.B) {
	p := newProject(b, manifestOptions{})
	fixture, err := os.ReadFile(filepath.Join(repoRoot, "internal", "replay", "testdata", "releases.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(fixture), "\n")+"\n", "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	steps := 0
	f, err := os.Create(filepath.Join(p.dir, "history.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range replayEvents {
		line := lines[i%len(lines)]
		if strings.Contains(line, `"event":"release_step"`) {
			steps++
		}
		w.WriteString(line)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(p.dir, "history.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	var wall time.Duration
	var peakKB int64
	for b.Loop() {
		took, kb, out := p.measured(b, "replay")
		wall += took
		peakKB = max(peakKB, kb)
		b.Logf("replay of %d events (%.0f MB, %d release steps): %s", replayEvents, float64(info.Size())/1e6, steps, lastLinesOf(out, 2))
	}
	b.ReportMetric(wall.Seconds()/float64(b.N), "s")
	b.ReportMetric(float64(peakKB)/1024, "peak-rss-MB")
	b.ReportMetric(float64(steps), "steps")
	b.ReportMetric(float64(info.Size())/1e6, "history-MB")
}
