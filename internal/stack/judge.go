package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/gate"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/judge"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
	"github.com/swiftdeploy/swiftdeploy/internal/wait"
)

// logFlush covers nginx's buffered access log: it writes at least every
// second (flush=1s in nginx.conf).
var logFlush = 1100 * time.Millisecond

// releaseLogFlush covers nginx's buffered release log, flushed every 250 ms
// (nginx.conf) so that a look sees the last quarter second's requests.
var releaseLogFlush = 350 * time.Millisecond

// judgeTick is how often a step's watch wakes: to look when a look is due,
// and every aliveEvery to see that the canary still runs.
const (
	judgeTick  = 100 * time.Millisecond
	aliveEvery = 500 * time.Millisecond
)

// judgeStep holds the current step for step_seconds, looking at it every
// look_seconds: each look reads what nginx logged since the one before,
// computes the evidence (internal/judge) and asks the release policy. A look
// whose verdict is abort ends the step at once. At the step's end, once
// nginx's log holds its last requests, the final look promotes, holds (the
// step runs step_seconds longer, the requests already seen counting with
// the ones to come) or aborts. It returns the verdict, the reasons for
// anything but promote, and when nginx logged the canary's first failed
// request (zero if none). A canary that exits or turns unhealthy ends the
// step at once with an error.
func (rel *releaseRun) judgeStep(ctx context.Context) (string, []string, time.Time, error) {
	s, r := rel.s, rel.r
	length := time.Duration(rel.m.Rollout.StepSeconds) * time.Second
	if len(r.Canary) == 0 {
		return policy.VerdictAbort, nil, time.Time{}, errors.New("no canary was started")
	}
	c, err := rel.rt.Instance(ctx, r.Canary[0])
	if err == nil {
		err = rel.canaryAlive(ctx, c)
	}
	if err != nil {
		// It died while nginx moved to this step's weight: say what nginx saw
		// of it since.
		wait.Sleep(ctx, releaseLogFlush)
		w, _ := readReleaseLog(s.path(render.ReleaseLog), rel.stepOffset, rel.stepFrom, time.Now(), addrSet([]platform.Instance{c}))
		rel.sawDying(w)
		return policy.VerdictAbort, nil, w.FirstCanaryError, err
	}
	canary := []platform.Instance{c}
	stable, err := change.Instances(ctx, rel.rt, platform.App, r.Old)
	if err != nil {
		return policy.VerdictAbort, nil, time.Time{}, fmt.Errorf("the stable build is not running: %w", err)
	}
	st, err := judge.NewStep(rel.settings, length)
	if err != nil {
		return policy.VerdictAbort, nil, time.Time{}, err
	}
	log, err := openAtEnd(s.path(render.ReleaseLog))
	if err != nil {
		return policy.VerdictAbort, nil, time.Time{}, fmt.Errorf("read nginx's release log: %w", err)
	}
	defer log.Close()
	w := &stepWatch{rel: rel, step: st, log: log, from: time.Now(), length: length, canary: canary, stable: stable}
	w.tally = routelog.NewTally(w.from, addrSet(canary))
	// The step's first latency_warmup_seconds are judged on failures only:
	// nginx's request times, and each build's own view, are measured from
	// the warm-up's end.
	w.tally.TimedFrom(w.from.Add(st.Warmup()))
	w.scrapeAfterWarmup(ctx)
	deadline := w.from
	for extension := 0; ; extension++ {
		deadline = deadline.Add(length)
		w.extension = extension
		early, err := w.watch(ctx, canary[0], deadline)
		if err != nil {
			// What nginx logged of the step until now, not only until the
			// last look.
			wait.Sleep(ctx, releaseLogFlush)
			io.Copy(w.tally, log)
			win := w.tally.Window()
			rel.sawDying(win)
			return policy.VerdictAbort, nil, win.FirstCanaryError, err
		}
		if early != nil {
			w.report(early)
			return policy.VerdictAbort, reasonsOf(early.decision), early.window.FirstCanaryError, nil
		}
		// The step's end: each build's own view over the window, then
		// nginx's last lines of it.
		to := time.Now()
		apps := [2]*history.BuildFigures{rel.window(ctx, canary, w.canaryBefore), rel.window(ctx, stable, w.stableBefore)}
		wait.Sleep(ctx, releaseLogFlush)
		w.tally.Until(to)
		end, err := w.look(ctx, to, true, apps)
		if err != nil {
			return policy.VerdictAbort, nil, w.tally.Window().FirstCanaryError, err
		}
		w.report(end)
		switch end.decision.Verdict {
		case policy.VerdictPromote, policy.VerdictAbort:
			return end.decision.Verdict, reasonsOf(end.decision), end.window.FirstCanaryError, nil
		case policy.VerdictHold:
			w.tally.Until(time.Time{})
		default:
			// A release policy without a verdict fails closed.
			return policy.VerdictAbort, []string{"the release policy gave no verdict"}, end.window.FirstCanaryError, nil
		}
	}
}

