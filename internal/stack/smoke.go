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
// step the canary requests the release judge needs to decide it: a warning,
// not a failed check, since users' requests count too.
func (s *Stack) smokeEnough(m *manifest.Manifest, eng *policy.Engine) {
	if m.Rollout.Smoke == nil {
		return
	}
	settings, err := judge.SettingsFrom(eng.Thresholds(policy.Release))
	if err != nil {
		return // validate's policy check names it
	}
	note, enough := smokeNote(*m.Rollout.Smoke, m.Rollout.StepSeconds, judgeableRequests(settings.PerTest()))
	if enough {
		s.Out.OK("%s", note)
	} else {
		s.Out.Warn("%s", note)
	}
}

// judgeableRequests is the fewest requests to each build with which a step
// can be judged at all, at the error test's level alpha for a whole step:
// the fewest n for which n failures among the canary's n, against none in
// stable's n (smoke gives both builds as many), would show the canary
// worse. With fewer, the judge's verdict can only be inconclusive, the
// same rule it applies to a step's window (stats.ErrorsNeeded).
func judgeableRequests(alpha float64) int64 {
	for n := int64(1); n < 1<<20; n++ {
		if needed, err := stats.ErrorsNeeded(stats.Counts{Requests: n}, n, alpha); err == nil && needed >= 0 {
			return n
		}
	}
	return 1 << 20
}

// smokeNote compares the smoke requests a step of stepSeconds gives each
// build with the judgeable requests a step needs.
func smokeNote(sm manifest.Smoke, stepSeconds int, judgeable int64) (string, bool) {
	per := math.Floor(sm.Rate * float64(stepSeconds))
	noun := "requests"
	if per == 1 {
		noun = "request"
	}
	what := fmt.Sprintf("rollout.smoke: about %s %s to each build in a %ds step, against the %d a step needs before the release judge can decide it",
		strconv.FormatFloat(per, 'f', -1, 64), noun, stepSeconds, judgeable)
	if per >= float64(judgeable) {
		return what, true
	}
	rate := math.Ceil(float64(judgeable)/float64(stepSeconds)*10) / 10
	return what + fmt.Sprintf(": a step is judged only when users' requests make up the rest, or after it is extended; a rate of %s or more gives enough alone", strconv.FormatFloat(rate, 'f', -1, 64)), false
}
