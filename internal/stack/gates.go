package stack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/gate"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/host"
	"github.com/swiftdeploy/swiftdeploy/internal/hoststats"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
)

// loadPolicies compiles the policies with the manifest's overrides; they
// fail closed.
func (s *Stack) loadPolicies(m *manifest.Manifest) (*policy.Engine, error) {
	return gate.Load(s.path(PoliciesDir), m.Policy)
}

// gate asks the policies on the stack's behalf, printing to its output and
// recording in its history.
func (s *Stack) gate(eng *policy.Engine) gate.Gate {
	return gate.Gate{Engine: eng, Record: s.record, Out: s.Out}
}

// infrastructureInput measures the host as the infrastructure policy reads it.
func infrastructureInput(ctx context.Context) (gate.Infrastructure, error) {
	root, err := host.DataRoot(ctx)
	if err != nil {
		return gate.Infrastructure{}, err
	}
	stats, err := hoststats.Measure(root)
	if err != nil {
		return gate.Infrastructure{}, fmt.Errorf("measure the host: %w", err)
	}
	return gate.FromHost(stats), nil
}

// gateDeploy asks the infrastructure policy whether this host may take a deploy.
// When the policy says the only problem is transient (a CPU load spike, say from
// the build that just finished), it is measured and asked again, with progress,
// for as long as the decision allows.
func (s *Stack) gateDeploy(ctx context.Context, m *manifest.Manifest) error {
	eng, err := s.loadPolicies(m)
	if err != nil {
		return err
	}
	g := s.gate(eng)
	ask := func(ctx context.Context) (policy.Decision, error) {
		input, err := infrastructureInput(ctx)
		if err != nil {
			return policy.Decision{}, err
		}
		return g.Decide(ctx, policy.Infrastructure, "deploy", input)
	}
	d, err := ask(ctx)
	if err != nil {
		return err
	}
	if !d.Allow && d.RetrySeconds > 0 {
		g.Print(d)
		settle, cancel := context.WithTimeout(ctx, time.Duration(d.RetrySeconds*float64(time.Second)))
		defer cancel()
		what := fmt.Sprintf("the host to settle (the policy allows re-asking for %.0fs)", d.RetrySeconds)
		_, _ = s.waitFor(settle, what, 5*time.Second, func(ctx context.Context) (bool, string, error) {
			next, err := ask(ctx)
			if err != nil {
				return false, "", err
			}
			d = next
			return d.Allow || d.RetrySeconds <= 0, gate.Summary(d), nil
		})
	}
	g.Print(d)
	if !d.Allow {
		s.record(history.EventDeployBlocked, gate.Blocked(d))
		return gate.Denial("deploy", d)
	}
	return nil
}

// gateSwitch asks the canary-safety policy whether the app may switch from one
// mode to another, measuring the service over the policy's window.
func (s *Stack) gateSwitch(ctx context.Context, m *manifest.Manifest, from, to, action string) (policy.Decision, error) {
	eng, err := s.loadPolicies(m)
	if err != nil {
		return policy.Decision{}, err
	}
	length := gate.WindowLength(eng)
	var window metrics.Window
	// Instances that cannot be listed: the measurement below says why.
	if apps, _ := platform.Running(ctx, s.Runtime(m), platform.App); len(apps) > 1 {
		// One scrape through nginx reaches one instance: the service as
		// a whole is what clients saw at nginx.
		s.Out.Info("the app runs %d instances: measuring the last %s from nginx's access log, which sees them all", len(apps), length)
		err = errSeveralInstances
	} else {
		window, err = s.measureWindow(ctx, m, length)
	}
	if errors.Is(err, errSeveralInstances) || (err != nil && !hasMetrics(ctx, s, m)) {
		// An app without /metrics is measured as clients saw it, from
		// nginx's access log over the same window.
		if !errors.Is(err, errSeveralInstances) {
			s.Out.Info("the app has no /metrics (%v): measuring the last %s from nginx's access log", err, length)
		}
		window, err = s.nginxWindow(ctx, s.Runtime(m), m, length)
		if err == nil {
			s.Out.Info("window %.0fs (nginx's access log): %.0f requests, error rate %.2f%%, P99 %.1f ms", window.Seconds, window.Requests, window.ErrorRatePercent, window.P99Ms)
		}
	}
	if err != nil {
		return policy.Decision{}, fmt.Errorf("measure the service before %s (fail closed): %w", action, err)
	}
	g := s.gate(eng)
	d, err := g.Decide(ctx, policy.Canary, action, gate.FromWindow(window, from, to, action))
	if err != nil {
		return d, err
	}
	g.Print(d)
	if !d.Allow {
		blocked := gate.Blocked(d)
		blocked.From, blocked.To, blocked.Action = from, to, action
		s.record(history.EventPromoteBlocked, blocked)
		return d, gate.Denial(action+" "+to, d)
	}
	return d, nil
}

