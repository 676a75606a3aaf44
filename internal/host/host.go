// Package host makes this machine ready to run stacks: a Docker engine that
// answers, the Compose v2 plugin, and the images a stack runs (the app built
// from service/, the resolver built from resolver/, and an nginx new enough for
// the generated nginx.conf). Each step does only what is missing, so that
// running them again on a ready host takes seconds. This package knows which
// steps a manifest needs (Steps), the runtime's among them, and how to do each
// one; printing their outcomes and recording them in history is
// internal/stack's business. It also answers what validate and deploy ask of
// this host before a stack runs on it: that its engine answers, that the
// images are here, that nginx's port is free, that nginx accepts the generated
// configuration and that the app's image keeps the service contract.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// Where setup keeps what it builds and logs.
const (
	dockerdLog = "/var/log/swiftdeploy-dockerd.log"
	// nginxSuite is the Debian release the registry-free nginx image is built from.
	nginxSuite = "sid"
)

// How long Engine waits for a dockerd it started to answer, and how often it
// asks: a fresh engine takes a few seconds, a slow disk longer.
const (
	engineWait      = 60 * time.Second
	enginePollEvery = 500 * time.Millisecond
)

// Host is this machine, seen from one SwiftDeploy project folder: the images
// are built from that folder's service/ and resolver/.
//
// Each method returns a short note saying what it found or did, for the
// caller to print beside the step's name, or an error saying what is missing
// and what the operator can do about it.
type Host struct {
	// Root is the project folder, which holds service/ and resolver/.
	Root string
	// Out receives what a step does on the way (an install, a build, a
	// warning); the step's outcome is left to the caller.
	Out *ui.Printer
	// Files are the local engine's configuration and process files; the
	// zero value is dockerd's defaults.
	Files EngineFiles
	// PeerFiles are what installing the peer proxies touches; the zero
	// value is Debian's.
	PeerFiles PeerFiles
}

// Engine makes sure a Docker engine answers, with the live-restore setting a
// stack of the manifest's runtime needs (on, except in swarm mode, which
// refuses it; see liverestore.go). It installs Debian's docker.io when no
// dockerd is present and the host allows it, starts dockerd in the background
// when it is not running, and waits up to a minute for it.
func (h *Host) Engine(ctx context.Context, forSwarm bool) (string, error) {
	if v, err := docker.Ping(ctx); err == nil {
		lr, err := h.keepLiveRestore(ctx, forSwarm)
		if err != nil {
			return "", err
		}
		return "engine " + v + " answers; " + lr, nil
	}
	if err := engineIsLocal(); err != nil {
		return "", fmt.Errorf("no Docker engine answers, and %v: start that engine (setup starts only this host's own dockerd)", err)
	}
	installed := ""
	if !docker.Available("dockerd") {
		if err := canInstallPackages(); err != nil {
			return "", fmt.Errorf("no Docker engine here and %w: install Docker Engine 20.10 or newer and start it", err)
		}
		h.Out.Step("installing the Docker engine from the distribution's packages (docker.io)")
		if err := docker.AptInstall(ctx, "docker.io"); err != nil {
			return "", err
		}
		installed = "installed docker.io, "
	}
	args, err := h.prepareStart(forSwarm)
	if err != nil {
		return "", err
	}
	log := h.files().Log
	h.Out.Step("starting dockerd in the background (log: %s)", log)
	exited, err := docker.StartDaemon(log, args...)
	if err != nil {
		return "", err
	}
	version, err := h.awaitEngine(ctx, exited)
	if err != nil {
		return "", err
	}
	lr, err := h.keepLiveRestore(ctx, forSwarm)
	if err != nil {
		return "", err
	}
	return installed + "started engine " + version + "; " + lr, nil
}

// awaitEngine asks the engine for its version until it answers, showing
// progress meanwhile. It gives up when the dockerd it started exits, with
// the last line of dockerd's log (a refused configuration is one line), or
// after engineWait, pointing at the log.
func (h *Host) awaitEngine(ctx context.Context, exited <-chan struct{}) (string, error) {
	const what = "the Docker engine to answer"
	log := h.files().Log
	ctx, cancel := context.WithTimeout(ctx, engineWait)
	defer cancel()
	progress := h.Out.Progress(what)
	defer progress.Done()
	ticker := time.NewTicker(enginePollEvery)
	defer ticker.Stop()
	for {
		if v, err := docker.Ping(ctx); err == nil {
			return v, nil
		}
		progress.Update("")
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("gave up waiting for %s after %s; see %s", what, progress.Elapsed().Round(time.Second), log)
		case <-exited:
			return "", fmt.Errorf("dockerd exited before it answered: %s (see %s)", lastLine(log), log)
		case <-ticker.C:
		}
	}
}

// lastLine is the last line of a log file: the reason dockerd gave up.
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const tail = 4096
	if info, err := f.Stat(); err == nil && info.Size() > tail {
		f.Seek(info.Size()-tail, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return docker.Tail(string(data), 1)
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

// Compose makes sure `docker compose` works, building the v2 plugin from
// source into ~/.docker/cli-plugins when it is missing and Go is here to build
// it.
func (h *Host) Compose(ctx context.Context) (string, error) {
	if v, err := docker.ComposeVersion(ctx); err == nil {
		return "version " + v, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	// Where setup builds it; asked directly, since the docker CLI may not
	// be installed yet (the engine's step runs beside this one).
	dest := filepath.Join(home, ".docker", "cli-plugins", "docker-compose")
	if v, err := docker.ComposePluginVersion(ctx, dest); err == nil {
		return "version " + v, nil
	}
	if !docker.Available("go") {
		return "", errors.New("`docker compose` is missing and Go is not installed to build it: install the Docker Compose v2 plugin")
	}
	work := filepath.Join(os.TempDir(), "swiftdeploy-compose-src")
	h.Out.Step("building the Compose plugin from %s (about a minute the first time)", docker.ComposeModule)
	if err := docker.BuildComposePlugin(ctx, work, dest); err != nil {
		return "", err
	}
	os.RemoveAll(work)
	v, err := docker.ComposePluginVersion(ctx, dest)
	if err != nil {
		return "", err
	}
	return "built version " + v + " into " + dest, nil
}

// firstLine keeps the first line of a command's error, cut to a length that
// fits on one line of output.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	const limit = 160
	if len(line) <= limit {
		return line
	}
	return line[:limit] + "…"
}
