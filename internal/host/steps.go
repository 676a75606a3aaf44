package host

import (
	"context"

	"github.com/swiftdeploy/swiftdeploy/internal/edge"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Step is one thing setup makes sure of: its name, and how.
type Step struct {
	Name string
	Do   func(context.Context) (string, error)
}

// Steps are what this host needs to run m, in order: an engine that
// answers, with live-restore as m's runtime needs, the Compose plugin, the app, resolver, edge renewer and nginx images, and for
// runtime: swarm, this engine's part as a swarm manager. Which runtime needs
// what of the host is known here, so that the command ordering them need not.
func (h *Host) Steps(m *manifest.Manifest) []Step {
	steps := []Step{
		{"Docker engine", func(ctx context.Context) (string, error) { return h.Engine(ctx, m.Runtime == manifest.RuntimeSwarm) }},
		{"Docker Compose v2 plugin", h.Compose},
		{"app image " + m.Services.Image, func(ctx context.Context) (string, error) { return h.AppImage(ctx, m.Services.Image) }},
		{"resolver image " + render.ResolverImage, h.ResolverImage},
		{"renewer image " + edge.RenewerImage, h.RenewerImage},
		{"nginx image " + m.Nginx.Image, func(ctx context.Context) (string, error) { return h.NginxImage(ctx, m.Nginx.Image) }},
	}
	if m.Runtime == manifest.RuntimeSwarm {
		steps = append(steps, Step{"Docker Swarm manager", h.Swarm})
	}
	return steps
}