// stepWatch is one step being judged: its evidence so far and nginx's log
// as read up to now.
type stepWatch struct {
	rel       *releaseRun
	step      *judge.Step
	log       *os.File
	tally     *routelog.Tally
	from      time.Time
	length    time.Duration
	extension int
	// canary and stable are the step's builds; canaryBefore and
	// stableBefore their /metrics at the warm-up's end (nil before it).
	canary, stable             []platform.Instance
	canaryBefore, stableBefore map[string]metrics.Sample
}

// scrapeAfterWarmup scrapes both builds' /metrics once the step's warm-up
// is over, for their own views of the step from then on.
func (w *stepWatch) scrapeAfterWarmup(ctx context.Context) {
	if w.canaryBefore != nil || time.Since(w.from) < w.step.Warmup() {
		return
	}
	w.canaryBefore, w.stableBefore = w.rel.scrape(ctx, w.canary), w.rel.scrape(ctx, w.stable)
}

// looked is one look's outcome.
type looked struct {
	at       time.Time
	final    bool
	window   routelog.Window
	input    gate.ReleaseStep
	decision policy.Decision
}

// watch looks at the step every look_seconds until deadline, checking
// every aliveEvery that the canary still runs. It returns the look that
// aborted, if one did before deadline; an error for a canary that failed,
// a rollback's request or a broken look.
func (w *stepWatch) watch(ctx context.Context, c platform.Instance, deadline time.Time) (*looked, error) {
	rel, r := w.rel, w.rel.r
	every := rel.settings.Look
	next := w.from.Add(every * time.Duration(1+int(time.Since(w.from)/every)))
	var alive time.Time
	var early *looked
	status := ""
	what := fmt.Sprintf("step %d at %d%%: looking at both builds every %s", r.Step+1, r.Weight, every)
	_, err := rel.s.waitFor(ctx, what, judgeTick, func(ctx context.Context) (bool, string, error) {
		if rel.abort() {
			return false, "", change.ErrAbortRequested
		}
		w.scrapeAfterWarmup(ctx)
		now := time.Now()
		if now.Sub(alive) >= aliveEvery {
			if err := rel.canaryAlive(ctx, c); err != nil {
				return false, "", err
			}
			alive = now
		}
		if !now.Before(deadline) {
			return true, "", nil
		}
		left := fmt.Sprintf("(%ds left", int(time.Until(deadline).Seconds()+0.999))
		if now.Before(next) {
			return false, left + status + ")", nil
		}
		for !next.After(now) {
			next = next.Add(every)
		}
		l, err := w.look(ctx, time.Time{}, false, [2]*history.BuildFigures{})
		if err != nil {
			return false, "", err
		}
		if l.decision.Verdict == policy.VerdictAbort {
			early = l
			return true, "", nil
		}
		status = fmt.Sprintf("; look %d: canary %d requests, %d failed", l.input.Evidence.Spending.Look, l.window.Canary.Requests, l.window.Canary.Errors)
		return false, left + status + ")", nil
	})
	return early, err
}

