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
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
	"github.com/swiftdeploy/swiftdeploy/internal/wait"
)

// logFlush covers nginx's buffered release log: it writes at least every
// second (flush=1s in nginx.conf).
var logFlush = 1100 * time.Millisecond

// judgeStep holds the current step for step_seconds while watching the
// canary, then asks the release policy about the window; an inconclusive
// step is measured again as the policy allows. It returns the verdict, the
// reasons for anything but promote, and when nginx logged the canary's first
// failed request (zero if none). A canary that exits or turns unhealthy ends
// the step at once with an error.
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
		wait.Sleep(ctx, logFlush)
		w, _ := readReleaseLog(s.path(render.ReleaseLog), rel.stepOffset, rel.stepFrom, time.Now(), addrSet([]platform.Instance{c}))
		rel.sawDying(w)
		return policy.VerdictAbort, nil, w.FirstCanaryError, err
	}
	canary := []platform.Instance{c}
	stable, err := change.Instances(ctx, rel.rt, platform.App, r.Old)
	if err != nil {
		return policy.VerdictAbort, nil, time.Time{}, fmt.Errorf("the stable build is not running: %w", err)
	}
	// An extension lengthens the step's window: the requests already seen
	// count with the ones to come.
	offset := fileSize(s.path(render.ReleaseLog))
	from := time.Now()
	canaryBefore, stableBefore := rel.scrape(ctx, canary), rel.scrape(ctx, stable)
	deadline := from
	for extension := 0; ; extension++ {
		deadline = deadline.Add(length)
		what := fmt.Sprintf("step %d at %d%%: measuring both builds", r.Step+1, r.Weight)
		_, watchErr := s.waitFor(ctx, what, 500*time.Millisecond, func(ctx context.Context) (bool, string, error) {
			if rel.abort() {
				return false, "", change.ErrAbortRequested
			}
			if err := rel.canaryAlive(ctx, canary[0]); err != nil {
				return false, "", err
			}
			left := time.Until(deadline)
			return left <= 0, fmt.Sprintf("(%ds left)", int(left.Seconds()+0.999)), nil
		})
		to := time.Now()
		canaryApp, stableApp := rel.window(ctx, canary, canaryBefore), rel.window(ctx, stable, stableBefore)
		wait.Sleep(ctx, logFlush)
		w, err := readReleaseLog(s.path(render.ReleaseLog), offset, from, to, addrSet(canary))
		if err != nil {
			return policy.VerdictAbort, nil, time.Time{}, fmt.Errorf("read nginx's release log: %w", err)
		}
		if watchErr != nil {
			rel.sawDying(w)
			return policy.VerdictAbort, nil, w.FirstCanaryError, watchErr
		}
		input := gate.ReleaseStep{
			WindowSeconds: gate.Number(round(to.Sub(from).Seconds(), 2)), Weight: r.Weight, Extensions: extension,
			Step: r.Step + 1, Steps: len(r.Steps),
			Canary: gate.FromFigures(w.Canary, canaryApp),
			Stable: gate.FromFigures(w.Stable, stableApp),
		}
		d, err := s.gate(rel.eng).Decide(ctx, policy.Release, "release", input)
		if err != nil {
			return policy.VerdictAbort, nil, w.FirstCanaryError, err
		}
		s.Out.Info("canary: %s, error rate %.2f%%, P99 %.1f ms; stable: %s, error rate %.2f%%, P99 %.1f ms (nginx's view)",
			requestCount(w.Canary), w.Canary.ErrorRatePercent, w.Canary.P99Ms, requestCount(w.Stable), w.Stable.ErrorRatePercent, w.Stable.P99Ms)
		s.gate(rel.eng).Print(d)
		s.record(history.EventReleaseStep, history.Fields(stepRecord(r, extension, d, w, input)))
		switch d.Verdict {
		case policy.VerdictPromote, policy.VerdictAbort:
			return d.Verdict, reasonsOf(d), w.FirstCanaryError, nil
		case policy.VerdictHold:
		default:
			// A release policy without a verdict fails closed.
			return policy.VerdictAbort, []string{"the release policy gave no verdict"}, w.FirstCanaryError, nil
		}
	}
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
	rec := history.ReleaseStep{Step: r.Step + 1, Steps: len(r.Steps), Weight: r.Weight, Extension: extension,
		WindowSeconds: w.To.Sub(w.From).Seconds(), Verdict: d.Verdict, Reasons: reasonsOf(d),
		Canary: buildFigures(w.Canary), Stable: buildFigures(w.Stable)}
	rec.WindowSeconds = round(rec.WindowSeconds, 2)
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
