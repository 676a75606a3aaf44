package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// An engine restart (an upgrade of the docker.io package, a crash, an
// operator's restart) stops every container on the engine unless dockerd runs
// with live-restore: then containers keep running while dockerd is away, their
// published ports keep forwarding (the kernel's NAT rules stay), and the new
// dockerd takes them over again. Measured here under load, a restart without
// it failed every request for about two seconds on compose, until the restart
// policy had the stack up again; with it, none failed.
//
// Docker refuses live-restore in swarm mode: `docker swarm init` fails with it,
// and a dockerd whose data root holds a swarm node exits at start with it
// ("--live-restore daemon configuration is incompatible with swarm mode"). So
// an engine that is, or is about to be, in a swarm runs without it.
//
// Setup sets live-restore in dockerd's configuration file, never by a flag:
// every start of dockerd reads the file, whoever starts it (setup, the
// distribution's init script after a package upgrade, an operator), and
// dockerd reloads it on SIGHUP, so that turning it on or off changes nothing
// that runs. A flag would hold only for the starts setup makes, and a dockerd
// started without it finds the containers its predecessor left running, stops
// them and, measured here, does not start them again (restart: unless-stopped
// notwithstanding). Setup writes the file only when there is none, and changes
// it later only while it is exactly as setup wrote it (a note beside it
// records its digest): an operator's own file is theirs, and setup says what
// to change in it instead.

// The local engine's files when dockerd is started without flags saying
// otherwise.
const (
	defaultDaemonConfig  = "/etc/docker/daemon.json"
	defaultDaemonPidfile = "/var/run/docker.pid"
	defaultDataRoot      = "/var/lib/docker"
	defaultDockerHost    = "unix:///var/run/docker.sock"
)

// EngineFiles are the local engine's files setup reads and writes. The zero
// value is dockerd's defaults; tests point them elsewhere.
type EngineFiles struct {
	Config   string // dockerd's configuration file (daemon.json)
	Pidfile  string // where dockerd writes its process id, unless daemon.json says
	DataRoot string // where dockerd keeps its state, unless daemon.json says
	Log      string // where setup sends the output of a dockerd it starts
	Proc     string // the proc filesystem, to check that the pid is a dockerd
	// Reload asks process pid to reload its configuration (SIGHUP).
	Reload func(pid int) error
}

func (h *Host) files() EngineFiles {
	f := h.Files
	if f.Config == "" {
		f.Config = defaultDaemonConfig
	}
	if f.Pidfile == "" {
		f.Pidfile = defaultDaemonPidfile
	}
	if f.DataRoot == "" {
		f.DataRoot = defaultDataRoot
	}
	if f.Log == "" {
		f.Log = dockerdLog
	}
	if f.Proc == "" {
		f.Proc = "/proc"
	}
	if f.Reload == nil {
		f.Reload = func(pid int) error { return syscall.Kill(pid, syscall.SIGHUP) }
	}
	return f
}

// daemonConfig is dockerd's configuration file as setup finds it.
type daemonConfig struct {
	path   string
	root   string // the data root when the file names none
	exists bool
	keys   map[string]json.RawMessage
	// ours: setup wrote it and nobody has changed it since.
	ours bool
}

// readDaemonConfig reads path; a file that is not a JSON object is an error,
// as dockerd refuses to start with it.
func readDaemonConfig(f EngineFiles) (daemonConfig, error) {
	path := f.Config
	c := daemonConfig{path: path, root: f.DataRoot}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	c.exists = true
	if err := json.Unmarshal(data, &c.keys); err != nil {
		return c, fmt.Errorf("%s is not a JSON object, and dockerd refuses to start with it: %v", path, err)
	}
	note, err := os.ReadFile(notePath(path))
	c.ours = err == nil && strings.Contains(string(note), "sha256 "+digest(data)+"\n")
	return c, nil
}

func (c daemonConfig) has(key string) bool {
	_, ok := c.keys[key]
	return ok
}

// liveRestore is what the file sets, false when it says nothing.
func (c daemonConfig) liveRestore() bool {
	var on bool
	if raw, ok := c.keys["live-restore"]; ok && json.Unmarshal(raw, &on) == nil {
		return on
	}
	return false
}

func (c daemonConfig) text(key, fallback string) string {
	var s string
	if raw, ok := c.keys[key]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
		return s
	}
	return fallback
}

// dataRoot is where the engine keeps its state ("graph" is the old name of
// "data-root", which dockerd 20.10 still reads).
func (c daemonConfig) dataRoot() string {
	return c.text("data-root", c.text("graph", c.root))
}

// swarmOnDisk says whether the engine's data root holds a swarm node: dockerd
// rejoins that swarm at start (it removes the file when it leaves one).
func (c daemonConfig) swarmOnDisk() bool {
	_, err := os.Stat(filepath.Join(c.dataRoot(), "swarm", "docker-state.json"))
	return err == nil
}

