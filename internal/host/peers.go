package host

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// The bench target measures the stack beside other proxies on the same app
// container (e2e's BenchmarkProxies): HAProxy, Caddy and a minimal nginx from
// Debian's packages, each run by the benchmark as a host process with its own
// configuration on a free port, and stopped afterwards. The packages are
// installed here, by the bench target only: the tests need none of them.
//
// Debian starts a package's service as it installs it: nginx and Caddy would
// bind port 80 with their default configuration. PeerProxies holds every
// service start during the install with a policy-rc.d that exits 101 (what
// invoke-rc.d and deb-systemd-invoke ask before they start anything), turns
// the services off at boot, and makes sure that none of them runs afterwards.

// Peer is one peer proxy: its Debian package, the service that package
// installs and the program the benchmark runs.
type Peer struct {
	Package, Service, Program string
}

// Peers are the proxies BenchmarkProxies runs beside the stack.
var Peers = []Peer{
	{Package: "haproxy", Service: "haproxy", Program: "/usr/sbin/haproxy"},
	{Package: "caddy", Service: "caddy", Program: "/usr/bin/caddy"},
	{Package: "nginx-light", Service: "nginx", Program: "/usr/sbin/nginx"},
}

// policyRC is what PeerProxies writes as policy-rc.d while it installs:
// every service start refused.
const policyRC = "#!/bin/sh\n# Written by SwiftDeploy's bench setup while it installs the peer proxies: no service starts.\nexit 101\n"

// How long PeerProxies waits for a service its install started to stop.
const peerStopWait = 10 * time.Second

// PeerFiles are the host's files PeerProxies reads and writes; the zero value
// is Debian's. Tests point them elsewhere.
type PeerFiles struct {
	// PolicyRC is the distribution's service policy, /usr/sbin/policy-rc.d.
	PolicyRC string
	// Proc is the proc filesystem, where running peers are looked for.
	Proc string
	// Stop asks process pid to stop (SIGTERM).
	Stop func(pid int) error
	// CanInstall says why packages cannot be installed here, nil if they can.
	CanInstall func() error
	// InitD holds the services' init scripts, /etc/init.d.
	InitD string
	// Systemd exists while systemd is the init system, /run/systemd/system.
	Systemd string
}

func (f PeerFiles) withDefaults() PeerFiles {
	if f.PolicyRC == "" {
		f.PolicyRC = "/usr/sbin/policy-rc.d"
	}
	if f.Proc == "" {
		f.Proc = "/proc"
	}
	if f.Stop == nil {
		f.Stop = func(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }
	}
	if f.CanInstall == nil {
		f.CanInstall = canInstallPackages
	}
	if f.InitD == "" {
		f.InitD = "/etc/init.d"
	}
	if f.Systemd == "" {
		f.Systemd = "/run/systemd/system"
	}
	return f
}

// PeerProxies installs the peer proxies that are missing, with every service
// start held during the install, their services off at boot and none of them
// running afterwards. Packages already installed are left as they are, and so
// are their services: they are the operator's.
func (h *Host) PeerProxies(ctx context.Context) (string, error) {
	f := h.PeerFiles.withDefaults()
	var names []string
	for _, p := range Peers {
		names = append(names, p.Package)
	}
	installed, err := docker.InstalledPackages(ctx, names...)
	if err != nil {
		return "", err
	}
	var missing []Peer
	for _, p := range Peers {
		if !installed[p.Package] {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return strings.Join(names, ", ") + " present", nil
	}
	var packages []string
	for _, p := range missing {
		packages = append(packages, p.Package)
	}
	if err := f.CanInstall(); err != nil {
		return "", fmt.Errorf("the benchmark beside peer proxies needs %s and %w: install them with their services stopped", strings.Join(packages, ", "), err)
	}
	before, err := runningPeers(f.Proc, missing)
	if err != nil {
		return "", err
	}
	release, err := holdServiceStarts(ctx, f.PolicyRC, missing)
	if err != nil {
		return "", err
	}
	h.Out.Step("installing %s from the distribution's packages, their services held (%s exits 101)", strings.Join(packages, ", "), f.PolicyRC)
	err = docker.AptInstall(ctx, packages...)
	if releaseErr := release(); err == nil {
		err = releaseErr
	}
	if err != nil {
		return "", err
	}
	for _, p := range missing {
		if err := disableAtBoot(ctx, f, p.Service); err != nil {
			return "", err
		}
	}
	stopped, err := stopStartedPeers(f, missing, before)
	if err != nil {
		return "", err
	}
	note := "installed " + strings.Join(packages, ", ") + ", services off at boot and not running"
	if len(stopped) > 0 {
		note += " (stopped " + strings.Join(stopped, ", ") + ", which the install started)"
	}
	return note, nil
}

// holdServiceStarts makes policy-rc.d refuse every start of peers' services
// until release: it writes one when there is none, and removes it at release.
// A policy-rc.d already there is the host's and stays as it is, so it must
// refuse them itself (a container image's usually refuses every start).
func holdServiceStarts(ctx context.Context, path string, peers []Peer) (release func() error, err error) {
	if _, err := os.Stat(path); err == nil {
		for _, p := range peers {
			denies, err := docker.PolicyDenies(ctx, path, p.Service)
			if err != nil {
				return nil, err
			}
			if !denies {
				return nil, fmt.Errorf("%s lets the %s service start as its package installs, and it is not SwiftDeploy's to change: install %s with their services stopped, or let %s exit 101 meanwhile", path, p.Service, packageList(peers), path)
			}
		}
		return func() error { return nil }, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(policyRC), 0o755); err != nil {
		return nil, fmt.Errorf("hold service starts during the install: %w", err)
	}
	return func() error {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove the %s written for the install: %w", path, err)
		}
		return nil
	}, nil
}