// look reads what nginx logged since the last look, computes the evidence
// and asks the release policy. The final look is as of at, the step's end;
// an early look is as of the end of its read (at is not used). A look
// before the step's end is asked without a record unless it aborts; then
// it is decided, recorded and open to break-glass, which lets the step run
// on. The final look carries both
// builds' own views (apps: canary, stable) and is always decided.
func (w *stepWatch) look(ctx context.Context, at time.Time, final bool, apps [2]*history.BuildFigures) (*looked, error) {
	rel, r := w.rel, w.rel.r
	if _, err := io.Copy(w.tally, w.log); err != nil {
		return nil, fmt.Errorf("read nginx's release log: %w", err)
	}
	if !final {
		// An early look's window is whatever nginx had logged by the end
		// of the read, requests logged while it read included: the look
		// is as of then, so that none of its evidence is later than it.
		at = time.Now()
	}
	win := w.tally.Window()
	elapsed := at.Sub(w.from)
	ev, err := w.step.Look(elapsed, evidenceOf(win.Canary), evidenceOf(win.Stable))
	if err != nil {
		return nil, fmt.Errorf("judge the step: %w", err)
	}
	input := gate.ReleaseStep{
		WindowSeconds: gate.Number(round(elapsed.Seconds(), 2)), Weight: r.Weight, Extensions: w.extension,
		Step: r.Step + 1, Steps: len(r.Steps), Final: final,
		Canary: gate.FromFigures(win.Canary, apps[0]), Stable: gate.FromFigures(win.Stable, apps[1]),
		Evidence: ev,
	}
	g := rel.s.gate(rel.eng)
	var d policy.Decision
	if !final {
		if d, err = gate.Ask(ctx, rel.eng, policy.Release, input); err == nil && d.Verdict == policy.VerdictAbort {
			d, err = g.Decide(ctx, policy.Release, "release", input)
			if err == nil && d.Overridden {
				d.Verdict = policy.VerdictHold // break-glass: the step runs on
			}
		}
	} else {
		d, err = g.Decide(ctx, policy.Release, "release", input)
	}
	if err != nil {
		return nil, err
	}
	return &looked{at: at, final: final, window: win, input: input, decision: d}, nil
}

// report prints a deciding look and records the step's judgment with what
// a later re-judgment needs.
func (w *stepWatch) report(l *looked) {
	s, win, ev := w.rel.s, l.window, l.input.Evidence
	when := "at the step's end"
	if !l.final {
		when = fmt.Sprintf("at look %d, %.1fs into the step", ev.Spending.Look, l.at.Sub(w.from).Seconds())
	}
	s.Out.Info("%s: canary %s, %d failed (%.2f%%), P99 %.1f ms; stable %s, %d failed (%.2f%%), P99 %.1f ms (nginx's view)",
		when, requestCount(win.Canary), win.Canary.Errors, win.Canary.ErrorRatePercent, win.Canary.P99Ms,
		requestCount(win.Stable), win.Stable.Errors, win.Stable.ErrorRatePercent, win.Stable.P99Ms)
	s.gate(w.rel.eng).Print(l.decision)
	rec := stepRecord(w.rel.r, w.extension, l.decision, win, l.input)
	rec.StepSeconds = w.length.Seconds()
	rec.Looks = w.step.Looks()
	rec.CanarySample, rec.StableSample = latencySample(win.Canary.Latencies), latencySample(win.Stable.Latencies)
	if !win.FirstCanaryError.IsZero() && l.decision.Verdict == policy.VerdictAbort {
		rec.FirstBadToVerdict = round(l.at.Sub(win.FirstCanaryError).Seconds(), 2)
		s.Out.Info("%.1fs from the canary's first failed request to this verdict", rec.FirstBadToVerdict)
	}
	s.record(history.EventReleaseStep, history.Fields(rec))
}

func latencySample(ms []float64) *judge.Sample {
	sample := judge.SampleOf(ms)
	return &sample
}

// evidenceOf is a build as the judge reads it.
func evidenceOf(f routelog.Figures) judge.Build {
	return judge.Build{Requests: int64(f.Requests), Errors: int64(f.Errors), LatenciesMs: f.Latencies}
}

