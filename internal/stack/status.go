package stack

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/fatih/color"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/dashboard"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/gate"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
)

// StatusOptions chooses how status shows the stack.
type StatusOptions struct {
	Once     bool          // one refresh, then exit
	JSON     bool          // one JSON document per refresh, for scripts
	Interval time.Duration // between refreshes of the live dashboard
	Color    bool          // colour and screen clearing (a terminal)
	Out      io.Writer
}

// recentSample is how old a recorded scrape may be for status to measure its
// first window from it.
const recentSample = time.Minute

// firstWindowPause is how long a one-shot status waits for a second scrape when
// history holds no recent one to measure a window from.
const firstWindowPause = 2 * time.Second

// Status shows the stack: live, refreshed every Interval until ctx ends (Ctrl+C),
// or once. A stack that is down is shown as down. Each refresh is recorded.
func (s *Stack) Status(ctx context.Context, opt StatusOptions) error {
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	eng, policyErr := s.loadPolicies(m)
	prev, havePrev := s.sampleAged(0, recentSample)
	for {
		if r := s.releaseUnderWay(); r != nil {
			// A scrape through nginx would land on either build: each is
			// measured apart instead.
			if err := show(opt, s.releaseSnapshot(ctx, m, eng, policyErr, r)); err != nil {
				return err
			}
			havePrev = false
		} else if err := s.statusRefresh(ctx, opt, m, eng, policyErr, &prev, &havePrev); err != nil {
			return err
		}
		if opt.Once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opt.Interval):
		}
	}
}

// statusRefresh shows one refresh of a stack that runs one build, measured
// by scraping /metrics through nginx.
func (s *Stack) statusRefresh(ctx context.Context, opt StatusOptions, m *manifest.Manifest, eng *policy.Engine, policyErr error, prev *metrics.Sample, havePrev *bool) error {
	cur, scrapeErr := s.scrapeApp(ctx, m)
	if scrapeErr == nil && !*havePrev && opt.Once {
		// A window needs two scrapes: take the second one shortly after.
		*prev, *havePrev = cur, true
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(firstWindowPause):
		}
		cur, scrapeErr = s.scrapeApp(ctx, m)
	}
	snap := s.snapshot(ctx, m, eng, policyErr, *prev, *havePrev, cur, scrapeErr)
	if err := show(opt, snap); err != nil {
		return err
	}
	if scrapeErr == nil {
		*prev, *havePrev = cur, true
	}
	return nil
}

func show(opt StatusOptions, snap dashboard.Snapshot) error {
	if opt.JSON {
		doc, err := dashboard.JSON(snap)
		if err != nil {
			return err
		}
		_, err = opt.Out.Write(doc)
		return err
	}
	screen := dashboard.Text(snap, opt.Color)
	if !opt.Once {
		if opt.Color {
			screen = "\033[H\033[2J" + screen
		}
		screen += fmt.Sprintf("\nrefreshing every %s — Ctrl+C to quit\n", opt.Interval)
	}
	_, err := io.WriteString(opt.Out, screen)
	return err
}

// snapshot gathers one refresh: health through nginx, the metrics window, the
// containers, and every policy domain's decision on what was measured.
func (s *Stack) snapshot(ctx context.Context, m *manifest.Manifest, eng *policy.Engine, policyErr error,
	prev metrics.Sample, havePrev bool, cur metrics.Sample, scrapeErr error) dashboard.Snapshot {
	snap := dashboard.Snapshot{At: s.Now().UTC(), Project: s.Project, Chaos: "none", Change: s.changeUnderWay()}
	s.probeInto(ctx, m, &snap)
	var window *metrics.Window
	if scrapeErr == nil {
		snap.Chaos = chaosName(cur.Chaos)
		if havePrev {
			w := metrics.Compute(prev, cur)
			window = &w
			snap.Window = window
			if w.Seconds > 0 {
				snap.RequestsPerSecond = w.Requests / w.Seconds
			}
		}
		s.record(history.EventStatusScrape, statusRecord(snap, window, cur))
	} else if snap.Problem == "" {
		snap.Problem = "metrics: " + scrapeErr.Error()
	}
	if instances, err := s.Runtime(m).Instances(ctx, ""); err == nil {
		for _, i := range instances {
			snap.Containers = append(snap.Containers, dashboard.Container{Name: i.Name, Service: string(i.Role), State: i.State, Health: i.Health, StartedAt: i.StartedAt, Node: i.Node})
		}
	} else if snap.Problem == "" {
		snap.Problem = err.Error()
	}
	snap.Domains = s.statusDomains(ctx, m, eng, policyErr, snap, window)
	snap.Edge = s.edgeStatus(ctx, m)
	return snap
}

