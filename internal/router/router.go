// Package router steers nginx for the change engine, in deployment words,
// and never reloads it: which instances of the app nginx may send requests
// to (pins), which share the canary of a release gets (Route), both
// answered by the stack's resolver from its routes file, and whether nginx
// really does what it was told (the resolver's served file, and answers
// through nginx's admin listener, by the address of the instance that gave
// them). It is the only code that knows those wire names (the probe path,
// the upstream header, the routes and served files): the change engine
// speaks Pin, Follow, Confirm and Route.
package router

import (
	"context"
	"net/http"
	"path/filepath"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Nginx is what the router needs from the runtime that runs nginx: where
// this host reaches its admin listener (platform.Runtime has it).
type Nginx interface {
	AdminAddr(ctx context.Context) (string, error)
}

// Files are the files through which the router steers nginx, all under
// the project (render names them): the resolver's routes file and the
// served file it writes back, the marker that has nginx record each
// request, and the log it records them in.
type Files struct{ Routes, Served, Recording, Log string }

// FilesIn are the router's files of the project at root.
func FilesIn(root string) Files {
	return Files{Routes: filepath.Join(root, render.RoutesFile), Served: filepath.Join(root, render.ServedFile),
		Recording: filepath.Join(root, render.Recording), Log: filepath.Join(root, render.ReleaseLog)}
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
	files Files
	// follow is how long nginx may take to follow a pin.
	follow time.Duration
	// healthPath is the app's services.health_path, for messages.
	healthPath string
	client     *http.Client
}

// New returns the router of the nginx that nginx runs, steered through
// files; follow is how long nginx takes to follow a pin (DefaultFollow),
// healthPath the path the probe passes to the app.
func New(nginx Nginx, files Files, follow time.Duration, healthPath string) *Router {
	return &Router{nginx: nginx, files: files, follow: follow, healthPath: healthPath, client: adminClient(nginx.AdminAddr)}
}

// Client is the HTTP client that reaches nginx's admin listener (URLs from
// URL), where SwiftDeploy's probes, /metrics scrapes and chaos go.
func (r *Router) Client() *http.Client { return r.client }

// FollowTime is how long nginx may take to follow a pin.
func (r *Router) FollowTime() time.Duration { return r.follow }
