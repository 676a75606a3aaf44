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
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/wait"
)

// appHost is the name nginx resolves for the app (the compose service).
const appHost = "app"

// pinSettle covers the resolver noticing a new pin file: it checks every
// 100 ms.
const pinSettle = 250 * time.Millisecond

// routes is the resolver's routes file (see resolver/): the app's pinned
// addresses, and the canary release under way. Every write has a new
// generation, told apart from every earlier one (the time it was written):
// the resolver's served file says which generation nginx asked for.
type routes struct {
	Generation int64               `json:"generation"`
	Pins       map[string][]string `json:"pins,omitempty"`
	Canary     *canary             `json:"canary,omitempty"`
}

type canary struct {
	Weight int `json:"weight"`
}

func (r *Router) readRoutes() (routes, error) {
	var rt routes
	data, err := os.ReadFile(r.files.Routes)
	if errors.Is(err, fs.ErrNotExist) {
		return rt, nil
	}
	if err != nil {
		return rt, err
	}
	if err := json.Unmarshal(data, &rt); err != nil {
		return rt, fmt.Errorf("%s: %w", r.files.Routes, err)
	}
	return rt, nil
}

// change rewrites the routes file with edit applied, under a new
// generation, which it returns.
func (r *Router) change(edit func(*routes)) (int64, error) {
	rt, err := r.readRoutes()
	if err != nil {
		return 0, err
	}
	edit(&rt)
	rt.Generation = max(time.Now().UnixNano(), rt.Generation+1)
	data, err := json.Marshal(rt)
	if err != nil {
		return 0, err
	}
	if err := atomicfile.Write(r.files.Routes, append(data, '\n'), 0o644); err != nil {
		return 0, err
	}
	return rt.Generation, nil
}

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
	if _, err := r.change(func(rt *routes) { rt.Pins = map[string][]string{appHost: addrs} }); err != nil {
		return fmt.Errorf("pin the app's addresses: %w", err)
	}
	time.Sleep(pinSettle)
	return nil
}

// Unpin lets the resolver pass nginx's questions on to the runtime's DNS
// again. Unpinned already is fine.
func (r *Router) Unpin() error {
	rt, err := r.readRoutes()
	if err == nil && rt.Pins == nil {
		return nil
	}
	if _, err := r.change(func(rt *routes) { rt.Pins = nil }); err != nil {
		return fmt.Errorf("unpin the app's addresses: %w", err)
	}
	return nil
}

// Reset forgets every pin and any release: nginx follows what the
// runtime's DNS says, and records no request. For a stack with no change
// under way (deploy, teardown).
func (r *Router) Reset() error {
	for _, f := range []string{r.files.Routes, r.files.Recording} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reset nginx's routing: %w", err)
		}
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

// Confirm checks that nginx has moved where the pin and the routes say
// before anything is stopped: probes through nginx, both through the stable
// pool and through the weighted one clients' requests go to, must be
// answered by one of apps (by address), healthy and, when the app says its
// mode and version, as want, confirmAnswers times in a row within a few
// seconds. A pin or a weight that did not take (the resolver down, a routes
// file it cannot read) is caught here, while the old app still serves; and
// after a release, nginx's weighted pool is seen sending the canary nothing
// before the canary goes.
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
		problem := ""
		for _, probe := range []func(context.Context) (Probed, error){r.Probe, r.ProbeRouted} {
			p, err := probe(ctx)
			switch {
			case err != nil:
				problem = err.Error()
			case !addrs[p.Upstream]:
				problem = "an answer from " + p.Upstream
			case !want.answers(p.Health):
				problem = fmt.Sprintf("an answer from the %s %s app", p.Health.Mode, p.Health.Version)
			}
			if problem != "" {
				break
			}
		}
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("nginx did not move to the %s app: %d answers in a row from it, then %s", want, inRow, last)
		case problem != "":
			inRow, last = 0, problem
		default:
			inRow++
		}
		wait.Sleep(ctx, 20*time.Millisecond)
	}
	return nil
}

// routeLimit bounds how long nginx may take to route by a new weight.
const routeLimit = 10 * time.Second

