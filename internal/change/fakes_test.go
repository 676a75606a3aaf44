package change

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// The engine's collaborators, played in memory: a runtime whose instances
// are a list, a router whose nginx follows pins at once (unless stuck),
// generated files that are a note of what they describe.

var (
	v1 = manifest.Build{Image: "app:1", Version: "1.0.0"}
	v2 = manifest.Build{Image: "app:2", Version: "2.0.0"}

	oldApp    = platform.Instance{ID: "old", Name: "app-1", Role: platform.App, State: "running", Health: "healthy", Addr: "192.0.2.10", Mode: "stable", Image: v1.Image, Version: v1.Version}
	newApp    = platform.Instance{ID: "new", Name: "app-2", Role: platform.App, State: "running", Health: "starting", Addr: "192.0.2.11", Mode: "canary", Image: v1.Image, Version: v1.Version}
	canaryApp = platform.Instance{ID: "canary", Name: "canary-1", Role: platform.Canary, State: "running", Health: "starting", Addr: "192.0.2.20", Mode: "canary", Image: v2.Image, Version: v2.Version}
	takerApp  = platform.Instance{ID: "taker", Name: "app-3", Role: platform.App, State: "running", Health: "starting", Addr: "192.0.2.12", Mode: "stable", Image: v2.Image, Version: v2.Version}
)

// fakeRuntime lists its instances; StartBeside starts started[role], whose
// health then follows script, one state per look ("exited" exits it).
type fakeRuntime struct {
	platform.Runtime // anything the engine must not call panics
	r                *fakeRouter

	mu        sync.Mutex
	instances []platform.Instance
	started   map[platform.Role]platform.Instance
	script    []string
	looks     int
	startErr  error
	// retired and removed are what Retire and Remove were given;
	// pinsAtRetire the pin at each Retire.
	retired, removed []string
	pinsAtRetire     []string
}

func newRuntime(r *fakeRouter, instances ...platform.Instance) *fakeRuntime {
	return &fakeRuntime{r: r, instances: instances, script: []string{"healthy"},
		started: map[platform.Role]platform.Instance{platform.App: newApp, platform.Canary: canaryApp}}
}

func (f *fakeRuntime) Instances(_ context.Context, role platform.Role) ([]platform.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []platform.Instance
	for _, i := range f.instances {
		if role == "" || i.Role == role {
			out = append(out, i)
		}
	}
	return out, nil
}

func (f *fakeRuntime) Instance(_ context.Context, id string) (platform.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, i := range f.instances {
		if i.ID != id {
			continue
		}
		if f.startedByIt(id) {
			state := f.script[min(f.looks, len(f.script)-1)]
			f.looks++
			if state == "exited" {
				i.State, i.ExitCode = "exited", 2
			} else {
				i.Health = state
			}
			f.instances[n] = i
		}
		return i, nil
	}
	return platform.Instance{}, fmt.Errorf("no instance %s", id)
}

// startedByIt reports whether StartBeside starts the instance id: its
// health follows the script.
func (f *fakeRuntime) startedByIt(id string) bool {
	for _, i := range f.started {
		if i.ID == id {
			return true
		}
	}
	return false
}

func (f *fakeRuntime) StartBeside(_ context.Context, role platform.Role) ([]platform.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.started[role]
	f.instances = append(f.instances, i)
	return []platform.Instance{i}, f.startErr
}

func (f *fakeRuntime) Retire(_ context.Context, _ time.Duration, ids ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retired = append(f.retired, ids...)
	f.pinsAtRetire = append(f.pinsAtRetire, f.r.pin())
	f.instances = slices.DeleteFunc(f.instances, func(i platform.Instance) bool { return slices.Contains(ids, i.ID) })
	return nil
}

func (f *fakeRuntime) Remove(_ context.Context, ids ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, ids...)
	f.instances = slices.DeleteFunc(f.instances, func(i platform.Instance) bool { return slices.Contains(ids, i.ID) })
	return nil
}

func (f *fakeRuntime) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.instances, func(i platform.Instance) bool { return i.ID == id })
}

// rollingRuntime replaces the app's instances itself: Roll leaves rolled
// (or, with rollErr, the old instances and the error); Settle leaves settled.
type rollingRuntime struct {
	*fakeRuntime
	rolled  []platform.Instance
	rollErr error
	settled []platform.Instance
	rolls   int
}

func (r *rollingRuntime) Roll(_ context.Context, role platform.Role) error {
	r.rolls++
	if role != platform.App {
		return errors.New("rolled " + string(role))
	}
	if r.rollErr != nil {
		return r.rollErr
	}
	r.replaceApps(r.rolled)
	return nil
}

func (r *rollingRuntime) Settle(_ context.Context, role platform.Role) error {
	if r.settled != nil {
		r.replaceApps(r.settled)
	}
	return nil
}

func (r *rollingRuntime) replaceApps(apps []platform.Instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.instances = append(slices.DeleteFunc(r.instances, func(i platform.Instance) bool { return i.Role == platform.App }), apps...)
}

