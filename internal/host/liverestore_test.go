package host

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
)

const (
	versionInfo     = "info --format {{.ServerVersion}}"
	liveRestoreInfo = "info --format {{.LiveRestoreEnabled}}"
	inSwarm         = `{"NodeID":"n1","LocalNodeState":"active","ControlAvailable":true,"Nodes":1}`
)

// runningDockerd gives h's engine files a dockerd of pid 4242 started with
// args, and records the reloads asked of it.
func runningDockerd(t *testing.T, h *Host, args ...string) *[]int {
	t.Helper()
	proc := filepath.Join(h.Files.Proc, "4242")
	write(t, filepath.Join(proc, "comm"), "dockerd\n")
	write(t, filepath.Join(proc, "cmdline"), strings.Join(append([]string{"dockerd"}, args...), "\x00")+"\x00")
	write(t, h.Files.Pidfile, "4242")
	var reloads []int
	h.Files.Reload = func(pid int) error {
		reloads = append(reloads, pid)
		return nil
	}
	return &reloads
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

func TestAnEngineThatAnswersWithLiveRestoreOnIsLeftAlone(t *testing.T) {
	dockertest.New(t).On(versionInfo, "24.0.7\n").On(liveRestoreInfo, "true\n").On(swarmInfo, inactive)
	h := hostIn(t, new(bytes.Buffer))
	note, err := h.Engine(within(t), false)
	if err != nil || note != "engine 24.0.7 answers; live-restore on: containers keep running while the engine restarts" {
		t.Errorf("Engine() = %q, %v", note, err)
	}
	if _, err := os.Stat(h.Files.Config); !os.IsNotExist(err) {
		t.Errorf("Engine() wrote %s for an engine that needed nothing", h.Files.Config)
	}
}

// The engine an earlier setup started, without live-restore, is given it by a
// reload: nothing that runs on it restarts.
func TestSetupTurnsLiveRestoreOnInARunningEngineByReloadingIt(t *testing.T) {
	f := dockertest.New(t).On(versionInfo, "20.10.24\n").On(liveRestoreInfo, "false\n", "true\n").On(swarmInfo, inactive)
	h := hostIn(t, new(bytes.Buffer))
	reloads := runningDockerd(t, h, "--userland-proxy=false")
	note, err := h.Engine(within(t), false)
	want := "engine 20.10.24 answers; live-restore turned on in " + h.Files.Config + " and dockerd reloaded (nothing restarted): containers keep running while the engine restarts"
	if err != nil || note != want {
		t.Errorf("Engine() = %q, %v; want %q", note, err, want)
	}
	if got := read(t, h.Files.Config); got != "{\n  \"live-restore\": true\n}\n" {
		t.Errorf("daemon.json = %q", got)
	}
	if !slices.Equal(*reloads, []int{4242}) || f.Count(liveRestoreInfo) != 2 {
		t.Errorf("reloads %v, calls %q; want one reload of dockerd, then its answer checked", *reloads, f.Calls())
	}
	if !strings.Contains(read(t, notePath(h.Files.Config)), "sha256 ") {
		t.Errorf("no note beside daemon.json says setup wrote it")
	}
}

// Swarm mode refuses live-restore: for a swarm manifest, setup turns off
// what it turned on itself, and refuses to go on when the setting is the
// operator's.
func TestASwarmManifestTurnsOffTheLiveRestoreSetupTurnedOn(t *testing.T) {
	dockertest.New(t).On(versionInfo, "20.10.24\n").On(liveRestoreInfo, "true\n", "false\n").On(swarmInfo, inactive)
	h := hostIn(t, new(bytes.Buffer))
	reloads := runningDockerd(t, h)
	if err := writeLiveRestore(h.Files.Config, true); err != nil {
		t.Fatal(err)
	}
	note, err := h.Engine(within(t), true)
	if err != nil || !strings.HasSuffix(note, "live-restore turned off in "+h.Files.Config+" and dockerd reloaded (nothing restarted), as swarm mode needs: an engine restart stops and restarts the containers on it") {
		t.Errorf("Engine() = %q, %v", note, err)
	}
	if got := read(t, h.Files.Config); got != "{\n  \"live-restore\": false\n}\n" || len(*reloads) != 1 {
		t.Errorf("daemon.json = %q after %d reloads", got, len(*reloads))
	}
}

func TestAnOperatorsOwnDaemonJSONIsNeverChanged(t *testing.T) {
	for _, c := range []struct {
		name, config string
		args         []string
		forSwarm     bool
		warning, err string
	}{
		{name: "a file of their own", config: `{"debug": true}`,
			warning: "live-restore is off, and setup leaves it as it is because CONFIG is yours (setup changes only a file it wrote, unchanged since); to keep containers running through a restart, set \"live-restore\": true in CONFIG and reload dockerd: kill -HUP $(cat PIDFILE) (running containers are not touched)"},
		{name: "setup's file, edited since", config: "{\n  \"live-restore\": false,\n  \"debug\": true\n}\n", warning: "because CONFIG is yours"},
		{name: "a flag on dockerd's command line", args: []string{"--live-restore=false"}, warning: "because dockerd was started with --live-restore=false;"},
		{name: "another configuration file", args: []string{"--config-file", "/srv/docker.json"}, warning: "because dockerd was started with --config-file;"},
		{name: "a swarm manifest on their live-restore", config: `{"live-restore": true}`, forSwarm: true,
			err: "Docker refuses swarm mode on an engine with live-restore on (`docker swarm init` fails), and setup leaves it as it is because CONFIG is yours (setup changes only a file it wrote, unchanged since): set \"live-restore\": false in CONFIG and reload dockerd: kill -HUP $(cat PIDFILE) (running containers are not touched), then run setup again"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lr := "false\n"
			if c.forSwarm {
				lr = "true\n"
			}
			dockertest.New(t).On(versionInfo, "20.10.24\n").On(liveRestoreInfo, lr).On(swarmInfo, inactive)
			var out bytes.Buffer
			h := hostIn(t, &out)
			reloads := runningDockerd(t, h, c.args...)
			if c.name == "setup's file, edited since" {
				if err := writeLiveRestore(h.Files.Config, false); err != nil {
					t.Fatal(err)
				}
			}
			if c.config != "" {
				write(t, h.Files.Config, c.config)
			}
			named := strings.NewReplacer("CONFIG", h.Files.Config, "PIDFILE", h.Files.Pidfile)
			note, err := h.Engine(within(t), c.forSwarm)
			switch {
			case c.err != "":
				if err == nil || err.Error() != named.Replace(c.err) {
					t.Errorf("Engine() = %q, %v; want the error %q", note, err, named.Replace(c.err))
				}
			case err != nil || note != "engine 20.10.24 answers; live-restore off (see the warning)" || !strings.Contains(out.String(), named.Replace(c.warning)):
				t.Errorf("Engine() = %q, %v, printed %q; want a warning with %q", note, err, out.String(), named.Replace(c.warning))
			}
			if got := read(t, h.Files.Config); got != c.config && c.config != "" {
				t.Errorf("daemon.json changed to %q", got)
			}
			if len(*reloads) != 0 {
				t.Errorf("dockerd reloaded %d times", len(*reloads))
			}
		})
	}
}

