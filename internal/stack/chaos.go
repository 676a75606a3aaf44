package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/lock"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
)

// ChaosRequest is what an operator asks of the canary's /chaos endpoint.
type ChaosRequest struct {
	Mode     string  // slow, error or recover
	Duration *string // seconds, for slow
	Rate     *string // 0..1, for error
}

// ask checks the request's shape and reads its figure: what is posted to
// /chaos and recorded in history. The service itself enforces the ranges (its
// answer names the problem).
func (r ChaosRequest) ask() (history.Chaos, error) {
	number := func(name string, v *string) (*float64, error) {
		if v == nil {
			return nil, fmt.Errorf("%w: chaos %s needs -%s=N", fail.ErrInvalid, r.Mode, name)
		}
		n, err := strconv.ParseFloat(*v, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: chaos %s: %s must be a number, got %q", fail.ErrInvalid, r.Mode, name, *v)
		}
		return &n, nil
	}
	ask := history.Chaos{Mode: r.Mode}
	var err error
	switch r.Mode {
	case "slow":
		if r.Rate != nil {
			return ask, fmt.Errorf("%w: chaos slow takes -duration, not -rate", fail.ErrInvalid)
		}
		ask.Duration, err = number("duration", r.Duration)
		return ask, err
	case "error":
		if r.Duration != nil {
			return ask, fmt.Errorf("%w: chaos error takes -rate, not -duration", fail.ErrInvalid)
		}
		ask.Rate, err = number("rate", r.Rate)
		return ask, err
	case "recover":
		if r.Rate != nil || r.Duration != nil {
			return ask, fmt.Errorf("%w: chaos recover takes no value", fail.ErrInvalid)
		}
		return ask, nil
	}
	return ask, fmt.Errorf("%w: unknown chaos mode %q: use slow, error or recover", fail.ErrInvalid, r.Mode)
}

// body is the JSON the service's /chaos reads for ask.
func body(ask history.Chaos) map[string]any {
	b := map[string]any{"mode": ask.Mode}
	if ask.Duration != nil {
		b["duration"] = *ask.Duration
	}
	if ask.Rate != nil {
		b["rate"] = *ask.Rate
	}
	return b
}

// Chaos posts r to /chaos through nginx and records the injection.
func (s *Stack) Chaos(ctx context.Context, r ChaosRequest) error {
	// During a release the deploy holds the lock for minutes, and chaos is
	// how an operator proves that its gates work: it goes to the canary build
	// alone, which changes nothing the release relies on.
	if s.releaseUnderWay() != nil {
		if _, held := lock.Held(s.Root, s.path(lockInfo)); held {
			return s.chaos(ctx, r, true)
		}
	}
	return s.exclusive(ctx, "chaos "+r.Mode, func() error { return s.chaos(ctx, r, false) })
}

// chaosTarget is one place chaos is posted to, and the client that
// reaches it.
type chaosTarget struct {
	url    string
	client *http.Client
}

// chaosTargets are where chaos is posted: nginx's admin listener when the
// app runs one instance; each instance itself when it runs several (swarm
// replicas), since nginx would hand the request to one of them; during a
// release the canary build's instance, whatever share nginx gives it yet.
// The second result names the instances this host cannot reach (on other
// swarm nodes).
func (s *Stack) chaosTargets(ctx context.Context, m *manifest.Manifest, toCanary bool) ([]chaosTarget, []string, error) {
	role := platform.App
	if toCanary {
		if err := engine(ctx); err != nil {
			return nil, nil, err
		}
		role = platform.Canary
	}
	instances, err := s.Runtime(m).Instances(ctx, role)
	if err != nil && toCanary {
		return nil, nil, err
	}
	var targets []chaosTarget
	var unreachable []string
	running := 0
	for _, i := range instances {
		if !i.Running() {
			continue
		}
		running++
		if i.Reach == "" {
			unreachable = append(unreachable, i.Name+" on "+i.Node)
			continue
		}
		targets = append(targets, chaosTarget{instanceURL(i, m, "/chaos"), httpClient})
	}
	switch {
	case toCanary && len(targets) == 0:
		return nil, nil, errors.New("chaos: a release is under way but its canary is not running yet: try again in a few seconds")
	case !toCanary && running <= 1:
		return []chaosTarget{{router.URL("/chaos"), s.admin(m)}}, nil, nil
	}
	return targets, unreachable, nil
}

func (s *Stack) chaos(ctx context.Context, r ChaosRequest, toCanary bool) (err error) {
	event, err := r.ask()
	if toCanary {
		event.Target = "release canary"
	}
	defer func() {
		event.Result = resultOf(err)
		if err != nil {
			event.Error = err.Error()
		}
		s.record(history.EventChaos, event)
	}()
	if err != nil {
		return err
	}
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	targets, unreachable, err := s.chaosTargets(ctx, m, toCanary)
	if err != nil {
		return err
	}
	if toCanary {
		s.Out.Info("a release is under way: chaos goes to its canary build")
	}
	if len(targets) > 1 || len(unreachable) > 0 {
		reached := len(targets)
		event.Instances = &reached
		s.Out.Info("the app runs %d instances: chaos goes to each one this host reaches (%d)", len(targets)+len(unreachable), len(targets))
	}
	payload, _ := json.Marshal(body(event)) // a map of strings and numbers always marshals
	for _, t := range targets {
		if err := s.postChaos(ctx, r, t, payload); err != nil {
			return err
		}
	}
	if len(unreachable) > 0 {
		return fmt.Errorf("chaos reached %d instance(s), but not %s: this host cannot reach tasks on other swarm nodes", len(targets), strings.Join(unreachable, ", "))
	}
	return nil
}

// postChaos posts one chaos request and turns the answer into an error
// and an exit code.
func (s *Stack) postChaos(ctx context.Context, r ChaosRequest, t chaosTarget, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("chaos: the stack's nginx does not answer on its admin listener (is it deployed?): %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var parsed struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(answer, &parsed) // the raw text is shown when it is not JSON
	reason := parsed.Error
	if reason == "" {
		reason = truncate(string(bytes.TrimSpace(answer)), 200)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		s.Out.OK("chaos %s injected: %s", r.Mode, bytes.TrimSpace(answer))
		return nil
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: chaos refused: %s (run `promote canary` first)", fail.ErrInvalid, reason)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return fmt.Errorf("%w: chaos refused (HTTP %d): %s", fail.ErrInvalid, resp.StatusCode, reason)
	default:
		return fmt.Errorf("chaos: HTTP %d from the stack: %s", resp.StatusCode, reason)
	}
}
