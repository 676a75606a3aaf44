package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/judge"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// release moves the running stack from the build it runs (from) to the one
// the manifest asks for, as the manifest's rollout says.
func (s *Stack) release(ctx context.Context, rt platform.Runtime, m *manifest.Manifest, from manifest.Build, stable []platform.Instance) (err error) {
	store := s.store()
	cur := m.WithBuild(from)
	mv := s.mover(m, rt)
	c := mv.Begin(change.Release, cur, m, stable)
	event := history.ReleaseEvent{Strategy: c.Strategy, FromImage: from.Image, FromVersion: from.Version, ToImage: m.Services.Image, ToVersion: m.Services.Version}
	start := time.Now()
	defer func() {
		if rmErr := store.ClearAbort(); rmErr != nil {
			s.Out.Warn("%v", rmErr)
		}
		event.Cost = s.changeCost(ctx, c)
		event.Elapsed = round(time.Since(start).Seconds(), 2)
		if c.Stepped() && c.Phase != change.Starting {
			event.Step, event.Weight = c.Step+1, c.Weight
		}
		var aborted *change.Aborted
		switch {
		case err == nil:
			event.Result = history.ReleaseCompleted
		case errors.As(err, &aborted):
			event.Result, event.Reasons = history.ReleaseAborted, []string{aborted.Reason}
			if aborted.FirstBadToAbort > 0 {
				event.FirstBadToAbort = round(aborted.FirstBadToAbort.Seconds(), 2)
			}
		default:
			event.Result, event.Error = history.ReleaseFailed, err.Error()
		}
		s.record(history.EventRelease, event)
	}()
	if err := store.ClearAbort(); err != nil {
		return err
	}
	started := event
	started.Result, started.Steps = history.ReleaseStarted, c.Steps
	s.record(history.EventRelease, started)
	if m.Services.Mode != manifest.ModeStable {
		return fmt.Errorf("%w: a release starts from stable mode and ends in it, but %s says services.mode: %s: run `promote stable` first", fail.ErrInvalid, ManifestFile, m.Services.Mode)
	}
	if !c.Stepped() {
		s.Out.Step("releasing %s → %s by switch: all traffic moves at once", from, m.Build())
		if err := mv.Switch(ctx, c, cur, m); err != nil {
			return fmt.Errorf("release: %w", err)
		}
	} else {
		s.Out.Step("releasing %s → %s step by step: %s of requests, %ds each", from, m.Build(), percentList(c.Steps), m.Rollout.StepSeconds)
		s.sayingSmoke(m)
		eng, err := s.loadPolicies(m)
		if err != nil {
			return err
		}
		settings, err := judge.SettingsFrom(eng.Thresholds(policy.Release))
		if err != nil {
			return fmt.Errorf("%w: %w (policies/data.json, or the policy section of %s)", fail.ErrInvalid, err, ManifestFile)
		}
		s.Out.Info("each step is looked at every %s; a canary worse than stable at %s confidence (%s alpha spending) or above an absolute limit is aborted at once; its failures count from a step's first request, its request times from %s into the step (the warm-up)",
			settings.Look, strconv.FormatFloat(100*settings.Confidence, 'f', -1, 64)+"%", settings.Spending, settings.WarmupOf(time.Duration(m.Rollout.StepSeconds)*time.Second))
		if err := mv.Release(ctx, c, cur, m, &releaseRun{s: s, rt: rt, m: m, eng: eng, settings: settings, abort: store.AbortRequested}); err != nil {
			return err
		}
	}
	s.Out.OK("released %s in %.1fs; %s stays on this host for `rollback`", m.Build(), time.Since(start).Seconds(), from)
	return nil
}

func percentList(steps []int) string {
	parts := make([]string, len(steps))
	for i, p := range steps {
		parts[i] = fmt.Sprintf("%d%%", p)
	}
	return strings.Join(parts, " → ")
}

// releaseRun judges the steps of one canary release (change.Judge): each
// build's figures from nginx's release log and their own /metrics, asked
// of the release policy.
type releaseRun struct {
	s   *Stack
	rt  platform.Runtime
	m   *manifest.Manifest // the new build, as the manifest asks
	r   *change.Change
	eng *policy.Engine
	// settings are the judge's confidence, spending rule and look interval.
	settings judge.Settings
	// abort reports whether a rollback asked the release to abort.
	abort func() bool
	// Where nginx's release log stood when the current step began to move
	// nginx, for a step cut short before its window started.
	stepOffset int64
	stepFrom   time.Time
	// failedProbes counts the canary's failed health probes in a row.
	failedProbes int
}

// Begin notes where nginx's release log stands as c's step begins.
func (rel *releaseRun) Begin(c *change.Change) {
	rel.r, rel.stepOffset, rel.stepFrom = c, fileSize(rel.s.path(render.ReleaseLog)), time.Now()
}

// Step holds c's step and judges it, with rollout.smoke's traffic to both
// builds while it runs.
func (rel *releaseRun) Step(ctx context.Context, c *change.Change) (change.Verdict, error) {
	rel.r = c
	defer rel.startSmoke(ctx)()
	verdict, reasons, firstBad, err := rel.judgeStep(ctx)
	return change.Verdict{Promote: verdict == policy.VerdictPromote, Reasons: reasons, FirstBad: firstBad}, err
}

// makeWritableDir makes a folder an unprivileged container writes in (nginx
// its release log, the resolver its served file), before the container
// mounts it (Docker would create it owned by root): writable by all,
// sticky, like /tmp.
func makeWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(dir, 0o1777)
}
