package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/wait"
)

// appHost is the name nginx resolves for the app (the compose service).
const appHost = "app"

// pinSettle covers the resolver noticing a new pin file: it checks every
// 100 ms.
const pinSettle = 250 * time.Millisecond

// Pin makes the stack's resolver answer nginx's questions for the app with
// exactly the addresses of apps, whatever the runtime's DNS says: nginx
// never sends a request to an instance that is not pinned once it has
// followed (Follow).
func (r *Router) Pin(apps []platform.Instance) error {
	var addrs []string
	for _, a := range apps {
		if a.Addr == "" {
			return fmt.Errorf("the app %s has no address on the stack's network", a.Name)
		}
		addrs = append(addrs, a.Addr)
	}
	slices.Sort(addrs)
	data, err := json.Marshal(map[string][]string{appHost: addrs})
	if err != nil {
		return err
	}
	if err := atomicfile.Write(r.pins, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("pin the app's addresses: %w", err)
	}
	time.Sleep(pinSettle)
	return nil
}

// Unpin lets the resolver pass nginx's questions on to the runtime's DNS
// again. Unpinned already is fine.
func (r *Router) Unpin() error {
	if err := os.Remove(r.pins); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unpin the app's addresses: %w", err)
	}
	return nil
}

// Follow waits until every nginx worker must have asked the resolver again
// since the last pin.
func (r *Router) Follow(ctx context.Context) { wait.Sleep(ctx, r.follow) }

// MoveTo pins the app's name to apps, waits until every nginx worker must
// use them, then confirms it through nginx: answers from want only.
func (r *Router) MoveTo(ctx context.Context, apps []platform.Instance, want Expect) error {
	if err := r.Pin(apps); err != nil {
		return err
	}
	r.Follow(ctx)
	return r.Confirm(ctx, apps, want)
}

// Expect is the app a probe through nginx must answer from: a mode, and a
// version unless it is empty.
type Expect struct{ Mode, Version string }

// Serving is what the app m describes says when it answers.
func Serving(m *manifest.Manifest) Expect {
	return Expect{Mode: m.Services.Mode, Version: m.Services.Version}
}

func (e Expect) String() string {
	if e.Version == "" {
		return e.Mode
	}
	return e.Mode + " " + e.Version
}

// answers reports whether h can come from the expected app: an app that
// says its mode and version (SwiftDeploy's health JSON) must say these; one
// that does not is judged by its address alone.
func (e Expect) answers(h Health) bool {
	return (h.Mode == "" || h.Mode == e.Mode) && (e.Version == "" || h.Version == "" || h.Version == e.Version)
}

// confirmAnswers is how many answers in a row must come from the expected
// app before an old one may go: nginx spreads requests over its workers and
// the pool, so one answer proves little.
const confirmAnswers = 10

// Confirm checks that nginx has moved where the pin says before anything is
// stopped: the probe through nginx must be answered by one of apps (by
// address), healthy and, when the app says its mode and version, as want,
// confirmAnswers times in a row within a few seconds. A pin that did not
// take (the resolver down, a pin file it cannot read) is caught here, while
// the old app still serves.
func (r *Router) Confirm(ctx context.Context, apps []platform.Instance, want Expect) error {
	ctx, cancel := context.WithTimeout(ctx, max(2*r.follow, 2*time.Second))
	defer cancel()
	addrs := map[string]bool{}
	for _, a := range apps {
		addrs[a.Addr] = true
	}
	inRow := 0
	var last string
	for inRow < confirmAnswers {
		p, err := r.Probe(ctx)
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("nginx did not move to the %s app: %d answers in a row from it, then %s", want, inRow, last)
		case err != nil:
			inRow, last = 0, err.Error()
		case !addrs[p.Upstream]:
			inRow, last = 0, "an answer from "+p.Upstream
		case !want.answers(p.Health):
			inRow, last = 0, fmt.Sprintf("an answer from the %s %s app", p.Health.Mode, p.Health.Version)
		default:
			inRow++
		}
		wait.Sleep(ctx, 20*time.Millisecond)
	}
	return nil
}

// routeLimit bounds how long nginx may take to read a new configuration.
const routeLimit = 10 * time.Second

// Route has nginx read its generated configuration again, gracefully, and
// waits until its routing answers routing confirmAnswers times in a row:
// new connections then reach the new workers only, and the old ones finish
// the requests they hold.
func (r *Router) Route(ctx context.Context, routing string) error {
	if err := r.nginx.Reroute(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, routeLimit)
	defer cancel()
	inRow := 0
	last := "no answer yet"
	for inRow < confirmAnswers {
		got, err := r.Routing(ctx)
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("nginx did not take the new routing (%s) within %s: %s", routing, routeLimit, last)
		case err != nil:
			inRow, last = 0, err.Error()
		case got != routing:
			inRow, last = 0, "it still routes "+got
		default:
			inRow++
		}
		wait.Sleep(ctx, 20*time.Millisecond)
	}
	return nil
}

// What Problem finds.
const (
	ResolverDown     = "the stack's resolver is not running"
	ResolverReplaced = "the stack's resolver was replaced after nginx started"
)

// Problem says why nginx could not follow a pin, "" when it can: the
// resolver is not running, or it started after nginx, which looks its
// address up when it starts and may hold an old one.
func Problem(ctx context.Context, rt platform.Runtime, nginx platform.Instance) (string, error) {
	resolvers, err := rt.Instances(ctx, platform.Resolver)
	if err != nil {
		return "", err
	}
	switch {
	case len(resolvers) == 0 || !resolvers[0].Running():
		return ResolverDown, nil
	case resolvers[0].StartedAt.After(nginx.StartedAt):
		return ResolverReplaced, nil
	}
	return "", nil
}