// Route gives the canary of rel its weight in nginx's app upstream (nil:
// no release, every request to the stable build), with no reload: the
// resolver answers the upstream's weighted lines by it, and Route waits
// until the resolver has answered nginx's questions for both lines from it
// twice. nginx asks a line again one second after it applied an answer, so
// the second question proves that nginx routes by the first; connections
// already open stay where they are.
func (r *Router) Route(ctx context.Context, rel *render.Release) error {
	return r.route(ctx, rel, nil)
}

// RouteConfirmed is Route, then Confirm of the instances apps lists
// answering as want (none: nothing to confirm), with Confirm's probes
// started as soon as nginx has had the new routing's first answers for
// both lines (it applies an answer as it gets it) instead of after the
// second questions that prove it: the two proofs overlap, and an abort's
// canary is seen to get nothing half a second sooner. apps is asked then
// too, so that listing them (a question to the runtime) delays nothing.
func (r *Router) RouteConfirmed(ctx context.Context, rel *render.Release, want Expect, apps func(context.Context) []platform.Instance) error {
	return r.route(ctx, rel, func(ctx context.Context) error {
		if list := apps(ctx); len(list) > 0 {
			return r.Confirm(ctx, list, want)
		}
		return nil
	})
}

func (r *Router) route(ctx context.Context, rel *render.Release, confirm func(context.Context) error) error {
	gen, err := r.change(func(rt *routes) {
		rt.Canary = nil
		if rel != nil {
			rt.Canary = &canary{Weight: rel.Weight}
		}
	})
	if err != nil {
		return fmt.Errorf("route nginx (%s): %w", rel.Routing(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, routeLimit)
	defer cancel()
	if confirm == nil {
		return r.waitServed(ctx, gen, 2, rel.Routing())
	}
	if err := r.waitServed(ctx, gen, 1, rel.Routing()); err != nil {
		return err
	}
	confirmed := make(chan error, 1)
	go func() { confirmed <- confirm(ctx) }()
	err = r.waitServed(ctx, gen, 2, rel.Routing())
	if confirmErr := <-confirmed; err == nil {
		err = confirmErr
	}
	return err
}

// Record starts (on) or stops nginx's recording of every request in the
// release log, for a change under way: a release's judge and every
// change's cost read it. Starting empties what an earlier change left, so
// that the log holds one change at most; the log is created writable by
// nginx's unprivileged user and owned by whoever runs SwiftDeploy, who can
// then empty and remove it. nginx notices the marker within a second.
func (r *Router) Record(on bool) error {
	if !on {
		if err := os.Remove(r.files.Recording); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("stop nginx's release log: %w", err)
		}
		return nil
	}
	f, err := os.OpenFile(r.files.Log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o666)
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.Chmod(r.files.Log, 0o666)
	}
	if err == nil {
		err = touch(r.files.Recording)
	}
	if err != nil {
		return fmt.Errorf("start nginx's release log: %w", err)
	}
	return nil
}

// servedLines are the weighted lines whose answers nginx's routing of a
// release depends on (the backup line never changes).
var servedLines = []string{"stable", "canary"}

// served is the resolver's served file: by line, the generation it last
// answered from and how many times.
type served map[string]struct {
	Generation int64 `json:"generation"`
	Answers    int   `json:"answers"`
}

// waitServed waits until the resolver answered nginx's questions for every
// line in servedLines from generation gen at least answers times; ctx
// bounds it (routeLimit).
func (r *Router) waitServed(ctx context.Context, gen int64, answers int, routing string) error {
	last := "no answer from it yet"
	for {
		data, err := os.ReadFile(r.files.Served)
		var got served
		switch {
		case err == nil && json.Unmarshal(data, &got) == nil:
			behind := ""
			for _, line := range servedLines {
				if l := got[line]; l.Generation != gen || l.Answers < answers {
					behind = line
					break
				}
			}
			if behind == "" {
				return nil
			}
			last = fmt.Sprintf("nginx has not asked for the %s line %s since", behind, map[int]string{1: "once", 2: "twice"}[answers])
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			last = err.Error()
		}
		if wait.Sleep(ctx, 50*time.Millisecond); ctx.Err() != nil {
			return fmt.Errorf("nginx did not take the new routing (%s) within %s: %s", routing, routeLimit, last)
		}
	}
}

// touch creates the file at path if it is not there.
func touch(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
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
