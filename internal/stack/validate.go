package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/swiftdeploy/swiftdeploy/internal/edge"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/host"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// check is one pre-flight check: its name and why it failed (nil when it passed),
// with an optional note shown when it passed.
type check struct {
	name string
	note string
	err  error
}

// Validate runs the pre-flight checks, printing one ✔/✘ line each, and fails if
// any fails: exit 2 when the manifest is at fault, 1 otherwise.
func (s *Stack) Validate(ctx context.Context) error {
	return s.exclusive(ctx, "validate", func() error { return s.validate(ctx) })
}

func (s *Stack) validate(ctx context.Context) error {
	var checks []check
	add := func(name, note string, err error) {
		checks = append(checks, check{name, note, err})
		if err != nil {
			s.Out.Fail("%s: %v", name, err)
		} else if note != "" {
			s.Out.OK("%s: %s", name, note)
		} else {
			s.Out.OK("%s", name)
		}
	}

	data, err := os.ReadFile(s.path(ManifestFile))
	if err == nil {
		var doc any
		if yerr := yaml.Unmarshal(data, &doc); yerr != nil {
			err = fmt.Errorf("%w: %v", fail.ErrInvalid, yerr)
		}
	} else {
		err = fmt.Errorf("%w: %v", fail.ErrInvalid, err)
	}
	add("1. "+ManifestFile+" exists and is valid YAML", "", err)
	if err != nil {
		return s.validated(checks)
	}
	m, err := manifest.Parse(ManifestFile, data)
	add("2. required fields present, typed and in range", "", err)
	if err != nil {
		return s.validated(checks)
	}
	if err := s.generate(m); err != nil {
		add("generated files render", "", err)
		return s.validated(checks)
	}

	engineErr := engine(ctx)
	images := []string{m.Services.Image, m.Nginx.Image, render.ResolverImage}
	if m.Edge != nil {
		images = append(images, edge.RenewerImage)
	}
	imagesErr := firstErr(engineErr, host.MissingImages(ctx, images...))
	add("3. images exist locally", "", imagesErr)
	note, portErr := host.PortFree(ctx, m.Nginx.Port, s.Project, engineErr == nil)
	add("4. nginx port "+strconv.Itoa(m.Nginx.Port)+" is free", note, portErr)
	nginxNote, nginxErr := "", engineErr
	if engineErr == nil {
		writable := []string{render.LogDir, render.MountedReleaseLogDir}
		if m.Edge != nil {
			writable = append(writable, render.EdgeRun)
		}
		nginxNote, nginxErr = host.NginxTest(ctx, m.Nginx.Image, s.path(render.MountedNginxDir), writable, render.ResolverHost)
	}
	add("5. nginx.conf passes nginx -t in "+m.Nginx.Image, nginxNote, nginxErr)
	var composeErr error
	if engineErr == nil {
		composeErr = s.Runtime(m).Check(ctx)
	}
	// The image is tried only where it can be: a missing image or a compose
	// file that does not load is already one failed check each.
	image := fmt.Sprintf("6. %s answers %s on port %d, run as the stack runs it", m.Services.Image, m.Services.HealthPath, m.Services.Port)
	if imagesErr == nil && composeErr == nil {
		imageNote, imageErr := s.tryAppImage(ctx, m)
		add(image, imageNote, imageErr)
	} else {
		s.Out.Info("%s: not tried (see the failed checks)", image)
	}
	if c, ok := s.Runtime(m).(platform.Checker); ok {
		note, err := "", engineErr
		if engineErr == nil {
			note, err = c.Ready(ctx)
		}
		add(c.CheckName(), note, err)
	}
	s.edgeChecks(ctx, m, engineErr, add)
	if engineErr == nil {
		s.restartSafety(ctx, m)
	}
	s.exposure(m)
	add("docker compose config accepts "+strings.Join(s.fileNames(s.Runtime(m).Files()), " + "), "", firstErr(engineErr, composeErr))
	eng, policyErr := s.loadPolicies(m)
	add("policies compile", "", policyErr)
	if policyErr == nil {
		s.smokeEnough(m, eng)
	}
	return s.validated(checks)
}

func (s *Stack) validated(checks []check) error {
	var failed []string
	invalid := false
	for _, c := range checks {
		if c.err != nil {
			failed = append(failed, c.name)
			invalid = invalid || errors.Is(c.err, fail.ErrInvalid)
		}
	}
	s.record(history.EventValidate, history.Validate{Checks: len(checks), Failed: failed})
	if len(failed) == 0 {
		s.Out.OK("all %d checks passed", len(checks))
		return nil
	}
	err := fmt.Errorf("validate: %d of %d checks failed", len(failed), len(checks))
	if invalid {
		return fmt.Errorf("%w: %w", fail.ErrInvalid, err)
	}
	return err
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// fileNames gives paths relative to the project folder, for messages.
func (s *Stack) fileNames(files []string) []string {
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimPrefix(f, s.Root+string(os.PathSeparator)))
	}
	return names
}

// tryAppImage starts the app's image briefly, as the merged compose files
// run it, and checks the service contract.
func (s *Stack) tryAppImage(ctx context.Context, m *manifest.Manifest) (string, error) {
	user, readOnly, err := platform.RunsAs(ctx, s.runtimeConfig(), platform.App)
	if err != nil {
		return "", err
	}
	env := []string{"APP_PORT=" + strconv.Itoa(m.Services.Port), "MODE=" + m.Services.Mode, "APP_VERSION=" + m.Services.Version}
	return host.TryApp(ctx, m.Services.Image, user, readOnly, env, m.Services.Port, m.Services.HealthPath)
}

// exposure says what the public port serves besides the app's own paths,
// and the risk when it is the demo service's /chaos and /metrics.
func (s *Stack) exposure(m *manifest.Manifest) {
	if m.Nginx.PublicAdminPaths {
		s.Out.Warn("public port %d serves /chaos and /metrics (nginx.public_admin_paths: true): anyone who reaches it can inject failures into a canary and read the counters; set it to false outside a demo (SwiftDeploy uses nginx's admin listener on this host's loopback either way)", m.Nginx.Port)
		return
	}
	s.Out.OK("public port %d serves the app without /chaos and /metrics; they answer on nginx's admin listener, on this host's loopback only", m.Nginx.Port)
}

// restartSafety says what a restart of the Docker engine would do to the
// stack: a warning, not a failed check, when it would stop a compose stack
// that live-restore would keep running; on swarm, what holds.
func (s *Stack) restartSafety(ctx context.Context, m *manifest.Manifest) {
	forSwarm := m.Runtime == manifest.RuntimeSwarm
	keeps, note, err := host.RestartSafety(ctx, forSwarm)
	switch {
	case err != nil:
		s.Out.Warn("what a restart of the Docker engine does to this stack is unknown: %v", err)
	case forSwarm:
		s.Out.Info("%s", note)
	case keeps:
		s.Out.OK("%s", note)
	default:
		s.Out.Warn("%s", note)
	}
}
