package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// probed is what SwiftDeploy's probe of the app's health path through nginx
// found: the address of the instance that answered, and the health body
// when the app answers SwiftDeploy's JSON (empty fields otherwise).
type probed struct {
	Upstream string // the instance's address, without its port
	Health   Health
}

// describe is "mode stable, version 1.0.0" when the app says so, else "".
func (p probed) describe() string {
	var parts []string
	if p.Health.Mode != "" {
		parts = append(parts, "mode "+p.Health.Mode)
	}
	if p.Health.Version != "" {
		parts = append(parts, "version "+p.Health.Version)
	}
	return strings.Join(parts, ", ")
}

// probeNginx asks the probe location of nginx's admin listener, which passes the request to the
// app's services.health_path: healthy is a 2xx, and a JSON body saying a
// status other than "ok" (SwiftDeploy's own health format) is unhealthy.
// Any other body is fine: an app owes SwiftDeploy nothing but the 2xx.
func probeNginx(ctx context.Context, admin *http.Client, m *manifest.Manifest) (probed, error) {
	var p probed
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL(render.ProbePath), nil)
	if err != nil {
		return p, err
	}
	resp, err := admin.Do(req)
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return p, err
	}
	if resp.StatusCode/100 != 2 {
		return p, fmt.Errorf("%s answered HTTP %d: %s", m.Services.HealthPath, resp.StatusCode, truncate(string(body), 120))
	}
	p.Upstream = lastAddress(resp.Header.Get(render.UpstreamHeader))
	if json.Unmarshal(body, &p.Health) == nil && p.Health.Status != "" && p.Health.Status != "ok" {
		return p, fmt.Errorf("%s says status %q", m.Services.HealthPath, p.Health.Status)
	}
	return p, nil
}

// lastAddress is the host of the last address in an $upstream_addr value
// ("172.20.0.3:3000, 172.20.0.4:3000" when nginx tried twice): the one that
// answered.
func lastAddress(upstream string) string {
	attempts := strings.Split(upstream, ",")
	last := strings.TrimSpace(attempts[len(attempts)-1])
	if host, _, err := net.SplitHostPort(last); err == nil {
		return host
	}
	return last
}

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
	return render.RenderWith(s.path(TemplatesDir), m, s.Project, render.Options{Release: rel, Healthchecked: s.Healthchecked, Root: s.Root})
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
