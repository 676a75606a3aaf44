package stack

import (
	"context"
	"fmt"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/host"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// setupStep is one thing setup makes sure of, and how.
type setupStep struct {
	name string
	do   func(context.Context) (string, error)
}

// Setup makes this host ready to run the stack, doing only what is missing: a
// reachable Docker engine, the Compose v2 plugin, the app image built from
// service/ and the manifest's nginx image. Running it again on a ready host takes
// seconds. Package host does each step; Setup orders them, prints each outcome
// and records the run in history.
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
	steps := []setupStep{
		{"Docker engine", h.Engine},
		{"Docker Compose v2 plugin", h.Compose},
		{"app image " + m.Services.Image, func(ctx context.Context) (string, error) { return h.AppImage(ctx, m.Services.Image) }},
		{"resolver image " + render.ResolverImage, h.ResolverImage},
		{"nginx image " + m.Nginx.Image, func(ctx context.Context) (string, error) { return h.NginxImage(ctx, m.Nginx.Image) }},
	}
	if m.Runtime == manifest.RuntimeSwarm {
		steps = append(steps, setupStep{"Docker Swarm manager", h.Swarm})
	}
	for _, step := range steps {
		t := time.Now()
		note, err := step.do(ctx)
		if err != nil {
			s.Out.Fail("%s: %v", step.name, err)
			return fmt.Errorf("setup: %s: %w", step.name, err)
		}
		s.Out.OK("%s: %s (%.1fs)", step.name, note, time.Since(t).Seconds())
	}
	s.Out.OK("host ready in %.1fs", time.Since(start).Seconds())
	return nil
}
