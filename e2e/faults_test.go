package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// background is a target started without waiting for it, as an operator would
// in a second terminal.
type background struct {
	t     testing.TB
	args  []string
	limit time.Duration
	cmd   *exec.Cmd
	out   bytes.Buffer // stdout and stderr; read only after done
	done  chan struct{}
	err   error
	ctx   context.Context
}

// start runs a target in the background like p.run, with env added to the
// environment; it is killed when it outlives limit or the test. Collect it with
// wait.
func (p *project) start(limit time.Duration, env []string, args ...string) *background {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, targets, args...)
	cmd.Dir = p.dir
	cmd.Env = append(append(append(os.Environ(), "SWIFTDEPLOY_PROJECT="+p.name, "NO_COLOR=1"), p.env...), env...)
	// docker children may hold the output pipe after a kill: do not wait for them.
	cmd.WaitDelay = 5 * time.Second
	b := &background{t: p.t, args: args, limit: limit, cmd: cmd, done: make(chan struct{}), ctx: ctx}
	cmd.Stdout, cmd.Stderr = &b.out, &b.out
	if err := cmd.Start(); err != nil {
		cancel()
		p.t.Fatalf("start %v: %v", args, err)
	}
	go func() {
		b.err = cmd.Wait()
		close(b.done)
		cancel()
	}()
	p.t.Cleanup(func() {
		cancel()
		<-b.done
	})
	return b
}

// finished reports whether the target has exited.
func (b *background) finished() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// wait waits for the target and returns its combined output and exit code; a
// target that outlived its limit fails the test.
func (b *background) wait() (string, int) {
	b.t.Helper()
	<-b.done
	if errors.Is(b.ctx.Err(), context.DeadlineExceeded) {
		b.t.Fatalf("swiftdeploy %s did not return within %s:\n%s", strings.Join(b.args, " "), b.limit, b.out.String())
	}
	code := 0
	var exitErr *exec.ExitError
	if errors.As(b.err, &exitErr) {
		code = exitErr.ExitCode()
	} else if b.err != nil {
		b.t.Fatalf("run %v: %v", b.args, b.err)
	}
	b.t.Logf("$ swiftdeploy %s  (background, exit %d)\n%s", strings.Join(b.args, " "), code, b.out.String())
	return b.out.String(), code
}

// deployed deploys the stack and returns the running containers of service
// (every service when empty), which must be want.
func (p *project) deployed(service string, want int) []string {
	p.t.Helper()
	p.must("deploy")
	got := p.containers(service)
	if len(got) != want {
		p.t.Fatalf("after deploy: %d containers of service %q (%v), want %d", len(got), service, got, want)
	}
	return got
}

// allContainers lists the project's containers of service, running or not.
func (p *project) allContainers(service string) []string {
	return strings.Fields(docker(p.t, "ps", "-aq", "--no-trunc",
		"--filter", "label=com.docker.compose.project="+p.name,
		"--filter", "label=com.docker.compose.service="+service))
}

// events reads history.jsonl, failing on a line that is not one JSON object.
func (p *project) events() []map[string]any {
	p.t.Helper()
	var events []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(p.read("history.jsonl"), "\n"), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			p.t.Fatalf("history.jsonl line %d is not one JSON object (%v): %s", i+1, err, line)
		}
		events = append(events, e)
	}
	return events
}

