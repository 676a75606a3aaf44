package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// abortStepSeconds is the step window of the abort benchmark: the target for
// the time from a canary going bad to its weight being 0 is one window plus 5 s.
const abortStepSeconds = 10

// BenchmarkReleaseAbort releases a build that turns bad (chaos error, half
// its answers 500) as its first step (10 %) begins, under 20 Go clients, and
// reports the time from its first failed request to its weight being 0 (as
// the release measured and recorded it), and the share of all requests in
// that time that the canary answered badly, next to the step's share.
func BenchmarkReleaseAbort(b *testing.B) {
	rollout := strings.NewReplacer("step_seconds: 4", fmt.Sprintf("step_seconds: %d", abortStepSeconds)).Replace(quickRollout)
	p := newProject(b, manifestOptions{rollout: rollout})
	p.must("deploy")
	var toZero, badShare float64
	version := 0
	for b.Loop() {
		version++
		p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, fmt.Sprintf(`version: "2.%d.0"`, version), 1))
		load := startHTTPLoad(b, p.url("/"), 20)
		release := p.start(3*time.Minute, nil, "deploy")
		p.waitForStep(release, 10)
		okBefore, badBefore := load.ok.Load(), load.non2xx.Load()
		p.must("chaos", "error", "-rate=0.5")
		_, code := release.wait()
		load.stop()
		if code != 3 {
			b.Fatalf("the bad release exited %d, want 3", code)
		}
		ok, bad := load.ok.Load()-okBefore, load.non2xx.Load()-badBefore
		r := p.lastRelease()
		seconds, _ := r["first_bad_to_abort_seconds"].(float64)
		toZero += seconds
		badShare += 100 * float64(bad) / float64(ok+bad)
		b.Logf("first bad request to weight 0: %.1fs; %d of %d requests answered badly meanwhile; load %s", seconds, bad, ok+bad, load)
	}
	b.ReportMetric(toZero/float64(b.N), "bad-to-zero-s")
	b.ReportMetric(float64(abortStepSeconds+5), "target-s")
	b.ReportMetric(badShare/float64(b.N), "bad-share-%")
	b.ReportMetric(10, "step-share-%")
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
