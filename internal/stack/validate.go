package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
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
	imagesErr := firstErr(engineErr, missingImages(ctx, m))
	add("3. images exist locally", "", imagesErr)
	note, portErr := s.portFree(ctx, m.Nginx.Port, engineErr == nil)
	add("4. nginx port "+strconv.Itoa(m.Nginx.Port)+" is free", note, portErr)
	nginxNote, nginxErr := "", engineErr
	if engineErr == nil {
		nginxNote, nginxErr = s.nginxTest(ctx, m)
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
	s.exposure(m)
	add("docker compose config accepts "+strings.Join(s.fileNames(s.Runtime(m).Files()), " + "), "", firstErr(engineErr, composeErr))
	_, policyErr := s.loadPolicies(m)
	add("policies compile", "", policyErr)
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

func missingImages(ctx context.Context, m *manifest.Manifest) error {
	var missing []string
	for _, ref := range []string{m.Services.Image, m.Nginx.Image, render.ResolverImage} {
		if !docker.ImageExists(ctx, ref) {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not in the local image store: %s (run `setup`)", strings.Join(missing, ", "))
	}
	return nil
}

// portFree reports whether nothing listens on port. A port held by this stack's
// own nginx passes: deploying again is fine.
func (s *Stack) portFree(ctx context.Context, port int, engineUp bool) (string, error) {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err == nil {
		l.Close()
		return "", nil
	}
	if engineUp {
		owners, oerr := docker.PortOwners(ctx, port)
		if oerr == nil {
			for name, project := range owners {
				if project == s.Project {
					return "held by this stack's own nginx (" + name + ")", nil
				}
				return "", fmt.Errorf("in use by container %s (project %q)", name, project)
			}
		}
	}
	return "", fmt.Errorf("in use by another process: %v", err)
}

// nginxTest checks that the image's nginx is new enough for the generated
// configuration, then runs nginx -t on it; the note names the version found.
func (s *Stack) nginxTest(ctx context.Context, m *manifest.Manifest) (string, error) {
	found, err := host.CheckNginxVersion(ctx, m.Nginx.Image)
	if err != nil {
		return "", err
	}
	note := "nginx " + found
	out, err := docker.NginxTest(ctx, m.Nginx.Image, s.path(render.MountedNginxDir), render.LogDir, render.ResolverHost)
	if err != nil && docker.Tail(out, 1) != "" {
		return note, fmt.Errorf("%s", strings.ReplaceAll(docker.Tail(out, 3), "\n", " | "))
	}
	return note, err
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
// run it (user, read-only root; no capabilities), and checks the contract:
// its health path answers a 2xx; /metrics, which is optional, is looked for.
func (s *Stack) tryAppImage(ctx context.Context, m *manifest.Manifest) (string, error) {
	h, err := docker.Project{Name: s.Project, Dir: s.Root, File: render.ComposeFile}.ServiceHardening(ctx, "app")
	if err != nil {
		return "", err
	}
	env := []string{"APP_PORT=" + strconv.Itoa(m.Services.Port), "MODE=" + m.Services.Mode, "APP_VERSION=" + m.Services.Version}
	trial, err := docker.TryImage(ctx, m.Services.Image, h.User, h.ReadOnly, env, m.Services.Port, m.Services.HealthPath, 15*time.Second)
	if err != nil {
		return "", fmt.Errorf("%w; an image that cannot run as user %s on a read-only root with no capabilities needs services.user or services.read_only: false in the manifest (see docs/own-service.md)", err, h.User)
	}
	metricsNote := "/metrics: yes"
	if !trial.Metrics {
		metricsNote = "/metrics: none (releases judge it from nginx's counts; promote between modes needs it and fails closed)"
	}
	return fmt.Sprintf("HTTP %d; %s", trial.HealthStatus, metricsNote), nil
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
