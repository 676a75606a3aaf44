package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Ping asks the engine for its version; it fails with ErrEngineUnreachable when
// the CLI cannot reach a daemon.
func Ping(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := run(ctx, "docker", "info", "--format", "{{.ServerVersion}}")
	if err != nil {
		if !Available("docker") {
			return "", fmt.Errorf("%w: the docker command is not installed", ErrEngineUnreachable)
		}
		return "", fmt.Errorf("%w: %v", ErrEngineUnreachable, err)
	}
	v := strings.TrimSpace(out)
	if v == "" || strings.Contains(v, "Cannot connect") {
		return "", fmt.Errorf("%w: docker info answered %q", ErrEngineUnreachable, Tail(out, 1))
	}
	return v, nil
}

// DataRoot is the folder where the engine keeps images and containers; the
// infrastructure policy measures free disk there.
func DataRoot(ctx context.Context) (string, error) {
	out, err := run(ctx, "docker", "info", "--format", "{{.DockerRootDir}}")
	if err != nil {
		return "", fmt.Errorf("docker data root: %w", err)
	}
	return strings.TrimSpace(out), nil
}

// LiveRestore says whether the engine keeps containers running while dockerd
// itself stops and starts again (its live-restore setting).
func LiveRestore(ctx context.Context) (bool, error) {
	out, err := run(ctx, "docker", "info", "--format", "{{.LiveRestoreEnabled}}")
	if err != nil {
		return false, fmt.Errorf("docker info: %w", err)
	}
	switch v := strings.TrimSpace(out); v {
	case "true", "false":
		return v == "true", nil
	default:
		return false, fmt.Errorf("docker info says live-restore is %q", v)
	}
}

// StartDaemon starts dockerd with args in its own session, so it outlives this
// process, with its output in logPath. It does not wait for the engine to
// answer; the channel it returns is closed when that dockerd exits, so that a
// caller waiting for it can tell a slow start from a refused one.
func StartDaemon(logPath string, args ...string) (exited <-chan struct{}, err error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command("dockerd", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	return done, nil
}

// AptInstall installs Debian packages non-interactively, refreshing the package
// lists first.
func AptInstall(ctx context.Context, packages ...string) error {
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if _, err := runEnv(ctx, env, "apt-get", "update"); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	args := append([]string{"install", "-y", "--no-install-recommends"}, packages...)
	if _, err := runEnv(ctx, env, "apt-get", args...); err != nil {
		return fmt.Errorf("install %s: %w", strings.Join(packages, " "), err)
	}
	return nil
}

// ComposeVersion returns the version of the Compose v2 CLI plugin.
func ComposeVersion(ctx context.Context) (string, error) {
	out, err := run(ctx, "docker", "compose", "version", "--short")
	if err != nil {
		return "", fmt.Errorf("docker compose plugin: %w", err)
	}
	return strings.TrimSpace(out), nil
}

// ComposePluginVersion returns the version of the Compose v2 plugin at path,
// run by itself: it answers without the docker CLI, which setup may be
// installing at the same time.
func ComposePluginVersion(ctx context.Context, path string) (string, error) {
	out, err := run(ctx, path, "version", "--short")
	if err != nil {
		return "", fmt.Errorf("compose plugin %s: %w", path, err)
	}
	return strings.TrimSpace(out), nil
}

// ComposeModule is the Go module the Compose v2 plugin is built from; v5.7 needs
// a newer Go than the machines have.
const ComposeModule = "github.com/docker/compose/v5@v5.6.0"

// BuildComposePlugin builds the Compose plugin from its Go module into dest
// (normally ~/.docker/cli-plugins/docker-compose). `go install` refuses the module
// because of its exclude directives, so the module is copied to workDir and
// built there.
func BuildComposePlugin(ctx context.Context, workDir, dest string) error {
	out, err := run(ctx, "go", "mod", "download", "-json", ComposeModule)
	if err != nil {
		return fmt.Errorf("download %s: %w", ComposeModule, err)
	}
	var module struct{ Dir string }
	if err := json.Unmarshal([]byte(out), &module); err != nil || module.Dir == "" {
		return fmt.Errorf("download %s: no module folder in %q", ComposeModule, Tail(out, 3))
	}
	src := module.Dir
	if err := os.RemoveAll(workDir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(workDir), 0o755); err != nil {
		return err
	}
	if _, err := run(ctx, "cp", "-r", src, workDir); err != nil {
		return err
	}
	if _, err := run(ctx, "chmod", "-R", "u+w", workDir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	_, version, _ := strings.Cut(ComposeModule, "@")
	env := append(os.Environ(), "CGO_ENABLED=0")
	ldflags := "-s -w -X github.com/docker/compose/v5/internal.Version=" + version
	if _, err := runEnv(ctx, env, "go", "-C", workDir, "build", "-trimpath", "-ldflags="+ldflags, "-o", dest, "./cmd"); err != nil {
		return fmt.Errorf("build the compose plugin: %w", err)
	}
	return nil
}
