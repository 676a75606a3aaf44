package router

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Health is the body of SwiftDeploy's own GET /healthz; other apps answer
// what they like, and its fields stay empty.
type Health struct {
	Status        string  `json:"status"`
	Mode          string  `json:"mode"`
	Version       string  `json:"version"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// Probed is what a probe of the app's health path through nginx found: the
// address of the instance that answered, and the health body when the app
// answers SwiftDeploy's JSON (empty fields otherwise).
type Probed struct {
	Upstream string // the instance's address, without its port
	Health   Health
}

// Describe is "mode stable, version 1.0.0" when the app says so, else "".
func (p Probed) Describe() string {
	var parts []string
	if p.Health.Mode != "" {
		parts = append(parts, "mode "+p.Health.Mode)
	}
	if p.Health.Version != "" {
		parts = append(parts, "version "+p.Health.Version)
	}
	return strings.Join(parts, ", ")
}

// Probe asks the probe location of nginx's admin listener, which passes the
// request to the app's health path: healthy is a 2xx, and a JSON body saying
// a status other than "ok" (SwiftDeploy's own health format) is unhealthy.
// Any other body is fine: an app owes SwiftDeploy nothing but the 2xx.
func (r *Router) Probe(ctx context.Context) (Probed, error) {
	return r.probe(ctx, render.ProbePath)
}

// ProbeRouted is Probe through the pool clients' requests go to (the
// weighted lines, a canary's share included) instead of the stable one.
func (r *Router) ProbeRouted(ctx context.Context) (Probed, error) {
	return r.probe(ctx, render.RoutedProbePath)
}

func (r *Router) probe(ctx context.Context, path string) (Probed, error) {
	var p Probed
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, URL(path), nil)
	if err != nil {
		return p, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return p, err
	}
	if resp.StatusCode/100 != 2 {
		return p, fmt.Errorf("%s answered HTTP %d: %s", r.healthPath, resp.StatusCode, truncate(string(body), 120))
	}
	p.Upstream = lastAddress(resp.Header.Get(render.UpstreamHeader))
	if json.Unmarshal(body, &p.Health) == nil && p.Health.Status != "" && p.Health.Status != "ok" {
		return p, fmt.Errorf("%s says status %q", r.healthPath, p.Health.Status)
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
