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
	// Beside: the step needs nothing the others make, and none of them
	// needs what it makes, so setup may run it beside them rather than in
	// turn. Building the Compose plugin on a bare host is a minute and a
	// half of compiling, while the engine's install and the nginx image's
	// debootstrap mostly wait on packages.
	Beside bool
}

// Steps are what this host needs to run m, in order: an engine that
// answers, with live-restore as m's runtime needs, the Compose plugin, the app, resolver, edge renewer and nginx images, and for
// runtime: swarm, this engine's part as a swarm manager. Which runtime needs
// what of the host is known here, so that the command ordering them need not.
func (h *Host) Steps(m *manifest.Manifest) []Step {
	steps := []Step{
		{Name: "Docker engine", Do: func(ctx context.Context) (string, error) { return h.Engine(ctx, m.Runtime == manifest.RuntimeSwarm) }},
		{Name: "Docker Compose v2 plugin", Do: h.Compose, Beside: true},
		{Name: "app image " + m.Services.Image, Do: func(ctx context.Context) (string, error) { return h.AppImage(ctx, m.Services.Image) }},
		{Name: "resolver image " + render.ResolverImage, Do: h.ResolverImage},
		{Name: "renewer image " + edge.RenewerImage, Do: h.RenewerImage},
		{Name: "nginx image " + m.Nginx.Image, Do: func(ctx context.Context) (string, error) { return h.NginxImage(ctx, m.Nginx.Image) }},
	}
	if m.Runtime == manifest.RuntimeSwarm {
		steps = append(steps, Step{Name: "Docker Swarm manager", Do: h.Swarm})
	}
	return steps
}