func TestAnotherEnginesSettingsAreLeftToIt(t *testing.T) {
	dockertest.New(t).On(versionInfo, "20.10.24\n").On(liveRestoreInfo, "false\n").On(swarmInfo, inactive)
	var out bytes.Buffer
	h := hostIn(t, &out)
	runningDockerd(t, h)
	t.Setenv("DOCKER_HOST", "tcp://10.0.0.2:2376")
	if _, err := h.Engine(within(t), false); err != nil || !strings.Contains(out.String(), "because DOCKER_HOST names another engine (tcp://10.0.0.2:2376)") {
		t.Errorf("Engine() error %v, printed %q", err, out.String())
	}
	if _, err := os.Stat(h.Files.Config); !os.IsNotExist(err) {
		t.Errorf("Engine() wrote this host's daemon.json for another engine")
	}
}

// A swarm node cannot have live-restore: a compose stack on it is told that a
// restart stops it, and nothing is changed.
func TestAComposeStackOnASwarmNodeIsToldARestartStopsIt(t *testing.T) {
	dockertest.New(t).On(versionInfo, "20.10.24\n").On(liveRestoreInfo, "false\n").On(swarmInfo, inSwarm)
	var out bytes.Buffer
	note, err := hostIn(t, &out).Engine(within(t), false)
	if err != nil || note != "engine 20.10.24 answers; live-restore off (this engine is a swarm node)" ||
		!strings.Contains(out.String(), "a restart of the engine stops this stack until its restart policy starts it again") {
		t.Errorf("Engine() = %q, %v, printed %q", note, err, out.String())
	}
}

