package stack

import (
	"context"
	"fmt"
	"net/http"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/lock"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
)

// This file wires the stack's commands to the change engine
// (internal/change) and nginx's router (internal/router): the commands
// decide what changes and ask the gates; the engine carries it out.

// router is nginx's router for the stack m describes (nil: teardown, which
// works without a manifest): one per command, so that the admin listener's
// address is looked up once.
func (s *Stack) router(m *manifest.Manifest) *router.Router {
	s.routerOnce.Do(func() {
		var healthPath string
		if m != nil {
			healthPath = m.Services.HealthPath
		}
		s.nginx = router.New(s.Runtime(m), router.FilesIn(s.Root), s.NginxFollow, healthPath)
	})
	return s.nginx
}

// admin is the HTTP client that reaches nginx's admin listener.
func (s *Stack) admin(m *manifest.Manifest) *http.Client { return s.router(m).Client() }

// store keeps the change under way and the build a release replaced.
func (s *Stack) store() *change.Store { return change.NewStore(s.path(StateDir)) }

// mover carries changes out on rt, the runtime of the stack m describes.
func (s *Stack) mover(m *manifest.Manifest, rt platform.Runtime) *change.Mover {
	return &change.Mover{
		Runtime: rt, Router: s.router(m), Store: s.store(), Out: s.Out, Now: s.Now, HealthTimeout: s.HealthTimeout,
		Files: func(m *manifest.Manifest, route *render.Release) error {
			files, err := s.render(m, route)
			if err != nil {
				return err
			}
			return render.Write(s.Root, files)
		},
		Record:   s.record,
		Health:   s.withHealth,
		Describe: func(ctx context.Context, i platform.Instance) { s.describe(ctx, rt, i) },
		SetMode:  func(mode string) error { return manifest.SetMode(s.path(ManifestFile), mode) },
	}
}

// recoverIfInterrupted finishes or undoes the change the state file
// records, which only a killed command leaves behind (commands hold the
// stack's lock).
func (s *Stack) recoverIfInterrupted(ctx context.Context) error {
	st, err := s.store().Load()
	if err != nil || st.Change == nil {
		return err
	}
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	if err := engine(ctx); err != nil {
		return err
	}
	rt := s.Runtime(m)
	_, err = s.mover(m, rt).Recover(ctx, st.Change, m)
	return err
}

// changeUnderWay says, for status, what change the state file records: one a
// command is making now, or one a killed command left half-done.
func (s *Stack) changeUnderWay() string {
	st, err := s.store().Load()
	if err != nil {
		return err.Error()
	}
	if st.Change == nil {
		return ""
	}
	if _, held := lock.Held(s.Root, s.path(lockInfo)); held {
		return "in progress: " + st.Change.String()
	}
	return "INTERRUPTED: " + st.Change.String() + "; run `deploy` or `rollback` to finish or undo it"
}

// releaseUnderWay is the canary release the state file records, nil when
// none.
func (s *Stack) releaseUnderWay() *change.Change {
	if c := s.store().Under(); c != nil && c.Stepped() {
		return c
	}
	return nil
}

// runningApps returns the running app instances, or why the stack cannot be
// switched.
func (s *Stack) runningApps(ctx context.Context, rt platform.Runtime) ([]platform.Instance, error) {
	running, err := platform.Running(ctx, rt, platform.App)
	if err != nil {
		return nil, err
	}
	nginx, err := rt.Instances(ctx, platform.Nginx)
	if err != nil {
		return nil, err
	}
	if len(running) == 0 || len(nginx) == 0 || !nginx[0].Running() {
		return nil, fmt.Errorf("the stack %s is not running: run `deploy` first", s.Project)
	}
	// Without its resolver nginx would never move to the new app.
	if problem, err := router.Problem(ctx, rt, nginx[0]); err != nil || problem != "" {
		if err == nil {
			err = fmt.Errorf("%s, so nginx could not follow a switch: run `deploy` to repair it", problem)
		}
		return nil, err
	}
	return running, nil
}

// runningBuild is the build the running app instances run, and whether an app
// runs at all. Instances of different builds are an error: a release left
// half-done outside SwiftDeploy's knowledge.
func runningBuild(ctx context.Context, rt platform.Runtime) (manifest.Build, []platform.Instance, error) {
	running, err := platform.Running(ctx, rt, platform.App)
	if err != nil {
		return manifest.Build{}, nil, err
	}
	if len(running) == 0 {
		return manifest.Build{}, nil, nil
	}
	b := running[0].Build()
	for _, a := range running[1:] {
		if a.Build() != b {
			return b, running, fmt.Errorf("the running apps run different builds (%s and %s): run `rollback` or `teardown`", b, a.Build())
		}
	}
	return b, running, nil
}
