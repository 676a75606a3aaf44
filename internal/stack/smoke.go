package stack

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/judge"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
	"github.com/swiftdeploy/swiftdeploy/internal/smoke"
	"github.com/swiftdeploy/swiftdeploy/internal/stats"
)

// smokeGrace is how long the end of a step waits for smoke requests still
// under way (a healthy build answers them in milliseconds); the others
// finish on their own.
const smokeGrace = time.Second

// smokeMargin lets nginx answer a smoke request itself (504 after
// nginx.proxy_timeout) before the sender gives up on it.
const smokeMargin = 5 * time.Second

// sayingSmoke says, as a release of m starts, what smoke traffic its steps
// get.
func (s *Stack) sayingSmoke(m *manifest.Manifest) {
	if sm := m.Rollout.Smoke; sm != nil {
		s.Out.Info("smoke traffic in each step (rollout.smoke): %s, through nginx's admin listener; judged with users' requests, counted apart", smoke.Describe(*sm))
	}
}

// startSmoke sends rollout.smoke's requests to both builds while the step
// under way runs; the function it returns stops them and says what could
// not be sent. Without rollout.smoke it does nothing.
func (rel *releaseRun) startSmoke(ctx context.Context) func() {
	sm := rel.m.Rollout.Smoke
	if sm == nil {
		return func() {}
	}
	sender := &smoke.Sender{Smoke: *sm, URL: router.URL, Client: &http.Client{Transport: rel.s.admin(rel.m).Transport,
		Timeout: time.Duration(rel.m.Nginx.ProxyTimeout)*time.Second + smokeMargin}}
	run := sender.Start(ctx, smoke.Canary, smoke.Stable)
	return func() {
		for _, c := range run.Stop(smokeGrace) {
			if c.Skipped > 0 {
				rel.s.Out.Warn("smoke: %d requests to the %s build were not sent: it had %d unanswered", c.Skipped, c.Build, smoke.MaxInFlight)
			}
			if c.Failed > 0 {
				rel.s.Out.Warn("smoke: %d of %d requests to the %s build got no answer from nginx (the first: %s)", c.Failed, c.Sent, c.Build, c.FirstError)
			}
		}
	}
}

// requestCount is "45 requests (5 user + 40 smoke)", or "45 requests"
// when none was smoke.
func requestCount(f routelog.Figures) string {
	if f.Smoke == 0 {
		return fmt.Sprintf("%d requests", f.Requests)
	}
	return fmt.Sprintf("%d requests (%d user + %d smoke)", f.Requests, f.Users(), f.Smoke)
}

// smokeEnough says, for validate, whether rollout.smoke alone gives each
// step enough requests to be judged at the release policy's confidence: a
// warning, not a failed check, since users' requests count too.
func (s *Stack) smokeEnough(m *manifest.Manifest, eng *policy.Engine) {
	settings, err := judge.SettingsFrom(eng.Thresholds(policy.Release))
	if m.Rollout.Smoke == nil || err != nil {
		return
	}
	if note, enough := smokeNote(*m.Rollout.Smoke, m.Rollout.StepSeconds, settings); enough {
		s.Out.OK("%s", note)
	} else {
		s.Out.Warn("%s", note)
	}
}

// smokeNote compares the smoke requests a step of stepSeconds gives each
// build with the fewest that judge a step alone: as many to each build, all
// answered by stable, that a canary failing all of them would be shown
// worse at the errors test's level for the step (5 at confidence 0.95).
func smokeNote(sm manifest.Smoke, stepSeconds int, settings judge.Settings) (string, bool) {
	per := math.Floor(sm.Rate * float64(stepSeconds))
	need := smokeNeeded(settings.PerTest())
	noun := "requests"
	if per == 1 {
		noun = "request"
	}
	what := fmt.Sprintf("rollout.smoke: about %s %s to each build in a %ds step, against the %d a step needs alone to be judged at the release policy's confidence (%s%%)",
		strconv.FormatFloat(per, 'f', -1, 64), noun, stepSeconds, need, strconv.FormatFloat(100*settings.Confidence, 'f', -1, 64))
	if per >= float64(need) {
		return what, true
	}
	rate := math.Ceil(float64(need)/float64(stepSeconds)*10) / 10
	return what + fmt.Sprintf(": a step is judged only when users' requests make up the rest, or after it is extended; a rate of %s or more gives enough alone", strconv.FormatFloat(rate, 'f', -1, 64)), false
}

// smokeNeeded is the fewest requests to each build for which a canary
// failing every one, against a stable build failing none, is worse at
// alpha.
func smokeNeeded(alpha float64) int {
	for n := int64(1); n < 1<<20; n++ {
		if needed, err := stats.ErrorsNeeded(stats.Counts{Requests: n}, n, alpha); err == nil && needed >= 0 {
			return int(n)
		}
	}
	return 1 << 20
}
