package stack

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/host"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// Setup makes this host ready to run the stack, doing only what is missing: a
// reachable Docker engine, the Compose v2 plugin, the app image built from
// service/ and the manifest's nginx image. Running it again on a ready host takes
// seconds. Package host says which steps the manifest needs and does each;
// Setup runs them in turn (the Compose plugin's build beside the rest), prints
// each outcome and records the run in history.
func (s *Stack) Setup(ctx context.Context) (err error) {
	start := time.Now()
	defer func() {
		event := history.Setup{Result: resultOf(err), ElapsedSeconds: round(time.Since(start).Seconds(), 1)}
		if err != nil {
			event.Error = err.Error()
		}
		s.record(history.EventSetup, event)
	}()
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	h := &host.Host{Root: s.Root, Out: s.Out}
	if err := runSteps(ctx, s.Out, h.Steps(m)); err != nil {
		return err
	}
	s.Out.OK("host ready in %.1fs", time.Since(start).Seconds())
	return nil
}

// runSteps runs the steps that may run beside the others (host.Step.Beside)
// at once, each on its own, and the rest in turn meanwhile; it prints each
// outcome as it comes and returns the first failure (named by its step),
// once every step it started has returned: a failed step cancels those
// still running beside it, so that setup leaves no build running behind it.
func runSteps(ctx context.Context, out *ui.Printer, steps []host.Step) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopped atomic.Bool // a step failed, and cancel stopped the rest
	stop := func() { stopped.Store(true); cancel() }
	do := func(step host.Step) error {
		t := time.Now()
		note, err := step.Do(ctx)
		if err != nil {
			if stopped.Load() {
				out.Warn("%s: stopped, since another step failed", step.Name)
			} else {
				out.Fail("%s: %v", step.Name, err)
			}
			return fmt.Errorf("setup: %s: %w", step.Name, err)
		}
		out.OK("%s: %s (%.1fs)", step.Name, note, time.Since(t).Seconds())
		return nil
	}
	var beside []chan error
	for _, step := range steps {
		if step.Beside {
			done := make(chan error, 1)
			go func() { done <- do(step) }()
			beside = append(beside, done)
		}
	}
	var first error
	for _, step := range steps {
		if !step.Beside {
			if first = do(step); first != nil {
				stop()
				break
			}
		}
	}
	for _, done := range beside {
		if err := <-done; err != nil && first == nil {
			first = err
			stop()
		}
	}
	return first
}

// PeerProxies installs what the benchmark beside peer proxies runs next to
// the stack (HAProxy, Caddy and a minimal nginx from the distribution's
// packages), with their services held during the install and not running
// afterwards. Only the bench target needs them, so setup does not install
// them.
func (s *Stack) PeerProxies(ctx context.Context) error {
	t := time.Now()
	h := &host.Host{Root: s.Root, Out: s.Out}
	note, err := h.PeerProxies(ctx)
	if err != nil {
		s.Out.Fail("peer proxies: %v", err)
		return fmt.Errorf("bench: peer proxies: %w", err)
	}
	s.Out.OK("peer proxies: %s (%.1fs)", note, time.Since(t).Seconds())
	return nil
}
