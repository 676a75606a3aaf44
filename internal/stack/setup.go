package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// Where setup keeps what it builds and logs.
const (
	dockerdLog = "/var/log/swiftdeploy-dockerd.log"
	// nginxSuite is the Debian release the registry-free nginx image is built from.
	nginxSuite = "sid"
)

// Setup makes this host ready to run the stack, doing only what is missing: a
// reachable Docker engine, the Compose v2 plugin, the app image built from
// service/ and the manifest's nginx image. Running it again on a ready host takes
// seconds.
func (s *Stack) Setup(ctx context.Context) (err error) {
	start := time.Now()
	defer func() {
		fields := map[string]any{"result": resultOf(err), "elapsed_seconds": round(time.Since(start).Seconds(), 1)}
		if err != nil {
			fields["error"] = err.Error()
		}
		s.record(history.EventSetup, fields)
	}()
	m, err := s.loadManifest()
	if err != nil {
		return err
	}
	steps := []struct {
		name string
		do   func(context.Context) (string, error)
	}{
		{"Docker engine", s.ensureEngine},
		{"Docker Compose v2 plugin", s.ensureCompose},
		{"app image " + m.Services.Image, func(ctx context.Context) (string, error) { return s.ensureAppImage(ctx, m.Services.Image) }},
		{"resolver image " + render.ResolverImage, s.buildResolverImage},
		{"nginx image " + m.Nginx.Image, func(ctx context.Context) (string, error) { return s.ensureNginxImage(ctx, m.Nginx.Image) }},
	}
	for _, step := range steps {
		t := time.Now()
		note, err := step.do(ctx)
		if err != nil {
			s.Out.Fail("%s: %v", step.name, err)
			return fmt.Errorf("setup: %s: %w", step.name, err)
		}
		s.Out.OK("%s: %s (%.1fs)", step.name, note, time.Since(t).Seconds())
	}
	s.Out.OK("host ready in %.1fs", time.Since(start).Seconds())
	return nil
}

func (s *Stack) ensureEngine(ctx context.Context) (string, error) {
	if v, err := docker.Ping(ctx); err == nil {
		return "engine " + v + " answers", nil
	}
	installed := ""
	if !docker.Available("dockerd") {
		if err := canInstallPackages(); err != nil {
			return "", fmt.Errorf("no Docker engine here and %w: install Docker Engine 20.10 or newer and start it", err)
		}
		s.Out.Step("installing the Docker engine from the distribution's packages (docker.io)")
		if err := docker.AptInstall(ctx, "docker.io"); err != nil {
			return "", err
		}
		installed = "installed docker.io, "
	}
	s.Out.Step("starting dockerd in the background (log: %s)", dockerdLog)
	if err := docker.StartDaemon(dockerdLog); err != nil {
		return "", err
	}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var version string
	if _, err := s.waitFor(waitCtx, "the Docker engine to answer", 500*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		v, err := docker.Ping(ctx)
		version = v
		return err == nil, "", nil
	}); err != nil {
		return "", fmt.Errorf("%w; see %s", err, dockerdLog)
	}
	return installed + "started engine " + version, nil
}

// canInstallPackages says why setup cannot install system packages itself.
func canInstallPackages() error {
	osRelease, _ := os.ReadFile("/etc/os-release")
	debian := false
	for _, line := range strings.Split(string(osRelease), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if (k == "ID" || k == "ID_LIKE") && (strings.Contains(v, "debian") || strings.Contains(v, "ubuntu")) {
			debian = true
		}
	}
	switch {
	case !debian:
		return errors.New("this is not Debian or Ubuntu, so setup cannot install it for you")
	case os.Geteuid() != 0:
		return errors.New("setup is not running as root, so it cannot install packages")
	case !docker.Available("apt-get"):
		return errors.New("apt-get is missing")
	}
	return nil
}