func TestBeforeStartingDockerdSetupPreparesItsConfiguration(t *testing.T) {
	swarmNode := func(t *testing.T, h *Host) {
		write(t, filepath.Join(h.Files.DataRoot, "swarm", "docker-state.json"), `{"LocalAddr":"10.0.0.1"}`)
	}
	for _, c := range []struct {
		name     string
		before   func(*testing.T, *Host)
		forSwarm bool
		args     []string
		config   string // what daemon.json says after; "" when there is none
		err      string
	}{
		{name: "no file: setup writes one with live-restore on",
			args: []string{"--userland-proxy=false"}, config: "{\n  \"live-restore\": true\n}\n"},
		{name: "a swarm manifest and no file: nothing to write", forSwarm: true, args: []string{"--userland-proxy=false"}},
		{name: "a swarm node's data root: setup's file turns live-restore off",
			before: func(t *testing.T, h *Host) { swarmNode(t, h); writeLiveRestore(h.Files.Config, true) },
			args:   []string{"--userland-proxy=false"}, config: "{\n  \"live-restore\": false\n}\n"},
		{name: "the operator's userland-proxy: no flag that dockerd would refuse",
			before: func(t *testing.T, h *Host) {
				write(t, h.Files.Config, `{"userland-proxy": true, "live-restore": true}`)
			},
			config: `{"userland-proxy": true, "live-restore": true}`},
		{name: "the operator's live-restore on a swarm node: dockerd would exit",
			before: func(t *testing.T, h *Host) { swarmNode(t, h); write(t, h.Files.Config, `{"live-restore": true}`) },
			config: `{"live-restore": true}`,
			err:    "dockerd would not start: CONFIG turns live-restore on and this engine is a swarm node (ROOT/swarm), which Docker refuses (\"--live-restore daemon configuration is incompatible with swarm mode\"): set \"live-restore\": false there, then run setup again"},
		{name: "a file that is not JSON", before: func(t *testing.T, h *Host) { write(t, h.Files.Config, "live-restore: true") },
			config: "live-restore: true", err: "CONFIG is not a JSON object, and dockerd refuses to start with it: invalid character 'l' looking for beginning of value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := hostIn(t, new(bytes.Buffer))
			if c.before != nil {
				c.before(t, h)
			}
			named := strings.NewReplacer("CONFIG", h.Files.Config, "ROOT", h.Files.DataRoot)
			args, err := h.prepareStart(c.forSwarm)
			if c.err != "" {
				if err == nil || err.Error() != named.Replace(c.err) {
					t.Errorf("prepareStart() error = %v, want %q", err, named.Replace(c.err))
				}
			} else if err != nil || !slices.Equal(args, c.args) {
				t.Errorf("prepareStart() = %q, %v; want %q", args, err, c.args)
			}
			if got := read(t, h.Files.Config); got != c.config {
				t.Errorf("daemon.json = %q, want %q", got, c.config)
			}
		})
	}
}

// A dockerd that refuses its configuration exits at once: setup says why
// from its log instead of waiting a minute.
func TestADockerdThatExitsAtStartIsReportedFromItsLog(t *testing.T) {
	dockertest.New(t).Fail(versionInfo, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", 1)
	h := hostIn(t, new(bytes.Buffer))
	write(t, h.Files.Log, "starting\nunable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives are specified both as a flag and in the configuration file: live-restore: (from flag: true, from file: true)\n")
	exited := make(chan struct{})
	close(exited)
	_, err := h.awaitEngine(within(t), exited)
	want := "dockerd exited before it answered: unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives are specified both as a flag and in the configuration file: live-restore: (from flag: true, from file: true) (see " + h.Files.Log + ")"
	if err == nil || err.Error() != want {
		t.Errorf("awaitEngine() error = %v, want %q", err, want)
	}
}

func TestValidateSaysWhatARestartOfTheEngineDoesToTheStack(t *testing.T) {
	for _, c := range []struct {
		name, liveRestore, swarm string
		forSwarm, keeps          bool
		note                     string
	}{
		{"live-restore on", "true", inactive, false, true, "a restart of the Docker engine keeps this stack running (live-restore)"},
		{"live-restore off", "false", inactive, false, false, "a restart of the Docker engine stops this stack: live-restore is off. `setup` turns it on when /etc/docker/daemon.json is absent or its own; otherwise set \"live-restore\": true there and reload dockerd: kill -HUP $(cat /var/run/docker.pid) (running containers are not touched)"},
		{"a compose stack on a swarm node", "false", inSwarm, false, false, "a restart of the Docker engine stops this stack until its restart policy starts it again: this engine is a swarm node, and Docker refuses live-restore in swarm mode"},
		{"a swarm stack", "false", inSwarm, true, false, "on swarm, a restart of this engine stops the tasks on it, and swarm starts new ones once it is back (Docker refuses live-restore in swarm mode); nginx runs on a manager, so while that manager's engine restarts the stack does not answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dockertest.New(t).On(liveRestoreInfo, c.liveRestore+"\n").On(swarmInfo, c.swarm)
			keeps, note, err := RestartSafety(within(t), c.forSwarm)
			if err != nil || keeps != c.keeps || note != c.note {
				t.Errorf("RestartSafety() = %t, %q, %v; want %t, %q", keeps, note, err, c.keeps, c.note)
			}
		})
	}
}