// disableAtBoot keeps service from starting at boot: by its init script
// when it has one (haproxy, nginx), else, under systemd, by its unit (caddy
// has only a unit, which no other init system starts).
func disableAtBoot(ctx context.Context, f PeerFiles, service string) error {
	if _, err := os.Stat(filepath.Join(f.InitD, service)); err == nil {
		return docker.DisableInitScript(ctx, service)
	}
	if _, err := os.Stat(f.Systemd); err == nil {
		return docker.DisableUnit(ctx, service)
	}
	return nil
}

func packageList(peers []Peer) string {
	var names []string
	for _, p := range peers {
		names = append(names, p.Package)
	}
	return strings.Join(names, ", ")
}

// stopStartedPeers stops every peer process that runs now and did not before
// the install, and waits until they are gone; it names each one it stopped.
func stopStartedPeers(f PeerFiles, peers []Peer, before []int) ([]string, error) {
	after, err := runningPeers(f.Proc, peers)
	if err != nil {
		return nil, err
	}
	var stopped []string
	var pids []int
	for _, pid := range after {
		if slices.Contains(before, pid) {
			continue
		}
		name := filepath.Base(exeOf(f.Proc, pid))
		if err := f.Stop(pid); err != nil && !errors.Is(err, syscall.ESRCH) {
			return nil, fmt.Errorf("stop %s (pid %d), which the install started: %w", name, pid, err)
		}
		pids = append(pids, pid)
		stopped = append(stopped, fmt.Sprintf("%s (pid %d)", name, pid))
	}
	deadline := time.Now().Add(peerStopWait)
	for _, pid := range pids {
		for alive(f.Proc, pid) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("process %d, which the install started, still runs %s after it was asked to stop", pid, peerStopWait)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return stopped, nil
}

// runningPeers lists the processes of this host (those in this process's
// mount namespace: a container's nginx is not the host's) that run one of
// peers' programs.
func runningPeers(proc string, peers []Peer) ([]int, error) {
	own, err := os.Readlink(filepath.Join(proc, "self", "ns", "mnt"))
	if err != nil {
		return nil, fmt.Errorf("look for running peer proxies: %w", err)
	}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("look for running peer proxies: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe := exeOf(proc, pid)
		if !slices.ContainsFunc(peers, func(p Peer) bool { return p.Program == exe }) {
			continue
		}
		if ns, err := os.Readlink(filepath.Join(proc, e.Name(), "ns", "mnt")); err == nil && ns == own {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// exeOf is the program process pid runs, "" when it cannot be read (a kernel
// thread, a process gone meanwhile).
func exeOf(proc string, pid int) string {
	exe, _ := os.Readlink(filepath.Join(proc, strconv.Itoa(pid), "exe"))
	return strings.TrimSuffix(exe, " (deleted)")
}

// alive says whether process pid still runs: a zombie does not (a daemon's
// parent, init, may be slow to reap it, or never do).
func alive(proc string, pid int) bool {
	status, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "status"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if state, ok := strings.CutPrefix(line, "State:"); ok {
			return !strings.HasPrefix(strings.TrimSpace(state), "Z")
		}
	}
	return true
}
