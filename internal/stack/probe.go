package stack

import (
	"context"
	"fmt"
	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/edge"
	"io"
	"net/http"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/wait"
)

// httpClient reaches app instances directly, not through nginx.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// withHealth fills in the health of an app instance that Docker cannot
// judge (its image has no healthcheck command): SwiftDeploy asks its health
// path directly, from outside, and a 2xx is healthy. Others are returned as
// they are.
func (s *Stack) withHealth(ctx context.Context, m *manifest.Manifest, i platform.Instance) platform.Instance {
	if i.Health != "" || !i.Running() || i.Reach == "" || (i.Role != platform.App && i.Role != platform.Canary) {
		return i
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	i.Health = "starting"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, instanceURL(i, m, m.Services.HealthPath), nil)
	if err != nil {
		return i
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return i
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		i.Health = "healthy"
	}
	return i
}

// render renders the generated files for m, with a release in progress
// when rel is not nil.
func (s *Stack) render(m *manifest.Manifest, rel *render.Release) ([]render.File, error) {
	opt := render.Options{Release: rel, Healthchecked: s.Healthchecked, Root: s.Root}
	if m.Edge != nil {
		e, err := edge.Open()
		if err != nil {
			return nil, err
		}
		opt.EdgeSockets = e.SocketDir(s.Project)
		if m.Runtime == manifest.RuntimeSwarm {
			// nginx runs beside the edge, on this node: it reaches it by a socket.
			// Without an engine (init alone), a placeholder: deploy
			// renders again, and runs only on a swarm manager.
			opt.EdgeNode = "this-engine-is-not-in-a-swarm"
			if st, err := docker.Swarm(context.Background()); err == nil && st.NodeID != "" {
				opt.EdgeNode = st.NodeID
			}
		}
	}
	return render.RenderWith(s.path(TemplatesDir), m, s.Project, opt)
}

// instanceURL is path on an app instance itself, by its address on the
// stack's network, not through nginx.
func instanceURL(i platform.Instance, m *manifest.Manifest, path string) string {
	host := i.Reach
	if host == "" {
		// On another swarm node: the request fails, naming why.
		host = "not-reachable-from-this-host.invalid"
	}
	return fmt.Sprintf("http://%s:%d%s", host, m.Services.Port, path)
}

// waitFor polls check every interval until it reports done, ctx ends, or it
// fails for good, showing progress for what.
func (s *Stack) waitFor(ctx context.Context, what string, interval time.Duration, check wait.Check) (time.Duration, error) {
	return wait.For(ctx, s.Out, what, interval, check)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
