// Package replay re-judges the release steps history.jsonl recorded under
// the policies and thresholds as they are now: for each step, what its
// looks would decide today from the counts and request-time samples the
// judge kept (history.ReleaseStep), beside what was decided then.
//
// The recorded looks are looked at again, at the times they were taken,
// each test at the level today's confidence and spending rule leave it
// there. Every look before the deciding one is re-judged on its counts (the
// errors test and the error limit; its request times were not kept), the
// deciding look on everything, its samples included; a look after it was
// never taken. So a stricter policy can turn a promote into an abort, at
// the step's end or at an earlier look, and a looser one can let a step
// that aborted run on, which replay can say but not follow: what came after
// was never measured.
package replay

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/gate"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/judge"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
)

// Judgment is one recorded step, then and now.
type Judgment struct {
	// Step is the step as recorded, its verdict the one given then; its
	// looks and samples are dropped once judged.
	Step history.ReleaseStep
	// Now is what the current policy decides, at look Look of the step: the
	// one that decided then, or an earlier one it would abort at.
	Now  policy.Decision
	Look int
	// Unjudged says why the step could not be judged again (it was
	// recorded before the judge kept its evidence); Now is then empty.
	Unjudged string
}

// Changed reports whether the verdict now differs from the one then.
func (j Judgment) Changed() bool { return j.Unjudged == "" && j.Now.Verdict != j.Step.Verdict }

// Judge re-judges one recorded step under eng.
func Judge(ctx context.Context, eng *policy.Engine, rec history.ReleaseStep) (Judgment, error) {
	out := Judgment{Step: rec}
	out.Step.Looks, out.Step.CanarySample, out.Step.StableSample = nil, nil, nil
	if rec.Evidence == nil || len(rec.Looks) == 0 || rec.StepSeconds <= 0 || rec.CanarySample == nil || rec.StableSample == nil {
		out.Unjudged = "recorded without the looks and samples a re-judgment needs"
		return out, nil
	}
	settings, err := judge.SettingsFrom(eng.Thresholds(policy.Release))
	if err != nil {
		return out, err
	}
	// The request times were kept as measured then, after that step's
	// warm-up: today's warm-up cannot measure them again.
	settings.Warmup = seconds(rec.Evidence.Latency.WarmupSeconds)
	step, err := judge.NewStep(settings, seconds(rec.StepSeconds))
	if err != nil {
		return out, err
	}
	last := len(rec.Looks) - 1
	for i, l := range rec.Looks {
		canary := judge.Build{Requests: l.Canary.Requests, Errors: l.Canary.Errors}
		stable := judge.Build{Requests: l.Stable.Requests, Errors: l.Stable.Errors}
		input := gate.ReleaseStep{WindowSeconds: gate.Number(math.Round(100*l.Seconds) / 100), Weight: rec.Weight, Step: rec.Step, Steps: rec.Steps,
			Extensions: min(rec.Extension, int(l.Seconds/rec.StepSeconds)),
			Canary:     counted(l.Canary.Requests, l.Canary.Errors), Stable: counted(l.Stable.Requests, l.Stable.Errors)}
		if i == last {
			canary.LatenciesMs, stable.LatenciesMs = rec.CanarySample.Expand(), rec.StableSample.Expand()
			input.Final, input.Extensions, input.WindowSeconds = rec.Final, rec.Extension, gate.Number(rec.WindowSeconds)
			input.Canary, input.Stable = recorded(rec.Canary, rec.CanaryApp), recorded(rec.Stable, rec.StableApp)
		}
		if input.Evidence, err = step.Look(seconds(l.Seconds), canary, stable); err != nil {
			return out, fmt.Errorf("step %d, look %d: %w", rec.Step, i+1, err)
		}
		d, err := gate.Ask(ctx, eng, policy.Release, input)
		if err != nil {
			return out, fmt.Errorf("step %d, look %d: %w", rec.Step, i+1, err)
		}
		if i == last || d.Verdict == policy.VerdictAbort {
			out.Now, out.Look = d, i+1
			return out, nil
		}
	}
	return out, nil
}