// openAtEnd opens nginx's release log where it ends now: a step reads only
// what nginx writes from then on. A log not there yet reads as empty until
// it is.
func openAtEnd(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Prepare creates it before the canary starts; an empty stand-in
		// keeps a step reading nothing rather than failing.
		return os.Open(os.DevNull)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sawDying says what nginx logged of the canary in a step cut short.
func (rel *releaseRun) sawDying(w routelog.Window) {
	rel.s.Out.Info("the canary's share so far: %d requests, %d failed as clients saw them at nginx (retried on stable where nginx could)", w.Canary.Requests, w.Canary.Errors)
}

// canaryAlive fails when the canary exited or turned unhealthy.
// A canary without Docker's healthcheck is probed by SwiftDeploy: this many
// failed probes in a row mean it stopped answering.
const probeFailures = 3

func (rel *releaseRun) canaryAlive(ctx context.Context, c platform.Instance) error {
	got, err := rel.rt.Instance(ctx, c.ID)
	if err == nil && got.Health == "" && got.Running() {
		if got = rel.s.withHealth(ctx, rel.m, got); got.Health == "healthy" {
			rel.failedProbes = 0
		} else if rel.failedProbes++; rel.failedProbes >= probeFailures {
			got.Health = "unhealthy"
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("the canary %s disappeared: %v", c.Name, err)
	case !got.Running():
		return fmt.Errorf("the canary %s stopped (%s, exit code %d)", c.Name, got.State, got.ExitCode)
	case got.Health == "unhealthy":
		return fmt.Errorf("the canary %s stopped answering its health check", c.Name)
	}
	return nil
}

// scrape reads each instance's /metrics directly (not through nginx, which
// may answer from either build); an instance without them is left out.
func (rel *releaseRun) scrape(ctx context.Context, instances []platform.Instance) map[string]metrics.Sample {
	out := map[string]metrics.Sample{}
	for _, i := range instances {
		if i.Reach == "" {
			continue
		}
		url := instanceURL(i, rel.m, "/metrics")
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		smp, err := metrics.Scrape(sctx, httpClient, url, time.Now())
		cancel()
		if err == nil {
			out[i.ID] = smp
		}
	}
	return out
}

// window is a build's own view over the step from its instances' /metrics,
// each instance against its own earlier scrape; nil when none has them.
func (rel *releaseRun) window(ctx context.Context, instances []platform.Instance, before map[string]metrics.Sample) *history.BuildFigures {
	after := rel.scrape(ctx, instances)
	var sum *history.BuildFigures
	for id, b := range before {
		a, ok := after[id]
		if !ok {
			continue
		}
		w := metrics.Compute(b, a)
		if sum == nil {
			sum = &history.BuildFigures{}
		}
		errs := sum.ErrorRatePercent*sum.Requests/100 + w.Errors
		sum.Requests += w.Requests
		if sum.Requests > 0 {
			sum.ErrorRatePercent = 100 * errs / sum.Requests
		}
		sum.P99Ms = max(sum.P99Ms, w.P99Ms)
	}
	return sum
}

func stepRecord(r *change.Change, extension int, d policy.Decision, w routelog.Window, input gate.ReleaseStep) history.ReleaseStep {
	ev := input.Evidence
	rec := history.ReleaseStep{Step: r.Step + 1, Steps: len(r.Steps), Weight: r.Weight, Extension: extension,
		WindowSeconds: float64(input.WindowSeconds), Final: input.Final, Verdict: d.Verdict, Reasons: reasonsOf(d), Notes: d.Notes,
		Canary: buildFigures(w.Canary), Stable: buildFigures(w.Stable), Evidence: &ev}
	rec.CanaryApp = appFigures(input.Canary.App)
	rec.StableApp = appFigures(input.Stable.App)
	return rec
}

func buildFigures(f routelog.Figures) history.BuildFigures {
	return history.BuildFigures{Requests: float64(f.Requests), SmokeRequests: f.Smoke, ErrorRatePercent: round(f.ErrorRatePercent, 3), P99Ms: round(f.P99Ms, 2)}
}

func appFigures(app *gate.Figures) *history.BuildFigures {
	if app == nil {
		return nil
	}
	return &history.BuildFigures{Requests: float64(app.Requests),
		ErrorRatePercent: round(float64(app.ErrorRatePercent), 3), P99Ms: round(float64(app.P99Ms), 2)}
}

func reasonsOf(d policy.Decision) []string {
	var out []string
	for _, v := range d.Violations {
		out = append(out, v.Message)
	}
	return out
}

func addrSet(instances []platform.Instance) routelog.Side {
	addrs := map[string]bool{}
	for _, i := range instances {
		addrs[i.Addr] = true
	}
	return func(addr string) bool { return addrs[addr] }
}

// readReleaseLog measures both builds over [from, to) from the release log,
// reading from offset on.
func readReleaseLog(path string, offset int64, from, to time.Time, isCanary routelog.Side) (routelog.Window, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return routelog.Window{From: from, To: to}, nil
	}
	if err != nil {
		return routelog.Window{}, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return routelog.Window{}, err
	}
	return routelog.Read(f, from, to, isCanary)
}

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}