// TestANewAppKilledDuringPromotionLeavesTheOldOneServing kills the new canary
// app while it is still starting: the promotion must give up, remove it, and
// leave the stable app, the manifest and the traffic as they were.
func TestANewAppKilledDuringPromotionLeavesTheOldOneServing(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	old := p.deployed("app", 1)
	manifest := p.read("manifest.yaml")

	promote := p.start(2*time.Minute, nil, "promote", "canary")
	// The promotion first measures for window_seconds (3 s), then starts the new app.
	var killed string
	waitUntil(t, 30*time.Second, "a second app container", func() bool {
		if promote.finished() {
			t.Fatal("promote finished before a second app container appeared")
		}
		for _, id := range p.containers("app") {
			if id != old[0] {
				killed = id
				return true
			}
		}
		return false
	})
	health := docker(t, "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{end}}", killed)
	docker(t, "kill", killed)
	t.Logf("killed the new app %.12s while its health was %q", killed, health)

	out, code := promote.wait()
	if code != 1 {
		t.Errorf("promote with its new app killed exited %d, want 1", code)
	}
	if !strings.Contains(out, "traffic stays on the stable app") {
		t.Errorf("promote does not say the old app keeps serving:\n%s", out)
	}
	if p.read("manifest.yaml") != manifest {
		t.Errorf("a failed promotion changed the manifest:\n%s", p.read("manifest.yaml"))
	}
	if got := p.allContainers("app"); !slices.Equal(got, old) {
		t.Errorf("app containers after the failed promotion: %v, want only the original %v", got, old)
	}
	if running := docker(t, "inspect", "-f", "{{.State.Running}}", old[0]); running != "true" {
		t.Errorf("the original app is not running (running=%s)", running)
	}
	checkServing(t, p, "stable")
	failed := slices.ContainsFunc(p.events(), func(e map[string]any) bool {
		return e["event"] == "promote" && e["result"] == "failed"
	})
	if !failed {
		t.Error("history.jsonl has no promote event with result failed")
	}
}

// TestAStoppedNginxIsShownByStatusAndRepairedByDeploy stops nginx behind the
// tool's back: status must show the stack down, and deploy must bring it back.
func TestAStoppedNginxIsShownByStatusAndRepairedByDeploy(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	nginx := p.deployed("nginx", 1)
	// A stop, not a kill: the restart policy (unless-stopped) never undoes a
	// stop, whereas whether it brings a killed container back depends on the
	// engine (Docker 20.10 leaves a `docker kill` down, but restarts a process
	// that dies by itself).
	docker(t, "stop", nginx[0])

	var doc struct {
		Up         bool `json:"up"`
		Problem    string
		Containers []struct{ Service, State string }
	}
	out := p.must("status", "-once", "-json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status -once -json is not one JSON document: %v\n%s", err, out)
	}
	if doc.Up || doc.Problem == "" {
		t.Errorf("status with nginx stopped: up=%v problem=%q, want down with a reason", doc.Up, doc.Problem)
	}
	i := slices.IndexFunc(doc.Containers, func(c struct{ Service, State string }) bool { return c.Service == "nginx" })
	if i < 0 || doc.Containers[i].State == "running" {
		t.Errorf("status does not show nginx stopped: %+v", doc.Containers)
	}

	p.expect(0, []string{"deployed in"}, "deploy")
	if resp, body := p.get("/healthz"); resp.StatusCode != 200 {
		t.Errorf("GET /healthz after the repairing deploy: %d %s", resp.StatusCode, body)
	}
}

// TestAnUnreachableDockerEngineFailsFastWithAClearMessage points every command
// at a Docker socket that does not exist.
func TestAnUnreachableDockerEngineFailsFastWithAClearMessage(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	noEngine := []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}
	run := func(args ...string) (string, int) {
		t.Helper()
		return p.start(60*time.Second, noEngine, args...).wait()
	}
	for _, target := range []string{"deploy", "teardown"} {
		out, code := run(target)
		if code != 1 || !strings.Contains(out, "Docker engine is not reachable") {
			t.Errorf("%s without an engine: exit %d, want 1 saying \"Docker engine is not reachable\":\n%s", target, code, out)
		}
	}
	out, code := run("validate")
	if code == 0 || !strings.Contains(out, "✘ 3.") {
		t.Errorf("validate without an engine: exit %d, want non-zero with check 3 marked ✘:\n%s", code, out)
	}
	out, code = run("status", "-once")
	if code != 0 || !strings.Contains(out, "DOWN") || strings.Contains(out, "goroutine") {
		t.Errorf("status -once without an engine: exit %d, want 0 showing the stack down:\n%s", code, out)
	}
}

