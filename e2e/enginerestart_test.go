package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestTheStackServesThroughARestartOfTheEngine restarts the engine the suite
// set up as an upgrade of the docker.io package does: SIGTERM to dockerd and,
// once it has exited, `setup` starts it again. 20 Go clients that retry a
// request that failed (a connection refused, a reset) load nginx meanwhile,
// and none of their requests may fail: with live-restore the containers,
// their published port and Docker's DNS outlive dockerd. Then the stack's
// next status, deploy and release must behave.
//
// Beside them, 20 clients that never retry are loaded and reported, not
// judged: dockerd rebuilds its NAT rules when it starts (moby/moby#34660), so
// a connection opened in that instant (a fraction of a second here) is
// refused.
//
// It restarts the engine every other test uses, so it finds it as setup
// does, from dockerd's pidfile, and runs only against this host's default
// engine. A swarm node's engine cannot have live-restore (Docker refuses it):
// the test then fails saying so.
func TestTheStackServesThroughARestartOfTheEngine(t *testing.T) {
	pid := localDockerd(t)
	if state := swarmState(t); state != "inactive" {
		t.Fatalf("this engine is a swarm node (%s), and Docker refuses live-restore in swarm mode: an engine restart stops every stack on it. Leave the swarm (`docker swarm leave --force`; a swarm test leaves the engine a manager when other containers run on it) and run the test again", state)
	}
	p := newProject(t, manifestOptions{rollout: quickRollout})
	out := p.must("setup")
	if lr := docker(t, "info", "--format", "{{.LiveRestoreEnabled}}"); lr != "true" {
		t.Fatalf("after setup the engine's live-restore is %s, want true:\n%s", lr, out)
	}
	p.must("deploy")
	before := p.startedAt()

	retrying := startRetryingLoad(t, p.url("/"), 20)
	raw := startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	time.Sleep(2 * time.Second)
	signalled := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to dockerd (pid %d): %v", pid, err)
	}
	waitUntil(t, 60*time.Second, "dockerd to exit", func() bool { return !running(pid) })
	exited := time.Since(signalled)
	out = p.must("setup")
	back := time.Since(signalled)
	if !strings.Contains(out, "started engine") || !strings.Contains(out, "live-restore on") {
		t.Errorf("setup after dockerd exited did not say it started the engine with live-restore on")
	}
	time.Sleep(3 * time.Second)
	retrying.stop()
	raw.stop()
	t.Logf("dockerd exited %.1fs after SIGTERM, and setup had started it again %.1fs after it; Go clients that retry: %s; clients that never retry: %s",
		exited.Seconds(), back.Seconds(), retrying, raw)
	if retrying.failed.Load() != 0 || retrying.ok.Load() == 0 {
		t.Errorf("requests failed through the engine restart: %s", retrying)
		p.logNginxTrouble()
	}
	// A restart policy would start stopped containers again, with the same
	// ids: only their start times tell that they kept running.
	if after := p.startedAt(); !maps.Equal(before, after) {
		t.Errorf("the stack's containers did not keep running through the engine restart: started at %v before, %v after", before, after)
	}

	var status struct {
		Up         bool `json:"up"`
		Problem    string
		Containers []struct{ Service, State string }
	}
	out = p.must("status", "-once", "-json")
	if err := json.Unmarshal([]byte(out), &status); err != nil || !status.Up || len(status.Containers) == 0 {
		t.Errorf("status after the engine restart: up=%v problem=%q containers %+v (%v)", status.Up, status.Problem, status.Containers, err)
	}
	for _, c := range status.Containers {
		if c.State != "running" {
			t.Errorf("status after the engine restart shows %s %s", c.Service, c.State)
		}
	}
	p.expect(0, []string{"already running and healthy", "nothing to do"}, "deploy")

	p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, `version: "2.1.0"`, 1))
	release := startRetryingLoad(t, p.url("/"), 20)
	out = p.expect(0, []string{"released "}, "deploy")
	release.stop()
	t.Logf("release after the engine restart: %s; Go clients that retry: %s", lastLine(out), release)
	if release.failed.Load() != 0 || release.retried.Load() != 0 {
		t.Errorf("the release after the engine restart failed or retried requests: %s", release)
	}
	if h := p.health(); h.Version != "2.1.0" || h.Mode != "stable" {
		t.Errorf("after the release /healthz says %+v, want 2.1.0 in stable mode", h)
	}
}

// startedAt maps each of the stack's containers to when it last started.
func (p *project) startedAt() map[string]string {
	p.t.Helper()
	started := map[string]string{}
	for _, id := range p.containers("") {
		started[id] = docker(p.t, "inspect", "--format", "{{.State.StartedAt}}", id)
	}
	return started
}

// localDockerd is the process id of this host's default engine, from the
// pidfile dockerd writes, checked to be a running dockerd. The test restarts
// it: it refuses to run against any other engine, which it could not restart.
func localDockerd(t *testing.T) int {
	t.Helper()
	if h := os.Getenv("DOCKER_HOST"); h != "" && h != "unix:///var/run/docker.sock" {
		t.Fatalf("DOCKER_HOST=%s: this test restarts this host's default engine and runs only against it", h)
	}
	const pidfile = "/var/run/docker.pid"
	data, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatalf("no dockerd pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || !running(pid) {
		t.Fatalf("%s names no running dockerd (%q)", pidfile, data)
	}
	if comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm")); strings.TrimSpace(string(comm)) != "dockerd" {
		t.Fatalf("process %d of %s is %q, not dockerd", pid, pidfile, comm)
	}
	return pid
}

// running says whether process pid runs; a zombie, exited but not yet
// reaped by its parent, does not.
func running(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command, which is in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// retryingLoad keeps conns Go net/http clients busy on url, each retrying a
// request that failed to get an answer (a connection refused or reset, a
// timeout), as a client of an idempotent request may: a request fails only
// when no attempt got an answer within retryFor. An answer outside 2xx is
// not retried, and fails.
type retryingLoad struct {
	clients
	ok, failed, retried atomic.Int64
	firstErr, firstTry  string
	slowest             time.Duration
}

const retryFor = 30 * time.Second

func startRetryingLoad(t testing.TB, url string, conns int) *retryingLoad {
	t.Helper()
	l := &retryingLoad{}
	transport := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	// Longer than requestTimeout: while dockerd is away nobody reads the
	// containers' output, and nginx waits on its access log once the pipe
	// is full, until dockerd is back.
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	get := func() (int, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}
	for range conns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stopping.Load() {
				start := time.Now()
				code, err := get()
				for err != nil && !l.stopping.Load() && time.Since(start) < retryFor {
					l.retried.Add(1)
					l.first(&l.firstTry, err.Error())
					time.Sleep(100 * time.Millisecond)
					code, err = get()
				}
				took := time.Since(start)
				switch {
				case err != nil && l.stopping.Load(): // the test ended it
				case err != nil:
					l.failed.Add(1)
					l.first(&l.firstErr, err.Error())
				case code/100 != 2:
					l.failed.Add(1)
					l.first(&l.firstErr, fmt.Sprintf("HTTP %d", code))
				default:
					l.ok.Add(1)
					l.mu.Lock()
					l.slowest = max(l.slowest, took)
					l.mu.Unlock()
				}
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *retryingLoad) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d ok, %d failed, %d attempts retried (first: %q), slowest answer %s (first failure: %q)",
		l.ok.Load(), l.failed.Load(), l.retried.Load(), l.firstTry, l.slowest.Round(time.Millisecond), l.firstErr)
}