func notePath(config string) string { return config + ".swiftdeploy" }

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// writeLiveRestore writes setup's own configuration file, which sets
// live-restore alone, then the note that tells it apart from an operator's.
func writeLiveRestore(path string, on bool) error {
	data := []byte(fmt.Sprintf("{\n  \"live-restore\": %t\n}\n", on))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return err
	}
	note := fmt.Sprintf("SwiftDeploy's setup wrote %s. It changes \"live-restore\" there (on for compose stacks, off for swarm mode, which refuses it) only while the file is exactly as setup wrote it:\nsha256 %s\nEdit the file and setup leaves it alone; remove this note with it.\n",
		filepath.Base(path), digest(data))
	return atomicfile.Write(notePath(path), []byte(note), 0o644)
}

// engineIsLocal says why the engine the Docker CLI talks to may not be the
// dockerd of this host's default socket, whose files setup manages.
func engineIsLocal() error {
	if h := os.Getenv("DOCKER_HOST"); h != "" && h != defaultDockerHost {
		return fmt.Errorf("DOCKER_HOST names another engine (%s)", h)
	}
	if c := os.Getenv("DOCKER_CONTEXT"); c != "" && c != "default" {
		return fmt.Errorf("DOCKER_CONTEXT names another engine (%s)", c)
	}
	return nil
}

// dockerd finds the running dockerd from its pidfile, checks that the
// process is one, and says why setup may not reload it when its command line
// sets what the file would (dockerd refuses a setting given both ways) or
// names another configuration file.
func (f EngineFiles) dockerd(c daemonConfig) (int, error) {
	pidfile := c.text("pidfile", f.Pidfile)
	data, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, fmt.Errorf("no dockerd process id in %s (%v)", pidfile, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s holds no process id", pidfile)
	}
	proc := filepath.Join(f.Proc, strconv.Itoa(pid))
	if comm, err := os.ReadFile(filepath.Join(proc, "comm")); err != nil || strings.TrimSpace(string(comm)) != "dockerd" {
		return 0, fmt.Errorf("process %d of %s is not a running dockerd", pid, pidfile)
	}
	cmdline, _ := os.ReadFile(filepath.Join(proc, "cmdline"))
	for _, arg := range strings.Split(string(cmdline), "\x00") {
		for _, flag := range []string{"--live-restore", "--config-file"} {
			if arg == flag || strings.HasPrefix(arg, flag+"=") {
				return 0, fmt.Errorf("dockerd was started with %s", arg)
			}
		}
	}
	return pid, nil
}

// reloadHint is how an operator changes live-restore without restarting
// anything.
func reloadHint(c daemonConfig, f EngineFiles, on bool) string {
	return fmt.Sprintf("set \"live-restore\": %t in %s and reload dockerd: kill -HUP $(cat %s) (running containers are not touched)", on, c.path, c.text("pidfile", f.Pidfile))
}

// liveRestoreNote describes an engine whose live-restore is what the
// runtime needs, warning when a restart stops a compose stack anyway.
func (h *Host) liveRestoreNote(on, forSwarm, inSwarm bool) string {
	switch {
	case on:
		return "live-restore on: containers keep running while the engine restarts"
	case forSwarm:
		return "live-restore off, as swarm mode needs (Docker refuses it there)"
	default:
		h.Out.Warn("this engine is a swarm node, and Docker refuses live-restore in swarm mode: a restart of the engine stops this stack until its restart policy starts it again")
		return "live-restore off (this engine is a swarm node)"
	}
}

// prepareStart readies the configuration file before setup starts dockerd,
// and returns the flags to start it with: a swarm node's engine must start
// without live-restore, any other should start with it; setup changes the
// file when it is its own, or absent. A file of the operator's that turns
// live-restore on for a swarm node is an error: dockerd would exit at start.
func (h *Host) prepareStart(forSwarm bool) ([]string, error) {
	f := h.files()
	c, err := readDaemonConfig(f)
	if err != nil {
		return nil, err
	}
	inSwarm := c.swarmOnDisk()
	want := !forSwarm && !inSwarm
	if on := c.liveRestore(); on != want {
		switch {
		case (!c.exists || c.ours) && engineIsLocal() == nil:
			if err := writeLiveRestore(c.path, want); err != nil {
				return nil, fmt.Errorf("set live-restore in %s: %w", c.path, err)
			}
		case on && inSwarm:
			return nil, fmt.Errorf("dockerd would not start: %s turns live-restore on and this engine is a swarm node (%s), which Docker refuses (\"--live-restore daemon configuration is incompatible with swarm mode\"): set \"live-restore\": false there, then run setup again",
				c.path, filepath.Join(c.dataRoot(), "swarm"))
		}
	}
	// Without the userland proxy, a published port is forwarded by the
	// kernel (iptables NAT, loopback included) instead of a docker-proxy
	// process copying every byte: twice the requests per second through
	// nginx here (10,900 against 5,100-6,000 req/s). dockerd refuses a flag
	// that its configuration file sets too, so the file's choice stands.
	var args []string
	if !c.has("userland-proxy") {
		args = append(args, "--userland-proxy=false")
	}
	return args, nil
}

