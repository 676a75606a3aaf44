package stack

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/hoststats"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
)

// loadPolicies compiles the policies with the manifest's overrides. Any failure
// here stops the action: the policies fail closed.
func (s *Stack) loadPolicies(m *manifest.Manifest) (*policy.Engine, error) {
	eng, err := policy.Load(s.path(PoliciesDir), m.Policy)
	if err != nil {
		return nil, fmt.Errorf("policy engine unavailable, refusing to act (fail closed): %w", err)
	}
	return eng, nil
}

// infrastructureInput measures the host as the infrastructure policy reads it.
func infrastructureInput(ctx context.Context) (map[string]any, error) {
	root, err := docker.DataRoot(ctx)
	if err != nil {
		return nil, err
	}
	stats, err := hoststats.Measure(root)
	if err != nil {
		return nil, fmt.Errorf("measure the host: %w", err)
	}
	return stats.Input(), nil
}

// gateDeploy asks the infrastructure policy whether this host may take a deploy.
func (s *Stack) gateDeploy(ctx context.Context, m *manifest.Manifest) error {
	eng, err := s.loadPolicies(m)
	if err != nil {
		return err
	}
	input, err := infrastructureInput(ctx)
	if err != nil {
		return err
	}
	d, err := s.decide(ctx, eng, policy.Infrastructure, "deploy", input)
	if err != nil {
		return err
	}
	if !d.Allow {
		s.record("deploy_blocked", map[string]any{"domain": d.Domain, "violations": d.Violations})
		return denial("deploy", d)
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
	window, err := s.measureWindow(ctx, m, windowLength(eng))
	if err != nil {
		return policy.Decision{}, fmt.Errorf("measure the service before %s (fail closed): %w", action, err)
	}
	input := window.Input()
	input["current_mode"], input["target_mode"], input["action"] = from, to, action
	d, err := s.decide(ctx, eng, policy.Canary, action, input)
	if err != nil {
		return d, err
	}
	if !d.Allow {
		s.record("promote_blocked", map[string]any{"from": from, "to": to, "action": action, "domain": d.Domain, "violations": d.Violations})
		return d, denial(action+" "+to, d)
	}
	return d, nil
}

// decide asks one domain, applies a break-glass override when the operator set
// one, prints the outcome and records the decision with its input.
func (s *Stack) decide(ctx context.Context, eng *policy.Engine, domain, action string, input map[string]any) (policy.Decision, error) {
	d, err := eng.Decide(ctx, domain, input)
	if err != nil {
		s.record("policy_decision", map[string]any{"domain": domain, "action": action, "input": input, "error": err.Error()})
		return d, fmt.Errorf("%s: policy %s failed, refusing to act (fail closed): %w", action, domain, err)
	}
	if reason := strings.TrimSpace(os.Getenv(policy.BreakGlassEnv)); reason != "" && !d.Allow {
		d = policy.BreakGlass(d, reason)
		s.Out.Warn("BREAK-GLASS: %s=%q overrides the %s policy's denial of %s", policy.BreakGlassEnv, reason, domain, action)
	}
	s.record("policy_decision", map[string]any{"domain": domain, "action": action, "input": input, "decision": d, "overridden": d.Overridden})
	s.printDecision(d)
	return d, nil
}

func (s *Stack) printDecision(d policy.Decision) {
	if d.Allow && len(d.Violations) == 0 {
		s.Out.OK("policy %s: PASS", d.Domain)
	} else if d.Allow {
		s.Out.Warn("policy %s: PASS by override (%s)", d.Domain, d.OverrideReason)
	} else {
		s.Out.Fail("policy %s: FAIL", d.Domain)
	}
	for _, v := range d.Violations {
		s.Out.Info("✘ %s: %s", v.Rule, v.Message)
	}
	for _, n := range d.Notes {
		s.Out.Info("• %s", n)
	}
}

// denial is the error for a denied action: every violated rule, exit code 3.
func denial(action string, d policy.Decision) error {
	msgs := make([]string, len(d.Violations))
	for i, v := range d.Violations {
		msgs[i] = v.Message
	}
	return fmt.Errorf("%w: %s blocked by the %s policy: %s (nothing was changed)", fail.ErrDenied, action, d.Domain, strings.Join(msgs, "; "))
}

// windowLength is the canary policy's measuring window.
func windowLength(eng *policy.Engine) time.Duration {
	if v, ok := eng.Thresholds(policy.Canary)["window_seconds"].(float64); ok && v > 0 {
		return time.Duration(v * float64(time.Second))
	}
	return 30 * time.Second
}

// measureWindow scrapes /metrics through nginx twice, length apart, with a
// visible countdown, and returns the window between the two scrapes. Both
// scrapes are recorded so that a later command can reuse them.
func (s *Stack) measureWindow(ctx context.Context, m *manifest.Manifest, length time.Duration) (metrics.Window, error) {
	url := nginxURL(m, "/metrics")
	first, err := metrics.Scrape(ctx, httpClient, url, s.Now())
	if err != nil {
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
	second, err := metrics.Scrape(ctx, httpClient, url, s.Now())
	if err != nil {
		return metrics.Window{}, err
	}
	s.recordSample(second)
	w := metrics.Compute(first, second)
	s.Out.Info("window %.0fs: %.0f requests, error rate %.2f%%, P99 %.1f ms", w.Seconds, w.Requests, w.ErrorRatePercent, w.P99Ms)
	return w, nil
}

func (s *Stack) recordSample(smp metrics.Sample) {
	s.record("metrics_sample", sampleFields(smp))
}

func sampleFields(smp metrics.Sample) map[string]any {
	// JSON has no infinity, so bucket bounds are written as Prometheus writes le.
	buckets := make([][2]any, len(smp.Buckets))
	for i, b := range smp.Buckets {
		buckets[i] = [2]any{strconv.FormatFloat(b.UpperBound, 'g', -1, 64), b.Count}
	}
	return map[string]any{
		"at": smp.At.UTC().Format(time.RFC3339Nano), "requests": smp.Requests, "errors": smp.Errors,
		"buckets": buckets, "uptime_seconds": smp.UptimeSeconds, "mode": smp.Mode, "chaos": smp.Chaos,
	}
}