// fakeRouter is nginx following every pin at once; stuck, it keeps
// answering from where it was before the first pin.
type fakeRouter struct {
	mu     sync.Mutex
	pinned []string // addresses; nil: not pinned
	pins   []string // every pin and unpin, in order
	routes []string
	stuck  bool
	follow time.Duration
	// recording says nginx logs every request; records is every start
	// (true) and stop; recordErr fails every Record.
	recording bool
	records   []bool
	recordErr error
}

func (r *fakeRouter) Pin(apps []platform.Instance) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pinned = nil
	for _, a := range apps {
		r.pinned = append(r.pinned, a.Addr)
	}
	slices.Sort(r.pinned)
	r.pins = append(r.pins, strings.Join(r.pinned, ","))
	return nil
}

func (r *fakeRouter) Unpin() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pinned != nil {
		r.pins = append(r.pins, "unpinned")
	}
	r.pinned = nil
	return nil
}

func (r *fakeRouter) pin() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pinned == nil {
		return "unpinned"
	}
	return strings.Join(r.pinned, ",")
}

func (r *fakeRouter) Follow(context.Context) {}

func (r *fakeRouter) FollowTime() time.Duration {
	if r.follow == 0 {
		return 10 * time.Millisecond
	}
	return r.follow
}

func (r *fakeRouter) Confirm(_ context.Context, apps []platform.Instance, want router.Expect) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var addrs []string
	for _, a := range apps {
		addrs = append(addrs, a.Addr)
	}
	slices.Sort(addrs)
	if r.stuck || (r.pinned != nil && !slices.Equal(r.pinned, addrs)) {
		return fmt.Errorf("nginx did not move to the %s app", want)
	}
	return nil
}

func (r *fakeRouter) MoveTo(ctx context.Context, apps []platform.Instance, want router.Expect) error {
	if err := r.Pin(apps); err != nil {
		return err
	}
	return r.Confirm(ctx, apps, want)
}

func (r *fakeRouter) Record(on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recordErr != nil {
		return r.recordErr
	}
	r.recording = on
	r.records = append(r.records, on)
	return nil
}

func (r *fakeRouter) Route(_ context.Context, rel *render.Release) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = append(r.routes, rel.Routing())
	return nil
}

func (r *fakeRouter) RouteConfirmed(ctx context.Context, rel *render.Release, want router.Expect, apps func(context.Context) []platform.Instance) error {
	if err := r.Route(ctx, rel); err != nil {
		return err
	}
	if list := apps(ctx); len(list) > 0 {
		return r.Confirm(ctx, list, want)
	}
	return nil
}

// engine is a mover on these fakes, in a temporary state folder, with the
// generated files noted in files and the manifest's mode in mode.
type engine struct {
	*Mover
	rt     *fakeRuntime
	router *fakeRouter
	files  []string // what each write of the generated files described
	modes  []string // what SetMode wrote
	events []any
	// described are the instances whose state and logs were printed.
	described []string
}

func newEngine(t *testing.T, instances ...platform.Instance) *engine {
	t.Helper()
	e := &engine{router: &fakeRouter{}}
	e.rt = newRuntime(e.router, instances...)
	e.Mover = &Mover{Runtime: e.rt, Router: e.router, Store: NewStore(t.TempDir()), Out: ui.New(io.Discard), Now: time.Now,
		HealthTimeout: 5 * time.Second,
		Files: func(m *manifest.Manifest, route *render.Release) error {
			note := m.Services.Mode + " " + m.Services.Version
			if route != nil {
				note += fmt.Sprintf(" canary %s at %d%%", route.Canary.Version, route.Weight)
			}
			e.files = append(e.files, note)
			return nil
		},
		Record:   func(event string, payload any) { e.events = append(e.events, payload) },
		Health:   func(_ context.Context, _ *manifest.Manifest, i platform.Instance) platform.Instance { return i },
		Describe: func(_ context.Context, i platform.Instance) { e.described = append(e.described, i.ID) },
		SetMode:  func(mode string) error { e.modes = append(e.modes, mode); return nil },
	}
	return e
}

// rolls makes e's runtime one that rolls the app itself.
func (e *engine) rolls() *rollingRuntime {
	r := &rollingRuntime{fakeRuntime: e.rt}
	e.Runtime = r
	return r
}

// lastFiles is what the generated files describe now.
func (e *engine) lastFiles() string { return e.files[len(e.files)-1] }

func (e *engine) state(t *testing.T) State {
	t.Helper()
	st, err := e.Store.Load()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func manifestOf(b manifest.Build, mode string) *manifest.Manifest {
	m := &manifest.Manifest{Services: manifest.Services{Image: b.Image, Version: b.Version, Mode: mode, Replicas: 1},
		Rollout: manifest.Rollout{Strategy: manifest.StrategyCanary, Steps: []int{10, 50, 100}, StepSeconds: 1, Sticky: true}}
	return m
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}