// windowSlack is how much longer than configured a reused window may be: half
// the length, at most 5 s. A sample twice as old would still hold traffic from
// before, say, a chaos recover, and deny a promote that the last window would
// allow; status records a sample every 5 s, so with the shipped 30 s window one
// always falls in the slack while it runs.
func windowSlack(length time.Duration) time.Duration {
	return min(length/2, 5*time.Second)
}

// measureWindow returns the service's window of the given length ending now:
// from a sample recorded in history length ago (up to windowSlack more) when
// there is one, or else by scraping /metrics through nginx now and again after
// length, with a visible countdown. Every scrape is recorded so that a later command can reuse it.
func (s *Stack) measureWindow(ctx context.Context, m *manifest.Manifest, length time.Duration) (metrics.Window, error) {
	url := router.URL("/metrics")
	first, reused := s.sampleAged(length, length+windowSlack(length))
	if !reused {
		var err error
		if first, err = metrics.Scrape(ctx, s.admin(m), url, s.Now()); err != nil {
			return metrics.Window{}, err
		}
		s.recordSample(first)
		what := fmt.Sprintf("measuring error rate and P99 over %s", length)
		deadline := time.Now().Add(length)
		if _, err := s.waitFor(ctx, what, time.Second, func(context.Context) (bool, string, error) {
			left := time.Until(deadline)
			return left <= 0, fmt.Sprintf("(%ds left)", int(left.Seconds()+0.999)), nil
		}); err != nil {
			return metrics.Window{}, err
		}
	}
	second, err := metrics.Scrape(ctx, s.admin(m), url, s.Now())
	if err != nil {
		return metrics.Window{}, err
	}
	s.recordSample(second)
	w := metrics.Compute(first, second)
	source := "measured now"
	if reused {
		source = "from a sample recorded at " + first.At.UTC().Format(time.TimeOnly)
	}
	s.Out.Info("window %.0fs (%s): %.0f requests, error rate %.2f%%, P99 %.1f ms", w.Seconds, source, w.Requests, w.ErrorRatePercent, w.P99Ms)
	return w, nil
}

// errSeveralInstances says that one /metrics scrape cannot measure an app
// that runs several instances.
var errSeveralInstances = errors.New("the app runs several instances")

// hasMetrics reports whether the running app answers /metrics in Prometheus
// text, asking one instance directly: a scrape through nginx that failed
// because the app is down must still fail closed.
func hasMetrics(ctx context.Context, s *Stack, m *manifest.Manifest) bool {
	apps, err := s.Runtime(m).Instances(ctx, platform.App)
	if err != nil {
		return true
	}
	for _, a := range apps {
		if a.Running() && a.Reach != "" {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := metrics.Scrape(sctx, httpClient, instanceURL(a, m, "/metrics"), time.Now())
			timedOut := sctx.Err() != nil
			cancel()
			if err == nil {
				return true
			}
			// Answering, but not with metrics: the app has none.
			if !timedOut && !isUnreachable(err) {
				return false
			}
		}
	}
	return true
}

// isUnreachable reports whether err is a failure to reach the app at all.
func isUnreachable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "no route to host") || strings.Contains(msg, "timeout")
}
