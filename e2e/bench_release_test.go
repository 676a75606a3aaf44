package e2e

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// abortStepSeconds is the step window of the abort benchmark, as shipped
// (rollout.step_seconds' default): the release judge looks inside the step,
// so a bad build is caught long before the step would end.
const abortStepSeconds = 30

// abortRates are the canary's error rates BenchmarkReleaseAbort injects.
var abortRates = []float64{0.5, 0.1, 0.02}

// BenchmarkReleaseAbort releases a build that turns bad (chaos error: 50 %,
// 10 % or 2 % of its answers 500) as its first step (10 %) begins, under 20
// Go clients, and reports the time from its first failed request to its
// weight being 0 (as the release measured and recorded it), and the share of
// all requests answered badly over the step's planned 30 s (the load runs the
// whole step, so the share says what clients paid for the bad build: a step
// judged only at its end would cost 10 % x the error rate).
func BenchmarkReleaseAbort(b *testing.B) {
	rollout := strings.NewReplacer("step_seconds: 4", fmt.Sprintf("step_seconds: %d", abortStepSeconds)).Replace(quickRollout)
	p := newProject(b, manifestOptions{rollout: rollout})
	p.must("deploy")
	version := 0
	for _, rate := range abortRates {
		b.Run(fmt.Sprintf("rate-%gpct", rate*100), func(b *testing.B) {
			var toZero, badShare, aborted float64
			for b.Loop() {
				version++
				p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, fmt.Sprintf(`version: "2.%d.0"`, version), 1))
				load := startHTTPLoad(b, p.url("/"), 20)
				release := p.start(5*time.Minute, nil, "deploy")
				p.waitForStep(release, 10)
				stepEnd := time.Now().Add(abortStepSeconds * time.Second)
				okBefore, badBefore := load.ok.Load(), load.non2xx.Load()
				p.must("chaos", "error", fmt.Sprintf("-rate=%g", rate))
				out, code := release.wait()
				time.Sleep(time.Until(stepEnd))
				load.stop()
				ok, bad := load.ok.Load()-okBefore, load.non2xx.Load()-badBefore
				share := 100 * float64(bad) / float64(ok+bad)
				badShare += share
				if code != 3 {
					// A build that fails 2 % of its requests may pass a step
					// whose few canary requests cannot tell it from stable:
					// reported, not hidden.
					b.Logf("the release with %g %% errors exited %d, not aborted:\n%s", rate*100, code, lastLinesOf(out, 8))
					p.must("rollback")
					continue
				}
				aborted++
				seconds, _ := p.lastRelease()["first_bad_to_abort_seconds"].(float64)
				toZero += seconds
				b.Logf("%g %% errors: first bad request to weight 0: %.2fs; %d of %d requests answered badly over the step (%.2f %%); load %s", rate*100, seconds, bad, ok+bad, share, load)
			}
			if aborted > 0 {
				b.ReportMetric(toZero/aborted, "bad-to-zero-s")
			}
			b.ReportMetric(100*aborted/float64(b.N), "aborted-%")
			b.ReportMetric(badShare/float64(b.N), "bad-share-%")
		})
	}
}

// falseAbortReleases is how many good releases BenchmarkReleaseFalseAborts
// runs.
const falseAbortReleases = 20

// BenchmarkReleaseFalseAborts releases a good build (the same service, a new
// version) falseAbortReleases times in four 4 s steps under 20 Go clients
// and 20 clients that never retry (wrk's kind), and counts the releases the
// judge aborted, each one a false alarm, and what either kind of client saw
// fail: for those that never retry, every connection reset or closed under
// them counts.
func BenchmarkReleaseFalseAborts(b *testing.B) {
	p := newProject(b, manifestOptions{rollout: quickRollout})
	p.must("deploy")
	version := 0
	for b.Loop() {
		aborts, requests, failed, rawRequests, rawFailed := 0, int64(0), int64(0), int64(0), int64(0)
		for range falseAbortReleases {
			version++
			p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, fmt.Sprintf(`version: "3.%d.0"`, version), 1))
			load := startHTTPLoad(b, p.url("/"), 20)
			raw := startLoad(b, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
			out, code := p.run("deploy")
			load.stop()
			raw.stop()
			requests += load.ok.Load() + load.non2xx.Load() + load.errs.Load()
			failed += load.non2xx.Load() + load.errs.Load()
			rawRequests += raw.ok.Load() + raw.non2xx.Load() + raw.errs.Load()
			rawFailed += raw.non2xx.Load() + raw.errs.Load()
			if code != 0 {
				aborts++
				// Past b.Logf, which keeps a benchmark's first ten lines
				// only: why a good build was aborted is the figure's cause.
				fmt.Fprintf(os.Stderr, "BenchmarkReleaseFalseAborts: release %d of a good build exited %d:\n%s\n", version, code, lastLinesOf(out, 20))
			}
			if raw.non2xx.Load()+raw.errs.Load() > 0 {
				b.Logf("release %d: clients that never retry saw %s", version, raw)
			}
		}
		b.Logf("%d good releases: %d aborted; Go clients %d requests, %d failed; clients that never retry %d requests, %d failed",
			falseAbortReleases, aborts, requests, failed, rawRequests, rawFailed)
		b.ReportMetric(float64(aborts), "false-aborts")
		b.ReportMetric(falseAbortReleases, "releases")
		b.ReportMetric(float64(failed), "failed")
		b.ReportMetric(float64(rawFailed)/falseAbortReleases, "never-retrying-failed/release")
	}
}

var releasedIn = regexp.MustCompile(`released .* in ([0-9.]+)s;`)

// releaseWhile releases version on p, stable-deployed, with the load start
// begins from a second before the release until it ends, and returns its wall
// time as deploy printed it.
func releaseWhile(b *testing.B, p *project, version string, start func() (stop func())) (wall, stepChange float64) {
	b.Helper()
	manifest := p.read("manifest.yaml")
	current := regexp.MustCompile(`version: "[^"]*"`).FindString(manifest)
	p.write("manifest.yaml", strings.Replace(manifest, current, `version: "`+version+`"`, 1))
	stop := start()
	time.Sleep(time.Second)
	out := p.must("deploy")
	stop()
	m := releasedIn.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("deploy printed no release time:\n%s", out)
	}
	s, _ := strconv.ParseFloat(m[1], 64)
	var steps, n float64
	for _, m := range stepRouted.FindAllStringSubmatch(out, -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		steps, n = steps+d, n+1
	}
	if n > 0 {
		steps /= n
	}
	return s, steps
}

// stepRouted is what a release prints once nginx routes by a step's weight.
var stepRouted = regexp.MustCompile(`nginx routes by the new weight ([0-9.]+)s after it was set`)