// TestAuditSkipsAndCountsATruncatedLastHistoryLine gives audit a history whose
// last line was cut short by a crash mid-write.
func TestAuditSkipsAndCountsATruncatedLastHistoryLine(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	p.write("history.jsonl", `{"timestamp":"2026-11-23T09:00:00Z","event":"deploy","elapsed_seconds":2.4,"mode":"stable","result":"ok"}
{"timestamp":"2026-11-23T09:05:00Z","event":"promote","elapsed_seconds":5.1,"from":"stable","overridden":false,"result":"ok","to":"canary"}
{"timestamp":"2026-11-23T09:06:00Z","event":"chaos","mode":"error","rate":0.5,"result":"ok"}
{"timestamp":"2026-11-23T09:07:00Z","event":"chaos","mode":"recover","result":"ok"}
{"timestamp":"2026-11-23T10:00:00Z","event":"prom`)
	out := p.expect(0, []string{"history.jsonl line 5 skipped", "wrote audit_report.md from 4 events"}, "audit")
	if n := strings.Count(out, "skipped"); n != 1 {
		t.Errorf("audit printed %d skipped-line warnings, want exactly one for the truncated line:\n%s", n, out)
	}
	report := p.read("audit_report.md")
	for _, want := range []string{"| Malformed lines skipped | 1 |", "## Skipped lines", "| 5 |", "| Chaos injections | 1 |"} {
		if !strings.Contains(report, want) {
			t.Errorf("audit_report.md lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(report)
	}
}

// TestAMissingOrBrokenPolicyFolderFailsClosed breaks the policies in each way
// an operator could, and expects deploy and promote to refuse, saying which
// file is at fault, and to change nothing.
func TestAMissingOrBrokenPolicyFolderFailsClosed(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	canary := p.read("policies/canary.rego")
	data := p.read("policies/data.json")
	// Line 2 of the file after the package line is not Rego.
	brokenCanary := strings.Replace(canary, "package swiftdeploy.canary\n", "package swiftdeploy.canary\nthis is := := not rego\n", 1)
	brokenLine := strings.Count(canary[:strings.Index(canary, "package swiftdeploy.canary\n")], "\n") + 2
	restore := func() {
		p.write("policies/canary.rego", canary)
		p.write("policies/data.json", data)
	}

	policies := p.dir + "/policies"
	saved := t.TempDir() + "/policies"
	if err := os.Rename(policies, saved); err != nil {
		t.Fatal(err)
	}
	p.expect(1, []string{"fail closed", "policy folder is missing"}, "deploy")
	if left := p.leftovers(); len(left) > 0 {
		t.Errorf("a deploy without policies started %v", left)
	}
	if err := os.Rename(saved, policies); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, file, content string
		want                *regexp.Regexp
	}{
		{"a Rego syntax error", "policies/canary.rego", brokenCanary, regexp.MustCompile(`canary\.rego:` + strconv.Itoa(brokenLine) + `\b`)},
		{"invalid data.json", "policies/data.json", `{"swiftdeploy": {"thresholds": nope}}`, regexp.MustCompile(`data\.json:1\b`)},
	}
	for _, c := range cases {
		restore()
		p.write(c.file, c.content)
		out := p.expect(1, []string{"fail closed"}, "deploy")
		if !c.want.MatchString(out) {
			t.Errorf("deploy with %s does not name the place (%s):\n%s", c.name, c.want, out)
		}
		if left := p.leftovers(); len(left) > 0 {
			t.Errorf("a deploy with %s started %v", c.name, left)
		}
	}

	restore()
	p.must("deploy")
	manifest, apps := p.read("manifest.yaml"), p.allContainers("app")
	p.write("policies/canary.rego", brokenCanary)
	out := p.expect(1, []string{"fail closed", "canary.rego"}, "promote", "canary")
	if strings.Contains(out, "promote: stable → canary") {
		t.Error("promote with a broken policy went ahead")
	}
	if p.read("manifest.yaml") != manifest {
		t.Error("promote with a broken policy changed the manifest")
	}
	if got := p.allContainers("app"); !slices.Equal(got, apps) {
		t.Errorf("promote with a broken policy changed the app containers: %v → %v", apps, got)
	}
}

// TestTeardownNamesAForeignContainerLeftOnTheNetwork attaches a container the
// stack did not start, as an operator debugging the app might, and checks that
// teardown leaves it alone, says what blocks it and how to clear it.
func TestTeardownNamesAForeignContainerLeftOnTheNetwork(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	p.deployed("app", 1)
	visitor := p.name + "-visitor"
	network := p.name + "-net"
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "--force", visitor).Run() })
	docker(t, "run", "--detach", "--name", visitor, "--network", network, "swift-deploy-1-node:latest")

	p.expect(1, []string{"network " + network + " is still used by " + visitor, "docker network disconnect " + network + " " + visitor}, "teardown")
	if left := p.containers(""); len(left) != 0 {
		t.Errorf("teardown left the stack's own containers running: %v", left)
	}
	if got := docker(t, "inspect", "--format", "{{.State.Running}}", visitor); got != "true" {
		t.Errorf("teardown touched the foreign container: running=%s", got)
	}

	docker(t, "rm", "--force", visitor)
	p.expect(0, []string{"no container, network or volume left"}, "teardown")
}