// statusDomains asks each domain what it would decide now. Status only shows the
// answers; it records the scrape, not these hypothetical decisions.
func (s *Stack) statusDomains(ctx context.Context, m *manifest.Manifest, eng *policy.Engine, policyErr error,
	snap dashboard.Snapshot, window *metrics.Window) []dashboard.Domain {
	names := []string{policy.Infrastructure, policy.Canary}
	domains := make([]dashboard.Domain, len(names))
	for i, name := range names {
		domains[i].Name = name
		if policyErr != nil {
			domains[i].Err = policyErr.Error()
			continue
		}
		var input any
		switch name {
		case policy.Infrastructure:
			in, err := infrastructureInput(ctx)
			if err != nil {
				domains[i].Err = err.Error()
				continue
			}
			input = in
		case policy.Canary:
			if window == nil {
				domains[i].Err = "no metrics window yet"
				continue
			}
			target := manifest.ModeStable
			if snap.Mode == manifest.ModeStable {
				target = manifest.ModeCanary
			}
			input = gate.FromWindow(*window, snap.Mode, target, "promote")
		}
		d, err := gate.Ask(ctx, eng, name, input)
		if err != nil {
			domains[i].Err = err.Error()
			continue
		}
		domains[i].Decision = &d
	}
	return domains
}

func chaosName(v float64) string {
	switch v {
	case 1:
		return "slow"
	case 2:
		return "error"
	}
	return "none"
}

// statusRecord is one refresh as history keeps it: with the raw sample, for
// a later promote to measure its window from.
func statusRecord(snap dashboard.Snapshot, w *metrics.Window, cur metrics.Sample) history.StatusScrape {
	sample := recorded(cur)
	rec := history.StatusScrape{Refresh: history.Refresh{Mode: snap.Mode, Chaos: snap.Chaos}, Sample: &sample}
	if w != nil {
		perSecond := round(snap.RequestsPerSecond, 2)
		rec.Window, rec.ReqPerSec = *w, &perSecond
	}
	return rec
}

// ParseStatusOptions reads the status target's flags: -once, -json and
// -interval (a Go duration such as 10s, or plain seconds).
func ParseStatusOptions(once, asJSON *bool, interval *string, out io.Writer) (StatusOptions, error) {
	opt := StatusOptions{Once: once != nil && *once, JSON: asJSON != nil && *asJSON, Interval: 5 * time.Second,
		Color: !color.NoColor, Out: out}
	if interval != nil {
		d, err := time.ParseDuration(*interval)
		if err != nil {
			secs, serr := strconv.ParseFloat(*interval, 64)
			if serr != nil {
				return opt, fmt.Errorf("%w: -interval %q is not a duration like 5s or 1m", fail.ErrInvalid, *interval)
			}
			d = time.Duration(secs * float64(time.Second))
		}
		if d < time.Second {
			return opt, fmt.Errorf("%w: -interval must be at least 1s, got %s", fail.ErrInvalid, d)
		}
		opt.Interval = d
	}
	if opt.JSON {
		opt.Color = false
	}
	return opt, nil
}

// releaseWindow is how much of nginx's release log status shows.
const releaseWindow = 10 * time.Second

// releaseTail bounds how much of the release log status reads.
const releaseTail = 32 << 20

