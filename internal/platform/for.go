package platform

import (
	"context"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Config is what a stack's runtime is called and where it finds the files
// generated for it.
type Config struct {
	// Project names the compose project and the swarm stack.
	Project string
	// Dir is the project folder, and ComposeFile the generated compose file
	// in it, which swarm deploys as its stack file; a
	// docker-compose.override.yml beside it is merged in.
	Dir, ComposeFile string
	// NginxConf is the nginx.conf nginx reads from this host: on swarm,
	// nginx runs as generated only once it has read the one on disk.
	NginxConf string
	// DeployedFile is where the swarm runtime records what it deployed
	// last, and NginxReadFile where the compose runtime notes which
	// nginx.conf the running nginx read.
	DeployedFile, NginxReadFile string
}

func (c Config) project() docker.Project {
	return docker.Project{Name: c.Project, Dir: c.Dir, File: c.ComposeFile}
}

// For is the runtime m names: compose on this host unless it says swarm. m
// may be nil (teardown works without a manifest): then instances carry no
// address, and no log volume is prepared.
func For(m *manifest.Manifest, c Config) Runtime {
	if m != nil && m.Runtime == manifest.RuntimeSwarm {
		return swarmFor(m, c)
	}
	rt := Compose{Project: c.project(), NginxConf: c.NginxConf, ReadFile: c.NginxReadFile}
	if m != nil {
		rt.Network, rt.LogVolume, rt.NginxImage, rt.AdminPort = m.Network.Name, m.Services.LogVolume, m.Nginx.Image, render.AdminPort(m)
	}
	return rt
}

// swarmFor is the swarm runtime of the stack; m may be nil, as in For.
func swarmFor(m *manifest.Manifest, c Config) Swarm {
	project := c.project()
	rt := Swarm{Stack: docker.Stack{Name: c.Project, Files: project.Files()}, Project: project,
		DeployedFile: c.DeployedFile, Reads: map[Role][]string{Nginx: {c.NginxConf}}}
	if m != nil {
		rt.Network, rt.LogVolume, rt.NginxImage, rt.AdminPort = m.Network.Name, m.Services.LogVolume, m.Nginx.Image, render.AdminPort(m)
		rt.Images = map[Role]string{App: m.Services.Image, Nginx: m.Nginx.Image, Resolver: render.ResolverImage}
	}
	return rt
}

// DownEverywhere removes the stack from every runtime of this engine it may
// have been left on, and returns what it removed. A swarm stack goes first,
// when this engine manages a swarm: the manifest (m, nil when there is none)
// runs it there, or it was left there when the manifest moved back to
// compose. Compose's labels then find whatever else is left, the log volume
// among them, without needing the compose file.
func DownEverywhere(ctx context.Context, m *manifest.Manifest, c Config) ([]string, error) {
	var removed []string
	if st, err := docker.Swarm(ctx); err == nil && st.Manager {
		gone, err := swarmFor(m, c).Down(ctx)
		if err != nil {
			return nil, err
		}
		removed = append(removed, gone...)
	}
	left, err := For(nil, c).Down(ctx)
	if err != nil {
		return nil, err
	}
	return append(removed, left...), nil
}

// RunsAs reads from the merged compose files (the override among them) how
// the stack runs role: its user, and whether its root filesystem is
// read-only. An image tried before a deploy is run the same way.
func RunsAs(ctx context.Context, c Config, role Role) (user string, readOnly bool, err error) {
	h, err := c.project().ServiceHardening(ctx, string(role))
	return h.User, h.ReadOnly, err
}