// TestAPromoteKilledAfterItsNewAppStartedIsSeenAndUndone kills promote with
// SIGKILL once its new app has started: status says a switch was left
// half-done, and the next rollback undoes it, all without a failed request
// and with the manifest still saying stable.
func TestAPromoteKilledAfterItsNewAppStartedIsSeenAndUndone(t *testing.T) {
	p := newProject(t, manifestOptions{})
	p.must("deploy")
	l := startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	promote := p.start(3*time.Minute, nil, "promote", "canary")
	waitUntil(t, time.Minute, "promote to start a second app", func() bool { return len(p.containers("app")) == 2 })
	if err := promote.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	promote.wait()

	p.expect(0, []string{"INTERRUPTED: promote stable → canary", "run `deploy` or `rollback`"}, "status", "-once")
	p.expect(0, []string{"found an interrupted promote stable → canary", "undid the interrupted promote", "already in stable mode"}, "rollback")
	time.Sleep(time.Second)
	l.stop()
	if failed := l.errs.Load() + l.non2xx.Load(); failed > 0 {
		t.Errorf("requests failed while promote was killed and undone: %s", l)
	}
	if apps := p.containers("app"); len(apps) != 1 {
		t.Errorf("%d app containers after the undo, want 1", len(apps))
	}
	if _, body := p.get("/healthz"); !strings.Contains(body, `"mode":"stable"`) {
		t.Errorf("/healthz after the undo: %s, want stable", body)
	}
	if !strings.Contains(p.read("history.jsonl"), `"event":"recover"`) {
		t.Error("history.jsonl does not record the recovery")
	}
	t.Logf("load during the kill and the undo: %s", l)
}

// TestAResolverReplacedAfterNginxIsRepairedByDeploy restarts the resolver
// behind nginx's back: nginx looked its address up when it started, so a
// switch refuses to start (it could not move nginx), and deploy recreates
// nginx, after which the switch goes through.
func TestAResolverReplacedAfterNginxIsRepairedByDeploy(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	resolver := p.deployed("resolver", 1)
	docker(t, "restart", resolver[0])
	p.expect(1, []string{"resolver was replaced after nginx started", "run `deploy`"}, "promote", "canary")
	p.expect(0, []string{"recreating nginx so that it finds the new one", "deployed in"}, "deploy")
	p.expect(0, []string{"stable → canary"}, "promote", "canary")
}
