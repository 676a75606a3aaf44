// Package router steers nginx for the change engine, in deployment words:
// which instances of the app nginx may send requests to (pins, answered by
// the stack's resolver), which routing its workers use (a release's weight,
// or steady), and whether nginx really does what it was told (answers
// through its admin listener, by the address of the instance that gave
// them). It is the only code that knows nginx's admin wire names (the probe
// and routing paths, the upstream header, the pin file): the change engine
// speaks Pin, Follow, Confirm and Route.
package router

import (
	"context"
	"net/http"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Nginx is what the router needs from the runtime that runs nginx: a
// graceful reread of its generated configuration, and where this host
// reaches its admin listener (platform.Runtime has both).
type Nginx interface {
	Reroute(ctx context.Context) error
	AdminAddr(ctx context.Context) (string, error)
}

// resolveMargin covers a DNS answer that was on its way to nginx when the
// new app joined the network.
const resolveMargin = 250 * time.Millisecond

// DefaultFollow is how long nginx may take to follow a new pin of the app's
// addresses: the resolver's answers live render.ResolverStaleness.
const DefaultFollow = render.ResolverStaleness + resolveMargin

// Router steers one stack's nginx.
type Router struct {
	nginx Nginx
	// pins is the resolver's pin file (render.PinsFile under the project).
	pins string
	// follow is how long nginx may take to follow a pin.
	follow time.Duration
	// healthPath is the app's services.health_path, for messages.
	healthPath string
	client     *http.Client
}

// New returns the router of the nginx that nginx runs, whose resolver reads
// pins from the file pins; follow is how long nginx takes to follow a pin
// (DefaultFollow), healthPath the path the probe passes to the app.
func New(nginx Nginx, pins string, follow time.Duration, healthPath string) *Router {
	return &Router{nginx: nginx, pins: pins, follow: follow, healthPath: healthPath, client: adminClient(nginx.AdminAddr)}
}

// Client is the HTTP client that reaches nginx's admin listener (URLs from
// URL), where SwiftDeploy's probes, /metrics scrapes and chaos go.
func (r *Router) Client() *http.Client { return r.client }

// FollowTime is how long nginx may take to follow a pin.
func (r *Router) FollowTime() time.Duration { return r.follow }