// keepLiveRestore makes a running engine's live-restore what the manifest's
// runtime needs, reloading dockerd when setup may change it, and otherwise
// says what the operator can do: a warning for a compose stack that an
// engine restart would stop, an error for a swarm manifest on an engine whose
// live-restore keeps it from becoming a swarm manager.
func (h *Host) keepLiveRestore(ctx context.Context, forSwarm bool) (string, error) {
	on, err := docker.LiveRestore(ctx)
	if err != nil {
		return "", err
	}
	st, err := docker.Swarm(ctx)
	if err != nil {
		return "", err
	}
	inSwarm := st.State != "" && st.State != "inactive"
	want := !forSwarm && !inSwarm
	if on == want {
		return h.liveRestoreNote(on, forSwarm, inSwarm), nil
	}
	f := h.files()
	c, err := readDaemonConfig(f)
	var pid int
	switch {
	case err != nil:
	case engineIsLocal() != nil:
		err = engineIsLocal()
	case c.exists && !c.ours:
		err = fmt.Errorf("%s is yours (setup changes only a file it wrote, unchanged since)", c.path)
	default:
		pid, err = f.dockerd(c)
	}
	if err != nil {
		return h.cannotChange(c, f, on, inSwarm, err)
	}
	if err := writeLiveRestore(c.path, want); err != nil {
		return h.cannotChange(c, f, on, inSwarm, err)
	}
	if err := f.Reload(pid); err != nil {
		return h.cannotChange(c, f, on, inSwarm, fmt.Errorf("reload dockerd (pid %d): %w", pid, err))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		now, err := docker.LiveRestore(ctx)
		if err == nil && now == want {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("dockerd (pid %d) was asked to reload %s with live-restore %t, and still says %t; see its log (%s)", pid, c.path, want, now, f.Log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if want {
		return "live-restore turned on in " + c.path + " and dockerd reloaded (nothing restarted): containers keep running while the engine restarts", nil
	}
	return "live-restore turned off in " + c.path + " and dockerd reloaded (nothing restarted), as swarm mode needs: an engine restart stops and restarts the containers on it", nil
}

// cannotChange says what an operator can do about a live-restore setup
// leaves as it is, for why.
func (h *Host) cannotChange(c daemonConfig, f EngineFiles, on, inSwarm bool, why error) (string, error) {
	switch {
	case !on:
		h.Out.Warn("a restart of the Docker engine stops every container on it, this stack's too: live-restore is off, and setup leaves it as it is because %v; to keep containers running through a restart, %s", why, reloadHint(c, f, true))
		return "live-restore off (see the warning)", nil
	case inSwarm:
		h.Out.Warn("this engine is a swarm node with live-restore on, which Docker refuses at start: dockerd will not start again as it is. Setup leaves it as it is because %v; %s", why, reloadHint(c, f, false))
		return "live-restore on in swarm mode (see the warning)", nil
	default:
		return "", fmt.Errorf("Docker refuses swarm mode on an engine with live-restore on (`docker swarm init` fails), and setup leaves it as it is because %v: %s, then run setup again", why, reloadHint(c, f, false))
	}
}

// RestartSafety says what a restart of the Docker engine does to a stack of
// this runtime (swarm or not), for validate: whether the stack keeps running
// through it, and why or what to do.
func RestartSafety(ctx context.Context, forSwarm bool) (keeps bool, note string, err error) {
	on, err := docker.LiveRestore(ctx)
	if err != nil {
		return false, "", err
	}
	st, err := docker.Swarm(ctx)
	if err != nil {
		return false, "", err
	}
	inSwarm := st.State != "" && st.State != "inactive"
	switch {
	case forSwarm:
		return false, "on swarm, a restart of this engine stops the tasks on it, and swarm starts new ones once it is back (Docker refuses live-restore in swarm mode); nginx runs on a manager, so while that manager's engine restarts the stack does not answer", nil
	case on:
		return true, "a restart of the Docker engine keeps this stack running (live-restore)", nil
	case inSwarm:
		return false, "a restart of the Docker engine stops this stack until its restart policy starts it again: this engine is a swarm node, and Docker refuses live-restore in swarm mode", nil
	default:
		return false, fmt.Sprintf("a restart of the Docker engine stops this stack: live-restore is off. `setup` turns it on when %s is absent or its own; otherwise set \"live-restore\": true there and reload dockerd: kill -HUP $(cat %s) (running containers are not touched)", defaultDaemonConfig, defaultDaemonPidfile), nil
	}
}
