package stack

import (
	"context"
	"fmt"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/host"
)

// Setup makes this host ready to run the stack, doing only what is missing: a
// reachable Docker engine, the Compose v2 plugin, the app image built from
// service/ and the manifest's nginx image. Running it again on a ready host takes
// seconds. Package host says which steps the manifest needs and does each;
// Setup runs them in turn, prints each outcome and records the run in history.
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
	for _, step := range h.Steps(m) {
		t := time.Now()
		note, err := step.Do(ctx)
		if err != nil {
			s.Out.Fail("%s: %v", step.Name, err)
			return fmt.Errorf("setup: %s: %w", step.Name, err)
		}
		s.Out.OK("%s: %s (%.1fs)", step.Name, note, time.Since(t).Seconds())
	}
	s.Out.OK("host ready in %.1fs", time.Since(start).Seconds())
	return nil
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
