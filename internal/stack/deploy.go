package stack

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/host"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/router"
)

// Deploy regenerates the files, asks the infrastructure policy, starts the stack
// and blocks until /healthz answers ok through nginx. Deploying a stack that is
// already running with the current configuration changes nothing.
func (s *Stack) Deploy(ctx context.Context) error {
	return s.exclusive(ctx, "deploy", func() error { return s.deploy(ctx) })
}

func (s *Stack) deploy(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			s.record(history.EventDeploy, history.Deploy{Result: resultOf(err), Error: err.Error()})
		}
	}()
	if err := engine(ctx); err != nil {
		return err
	}
	if err := s.recoverIfInterrupted(ctx); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	m, err := s.prepare()
	if err != nil {
		return err
	}
	if err := s.gateDeploy(ctx, m); err != nil {
		return err
	}
	rt := s.Runtime(m)
	if err := runtimeReady(ctx, s, rt); err != nil {
		return err
	}
	if err := s.edgeReady(ctx, m); err != nil {
		return err
	}
	// A running app of another build is released, never recreated in place.
	if released, err := s.releaseNewBuild(ctx, rt, m); released || err != nil {
		return s.edgeAfter(ctx, m, err)
	}
	if s.alreadyServing(ctx, rt, m) {
		return s.edgeAfter(ctx, m, nil)
	}
	return s.edgeAfter(ctx, m, s.bringUp(ctx, rt, m))
}

// edgeAfter routes the host's edge to the stack once it serves as m says
// (or takes it off the edge, for a manifest without an edge section); a
// deploy that failed changes no route.
func (s *Stack) edgeAfter(ctx context.Context, m *manifest.Manifest, err error) error {
	if err != nil {
		return err
	}
	if err := s.edgeJoin(ctx, m); err != nil {
		return err
	}
	if m.Edge == nil {
		return s.edgeRemoveIfUnused(ctx)
	}
	return nil
}

// runtimeReady asks a runtime with needs of its own on this host (swarm)
// whether the stack can run here.
func runtimeReady(ctx context.Context, s *Stack, rt platform.Runtime) error {
	c, ok := rt.(platform.Checker)
	if !ok {
		return nil
	}
	if _, err := c.Ready(ctx); errors.Is(err, platform.ErrImagesOnThisNode) {
		s.Out.Warn("%v; deploying: a node that lacks an image is named by swarm", err)
	} else if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	return nil
}

// releaseNewBuild releases the manifest's build when the running app runs
// another one that nginx serves, and says whether it did.
func (s *Stack) releaseNewBuild(ctx context.Context, rt platform.Runtime, m *manifest.Manifest) (bool, error) {
	running, apps, err := runningBuild(ctx, rt)
	if err != nil || len(apps) == 0 || running == m.Build() {
		return false, err
	}
	if _, err := s.runningApps(ctx, rt); err != nil {
		// Nothing reaches the app through nginx: there is no traffic to
		// protect, and the stack is brought up as the manifest says.
		s.Out.Warn("nginx does not serve %s (%v): deploying %s in place", running, err, m.Build())
		return false, nil
	}
	if err := s.nginxForReleases(ctx, rt); err != nil {
		return true, err
	}
	if err := s.release(ctx, rt, m, running, apps); err != nil {
		return true, err
	}
	s.record(history.EventDeploy, history.Deploy{Mode: m.Services.Mode, Result: "ok", Release: true})
	return true, nil
}

// alreadyServing reports, and records, a stack that runs as the generated
// files say and answers healthy through nginx: a deploy of it is a no-op.
func (s *Stack) alreadyServing(ctx context.Context, rt platform.Runtime, m *manifest.Manifest) bool {
	current, err := rt.UpToDate(ctx)
	if err != nil || !current {
		return false
	}
	// A resolver replaced after nginx started is a repair to make.
	if nginx, err := rt.Instances(ctx, platform.Nginx); err == nil && len(nginx) > 0 {
		if problem, _ := router.Problem(ctx, rt, nginx[0]); problem == router.ResolverReplaced {
			return false
		}
	}
	p, err := s.router(m).Probe(ctx)
	if err != nil {
		return false
	}
	s.Out.OK("the stack %s is already running and healthy%s: nothing to do", s.Project, inParens(p.Describe()))
	s.record(history.EventDeploy, history.Deploy{Mode: m.Services.Mode, Result: "noop"})
	return true
}

