package e2e

import (
	"bufio"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkPromoteGate times what an operator waits for before a promote starts
// switching: the command's start up to the canary policy's verdict, that is the
// process start, the stack checks, the scrapes, the measuring window and the
// decision. It does so twice, under light traffic (gateTraffic): with the
// window measured by promote itself, which scrapes, waits the policy's
// window (3 s in the test manifests, 30 s shipped) and scrapes again, and with
// the window taken from a `status` scrape recorded one window earlier, as when
// `status` is running beside the operator. It reports the first whole
// (gate-s), the first without its deliberate window wait (beyond-window-s) and
// the second (gate-reused-s).
func BenchmarkPromoteGate(b *testing.B) {
	p := newProject(b, manifestOptions{})
	p.must("deploy")
	var measured, beyond, reused time.Duration
	var measuredN, reusedN int
	mode := "canary"
	for b.Loop() {
		g := p.gate(mode)
		mode = other(mode)
		if g.reused {
			reused += g.took
			reusedN++
		} else {
			measured += g.took
			beyond += g.took - g.window
			measuredN++
		}
		// A status scrape now is one window old when the next promote looks for one.
		p.must("status", "-once", "-json")
		time.Sleep(g.window + 500*time.Millisecond)
		if g = p.gate(mode); !g.reused {
			b.Fatalf("promote %s measured its window instead of reusing the status scrape of one window ago", mode)
		}
		mode = other(mode)
		reused += g.took
		reusedN++
	}
	if measuredN == 0 {
		b.Fatal("every promote reused a recorded sample: no gate with its own window was timed")
	}
	b.ReportMetric(measured.Seconds()/float64(measuredN), "gate-s")
	b.ReportMetric(beyond.Seconds()/float64(measuredN), "beyond-window-s")
	b.ReportMetric(reused.Seconds()/float64(reusedN), "gate-reused-s")
}

// gateTraffic is the open-loop rate (req/s) through nginx during each timed
// promote: enough for the window to hold requests, too little to slow the gate.
const gateTraffic = 100

// gateTiming is how long one promote took to reach its policy verdict.
type gateTiming struct {
	took   time.Duration // from the command's start to the verdict
	window time.Duration // the window's length as promote printed it
	reused bool          // the window came from a recorded sample: no wait
}

var (
	windowLine  = regexp.MustCompile(`window (\d+)s \((measured now|from a sample[^)]*)\)`)
	verdictLine = regexp.MustCompile(`policy canary: (PASS|FAIL)`)
)

// gate runs promote mode, which must succeed, timing each line it prints.
func (p *project) gate(mode string) gateTiming {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	traffic := startOpenLoad(p.t, p.url("/"), gateTraffic, 4*time.Minute)
	defer traffic.stop()
	cmd := p.command(ctx, "promote", mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	var g gateTiming
	var printed strings.Builder
	verdict := ""
	for sc := bufio.NewScanner(out); sc.Scan(); {
		line := sc.Text()
		printed.WriteString(line + "\n")
		if m := windowLine.FindStringSubmatch(line); m != nil {
			secs, _ := strconv.Atoi(m[1])
			g.window, g.reused = time.Duration(secs)*time.Second, m[2] != "measured now"
		}
		if m := verdictLine.FindStringSubmatch(line); m != nil && verdict == "" {
			g.took, verdict = time.Since(start), m[1]
		}
	}
	err = cmd.Wait()
	p.t.Logf("$ swiftdeploy promote %s (%v)\n%s", mode, err, printed.String())
	if err != nil || verdict != "PASS" || g.window == 0 {
		p.t.Fatalf("promote %s: want a window line, a PASS verdict and success", mode)
	}
	return g
}