func (s *Stack) ensureCompose(ctx context.Context) (string, error) {
	if v, err := docker.ComposeVersion(ctx); err == nil {
		return "version " + v, nil
	}
	if !docker.Available("go") {
		return "", errors.New("`docker compose` is missing and Go is not installed to build it: install the Docker Compose v2 plugin")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	dest := filepath.Join(home, ".docker", "cli-plugins", "docker-compose")
	work := filepath.Join(os.TempDir(), "swiftdeploy-compose-src")
	s.Out.Step("building the Compose plugin from %s (about a minute the first time)", docker.ComposeModule)
	if err := docker.BuildComposePlugin(ctx, work, dest); err != nil {
		return "", err
	}
	os.RemoveAll(work)
	v, err := docker.ComposeVersion(ctx)
	if err != nil {
		return "", err
	}
	return "built version " + v + " into " + dest, nil
}

// DefaultAppImage is the image name the shipped manifest gives the service.
const DefaultAppImage = "swift-deploy-1-node:latest"

// ensureAppImage builds service/ into ref unless ref is an operator's own image.
// An image SwiftDeploy built earlier is rebuilt, which is quick and cached, so
// that changes to service/ always reach the image. An operator's image that is
// missing is pulled, never replaced by a build of service/ under its name.
func (s *Stack) ensureAppImage(ctx context.Context, ref string) (string, error) {
	if docker.ImageExists(ctx, ref) {
		builtBy, err := docker.ImageLabel(ctx, ref, docker.BuiltByLabel)
		if err != nil {
			return "", err
		}
		if builtBy == "" {
			return "present (your own image: left as it is)", nil
		}
	} else if ref != DefaultAppImage {
		pullCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if err := docker.Pull(pullCtx, ref); err != nil {
			return "", fmt.Errorf("your image %s is not here and cannot be pulled (%s): build or load it, or set services.image to %s to use the service in service/", ref, firstLine(err.Error()), DefaultAppImage)
		}
		return "pulled", nil
	}
	if err := docker.BuildAppImage(ctx, s.Root, ref); err != nil {
		return "", err
	}
	size, err := docker.ImageSize(ctx, ref)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("built from service/ (%.1f MB)", float64(size)/1e6), nil
}

// buildResolverImage builds resolver/ into the resolver image every time: it
// is quick and cached, and changes to resolver/ always reach the image.
func (s *Stack) buildResolverImage(ctx context.Context) (string, error) {
	if err := docker.BuildResolverImage(ctx, s.Root, render.ResolverImage); err != nil {
		return "", err
	}
	return "built from resolver/", nil
}

// ensureNginxImage pulls ref, or where no registry answers, builds nginx from the
// distribution's packages and tags it ref.
//
// An image present already is checked for an nginx new enough for the generated
// nginx.conf. One that setup built earlier from an older Debian is rebuilt; an
// operator's own is left alone, with a warning (validate and deploy refuse it).
func (s *Stack) ensureNginxImage(ctx context.Context, ref string) (string, error) {
	if docker.ImageExists(ctx, ref) {
		builtBy, err := docker.ImageLabel(ctx, ref, docker.BuiltByLabel)
		if err != nil {
			return "", err
		}
		found, err := checkNginxVersion(ctx, ref)
		switch {
		case err == nil:
			return "present (nginx " + found + ")", nil
		case found == "":
			return "", err
		case builtBy == "":
			s.Out.Warn("%s", nginxTooOld(ref, found))
			return "present (your own image, nginx " + found + ": left as it is)", nil
		}
		s.Out.Step("%s was built by an earlier setup with nginx %s; rebuilding it with a newer nginx", ref, found)
		return s.buildNginxImage(ctx, ref)
	}
	pullCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	pullErr := docker.Pull(pullCtx, ref)
	cancel()
	if pullErr == nil {
		return "pulled", nil
	}
	s.Out.Warn("cannot pull %s (%v)", ref, firstLine(pullErr.Error()))
	return s.buildNginxImage(ctx, ref)
}

// buildNginxImage builds ref from Debian's newest nginx-light and checks that
// the result is new enough for the generated nginx.conf.
func (s *Stack) buildNginxImage(ctx context.Context, ref string) (string, error) {
	s.Out.Step("building %s from the distribution's nginx-light package (debootstrap %s, about a minute)", ref, nginxSuite)
	if !docker.Available("debootstrap") {
		if err := canInstallPackages(); err != nil {
			return "", fmt.Errorf("cannot pull %s and %w: install debootstrap or load an nginx image", ref, err)
		}
		if err := docker.AptInstall(ctx, "debootstrap"); err != nil {
			return "", err
		}
	}
	if err := docker.BuildNginxImage(ctx, nginxSuite, ref); err != nil {
		return "", err
	}
	found, err := checkNginxVersion(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("built %s from Debian %s, but: %w", ref, nginxSuite, err)
	}
	return "no registry reachable: built from Debian's nginx-light " + found + " and tagged " + ref, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return truncate(line, 160)
}