// bringUp brings every role to the generated files and waits until the app
// answers healthy through nginx, saying why it did not.
func (s *Stack) bringUp(ctx context.Context, rt platform.Runtime, m *manifest.Manifest) error {
	if _, err := host.CheckNginxVersion(ctx, m.Nginx.Image); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	// A pin left by an interrupted switch may name an app that is gone:
	// deploy starts from what Docker runs.
	if err := s.router(m).Reset(); err != nil {
		return err
	}
	s.Out.Step("starting %s: app %s behind nginx on port %d", s.Project, m.Services.Image, m.Nginx.Port)
	waitCtx, cancel := context.WithTimeout(ctx, s.HealthTimeout)
	defer cancel()
	start := time.Now()
	if err := rt.Up(waitCtx); err != nil {
		s.diagnose(ctx, rt)
		if waitCtx.Err() != nil {
			return fmt.Errorf("deploy: the stack did not become healthy within %s (see the container states above)", s.HealthTimeout)
		}
		return fmt.Errorf("deploy: the stack did not become healthy (see the container states above): %w", err)
	}
	if err := s.nginxFindsResolver(waitCtx, rt); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	p, err := s.waitHealthy(waitCtx, m)
	if err != nil {
		s.diagnose(ctx, rt)
		return fmt.Errorf("deploy: %w", err)
	}
	elapsed := time.Since(start)
	s.Out.OK("deployed in %.1fs: %s through nginx on port %d answers healthy%s", elapsed.Seconds(), m.Services.HealthPath, m.Nginx.Port, inParens(p.Describe()))
	s.record(history.EventDeploy, history.Deploy{Mode: m.Services.Mode, Result: "ok", ElapsedSeconds: round(elapsed.Seconds(), 2)})
	return nil
}

// waitHealthy polls the app's health path through nginx until it answers
// healthy.
func (s *Stack) waitHealthy(ctx context.Context, m *manifest.Manifest) (router.Probed, error) {
	var p router.Probed
	what := fmt.Sprintf("%s through nginx on port %d", m.Services.HealthPath, m.Nginx.Port)
	_, err := s.waitFor(ctx, what, 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		got, err := s.router(m).Probe(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		p = got
		return true, "", nil
	})
	return p, err
}

// inParens is " (s)", or "" for an empty s.
func inParens(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// diagnose prints the state and last log lines of every instance of the
// stack, so that a failed wait says why.
func (s *Stack) diagnose(ctx context.Context, rt platform.Runtime) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	instances, err := rt.Instances(ctx, "")
	if err != nil {
		s.Out.Warn("could not list the containers: %v", err)
		return
	}
	if len(instances) == 0 {
		s.Out.Warn("no container of %s exists", s.Project)
	}
	for _, i := range instances {
		s.describe(ctx, rt, i)
	}
}

func (s *Stack) describe(ctx context.Context, rt platform.Runtime, i platform.Instance) {
	state := i.State
	if i.Health != "" {
		state += ", " + i.Health
	}
	if !i.Running() {
		state += fmt.Sprintf(", exit code %d", i.ExitCode)
	}
	s.Out.Fail("%s (%s): %s", i.Name, i.Role, state)
	logs, err := rt.Logs(ctx, i.ID, 10)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.Out.Info("(no logs: %v)", err)
		return
	}
	for _, line := range lastLines(logs, 10) {
		s.Out.Info("%s", line)
	}
}

// nginxFindsResolver recreates nginx when the resolver was replaced after
// nginx started (a rebuilt resolver image, say): nginx looks the resolver's
// address up only when it starts.
func (s *Stack) nginxFindsResolver(ctx context.Context, rt platform.Runtime) error {
	nginx, err := rt.Instances(ctx, platform.Nginx)
	if err != nil || len(nginx) == 0 {
		return err
	}
	problem, err := router.Problem(ctx, rt, nginx[0])
	if err != nil || problem != router.ResolverReplaced {
		return err
	}
	s.Out.Step("%s: recreating nginx so that it finds the new one", problem)
	return rt.Recreate(ctx, platform.Nginx)
}

// nginxForReleases recreates an nginx that does not run as the generated
// configuration says, before a release reloads it: one started by an older
// SwiftDeploy lacks the folder it writes the release log to. Requests under
// way then fail; it happens once, and says so.
func (s *Stack) nginxForReleases(ctx context.Context, rt platform.Runtime) error {
	current, err := rt.Current(ctx, platform.Nginx)
	if err != nil || current {
		return err
	}
	s.Out.Warn("nginx does not run as %s says (an older SwiftDeploy started it): recreating it before the release; requests under way now may fail", render.ComposeFile)
	if err := rt.Recreate(ctx, platform.Nginx); err != nil {
		return err
	}
	return s.nginxFindsResolver(ctx, rt)
}