// releaseSnapshot gathers one refresh during a release: the stable build's
// health (X-Canary: never), both builds side by side from nginx's release
// log over the last releaseWindow, the containers and the infrastructure
// policy.
func (s *Stack) releaseSnapshot(ctx context.Context, m *manifest.Manifest, eng *policy.Engine, policyErr error, r *change.Change) dashboard.Snapshot {
	snap := dashboard.Snapshot{At: s.Now().UTC(), Project: s.Project, Chaos: "none", Change: s.changeUnderWay()}
	// The probe goes to the stable build during a release.
	s.probeInto(ctx, m, &snap)
	rt := s.Runtime(m)
	instances, err := rt.Instances(ctx, "")
	if err != nil && snap.Problem == "" {
		snap.Problem = err.Error()
	}
	var canary []platform.Instance
	for _, i := range instances {
		snap.Containers = append(snap.Containers, dashboard.Container{Name: i.Name, Service: string(i.Role), State: i.State, Health: i.Health, StartedAt: i.StartedAt, Node: i.Node})
		if i.Role == platform.Canary {
			canary = append(canary, i)
		}
	}
	to := time.Now().Add(-releaseLogFlush)
	from := to.Add(-releaseWindow)
	path := s.path(render.ReleaseLog)
	w, err := readReleaseLog(path, max(0, fileSize(path)-releaseTail), from, to, addrSet(canary))
	if err != nil && snap.Problem == "" {
		snap.Problem = "release log: " + err.Error()
	}
	secs := releaseWindow.Seconds()
	view := &dashboard.Release{From: r.From.Build.Version, To: r.To.Build.Version, Phase: string(r.Phase), Step: r.Step + 1, Steps: len(r.Steps), Weight: r.Weight, WindowSeconds: secs}
	for _, b := range []struct {
		side  string
		build manifest.Build
		f     routelog.Figures
	}{{"stable", r.From.Build, w.Stable}, {"canary", r.To.Build, w.Canary}} {
		view.Builds = append(view.Builds, dashboard.Build{Side: b.side, Image: b.build.Image, Version: b.build.Version, Requests: b.f.Requests, SmokeRequests: b.f.Smoke,
			RequestsPerSecond: float64(b.f.Requests) / secs, ErrorRatePercent: b.f.ErrorRatePercent, P99Ms: b.f.P99Ms})
	}
	snap.Release = view
	snap.Window = &metrics.Window{Seconds: secs, Requests: float64(w.All.Requests), Errors: float64(w.All.Errors),
		ErrorRatePercent: w.All.ErrorRatePercent, P99Ms: w.All.P99Ms, NoTraffic: w.All.Requests == 0}
	snap.RequestsPerSecond = float64(w.All.Requests) / secs
	// Chaos during a release reaches the canary: ask it directly.
	for _, c := range canary {
		if smp, err := metrics.Scrape(ctx, httpClient, instanceURL(c, m, "/metrics"), s.Now()); err == nil && smp.Chaos != 0 {
			snap.Chaos = chaosName(smp.Chaos) + " (canary)"
		}
	}
	// Recorded without a raw sample: a later promote must not take a window
	// from a scrape that could have come from either build.
	perSecond := round(snap.RequestsPerSecond, 2)
	s.record(history.EventStatusScrape, history.StatusScrape{Refresh: history.Refresh{Mode: snap.Mode, Chaos: snap.Chaos, Window: *snap.Window},
		ReqPerSec: &perSecond, Release: releaseView(view)})
	snap.Domains = s.statusDomains(ctx, m, eng, policyErr, snap, snap.Window)
	return snap
}

// releaseView is status's view of a release as history keeps it.
func releaseView(v *dashboard.Release) *history.ReleaseView {
	rec := &history.ReleaseView{From: v.From, To: v.To, Phase: v.Phase, Step: v.Step, Steps: v.Steps, Weight: v.Weight, WindowSeconds: v.WindowSeconds}
	for _, b := range v.Builds {
		rec.Builds = append(rec.Builds, history.BuildView{Side: b.Side, Image: b.Image, Version: b.Version, Requests: b.Requests, SmokeRequests: b.SmokeRequests,
			RequestsPerSecond: b.RequestsPerSecond, ErrorRatePercent: b.ErrorRatePercent, P99Ms: b.P99Ms})
	}
	return rec
}

// probeInto probes the app's health path through nginx for status: up or
// why not, and the mode, version and uptime the app says, if it says them
// (the manifest's mode otherwise).
func (s *Stack) probeInto(ctx context.Context, m *manifest.Manifest, snap *dashboard.Snapshot) {
	p, err := s.router(m).Probe(ctx)
	if err != nil {
		snap.Problem = fmt.Sprintf("%s through nginx on port %d: %v", m.Services.HealthPath, m.Nginx.Port, err)
		return
	}
	h := p.Health
	snap.Up, snap.Mode, snap.Version, snap.UptimeSeconds = true, h.Mode, h.Version, h.UptimeSeconds
	if snap.Mode == "" {
		snap.Mode = m.Services.Mode
	}
}

// scrapeApp reads the app's /metrics: through nginx's admin listener when it
// runs one instance, or from each instance, added up, when it runs several
// (a request through nginx reaches one of them).
func (s *Stack) scrapeApp(ctx context.Context, m *manifest.Manifest) (metrics.Sample, error) {
	running, err := platform.Running(ctx, s.Runtime(m), platform.App)
	if err != nil || len(running) <= 1 {
		return metrics.Scrape(ctx, s.admin(m), router.URL("/metrics"), s.Now())
	}
	samples := make([]metrics.Sample, 0, len(running))
	for _, i := range running {
		if i.Reach == "" {
			return metrics.Sample{}, fmt.Errorf("%s runs on node %s, whose /metrics this host cannot read: the app's figures would be partial", i.Name, i.Node)
		}
		smp, err := metrics.Scrape(ctx, httpClient, instanceURL(i, m, "/metrics"), s.Now())
		if err != nil {
			return metrics.Sample{}, fmt.Errorf("%s: %w", i.Name, err)
		}
		samples = append(samples, smp)
	}
	return metrics.Sum(samples...), nil
}