// counted is a build at a look before the deciding one: its counts (its
// request times were not kept, and nothing before a step's end reads its
// P99).
func counted(requests, errors int64) gate.Build {
	f := gate.Figures{Requests: gate.Number(requests)}
	if requests > 0 {
		f.ErrorRatePercent = gate.Number(100 * float64(errors) / float64(requests))
	}
	return gate.Build{Figures: f}
}

// recorded is a build at the deciding look, as history has it.
func recorded(nginx history.BuildFigures, app *history.BuildFigures) gate.Build {
	b := gate.Build{Figures: gate.Figures{Requests: gate.Number(nginx.Requests), ErrorRatePercent: gate.Number(nginx.ErrorRatePercent), P99Ms: gate.Number(nginx.P99Ms)}}
	if app != nil {
		b.App = &gate.Figures{Requests: gate.Number(app.Requests), ErrorRatePercent: gate.Number(app.ErrorRatePercent), P99Ms: gate.Number(app.P99Ms)}
	}
	return b
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Release is one recorded release: how it ended then, and each of its
// steps, then and now.
type Release struct {
	Started time.Time
	// Event is the release's last event: its end, or its start when the
	// history has no end (unfinished).
	Event history.ReleaseEvent
	Steps []Judgment
	// MoreSteps counts the steps past maxSteps, not kept.
	MoreSteps int
}

// maxSteps bounds the steps kept per release, so that memory stays flat.
const maxSteps = 200

// Now is how the release would end under the current policy: aborted at
// the first step a look of which aborts now, else as then. The second
// result says a step that aborted then would have run on now: what came
// after it was never measured.
func (r Release) Now() (j *Judgment, ranOn bool) {
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.Unjudged != "" {
			continue
		}
		if s.Now.Verdict == policy.VerdictAbort {
			return s, false
		}
		if s.Step.Verdict == policy.VerdictAbort {
			return s, true
		}
	}
	return nil, false
}

// Totals count what a replay went through.
type Totals struct {
	Releases, Steps, Changed, Unjudged int
	Skipped                            int // malformed history lines
}

// Run reads a history from r and re-judges every release step in it under
// eng, calling each with every release once its end is read (or the
// history ends), in history order.
func Run(ctx context.Context, r io.Reader, eng *policy.Engine, each func(Release) error) (Totals, error) {
	var t Totals
	var cur *Release
	flush := func() error {
		if cur == nil {
			return nil
		}
		t.Releases++
		done := *cur
		cur = nil
		return each(done)
	}
	reader := history.NewReader(r)
	var dec history.Decoder
	for {
		raw, ok := reader.NextRaw()
		if !ok {
			break
		}
		switch raw.Event {
		case history.EventRelease:
			var e history.ReleaseEvent
			if err := dec.Decode(raw, &e); err != nil {
				continue
			}
			if e.Result == history.ReleaseStarted {
				if err := flush(); err != nil {
					return t, err
				}
				cur = &Release{Started: raw.Timestamp, Event: e}
				continue
			}
			if cur == nil {
				cur = &Release{Started: raw.Timestamp}
			}
			cur.Event = e
			if err := flush(); err != nil {
				return t, err
			}
		case history.EventReleaseStep:
			var rec history.ReleaseStep
			if err := dec.Decode(raw, &rec); err != nil {
				continue
			}
			j, err := Judge(ctx, eng, rec)
			if err != nil {
				return t, err
			}
			t.Steps++
			if j.Unjudged != "" {
				t.Unjudged++
			} else if j.Changed() {
				t.Changed++
			}
			if cur == nil {
				cur = &Release{Started: raw.Timestamp, Event: history.ReleaseEvent{Result: history.ReleaseStarted}}
			}
			if len(cur.Steps) == maxSteps {
				cur.MoreSteps++
				continue
			}
			cur.Steps = append(cur.Steps, j)
		}
	}
	if err := reader.Err(); err != nil {
		return t, err
	}
	t.Skipped = reader.SkippedCount()
	return t, flush()
}
