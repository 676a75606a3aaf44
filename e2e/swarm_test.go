package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// swarmProject is a project whose manifest says runtime: swarm, on this
// engine made a swarm manager by the project's own `setup`, as an operator
// would. An engine that was in no swarm before leaves it when the test ends,
// after the project's teardown, unless other containers run on it: leaving
// a swarm cuts the networks of every running container of the engine
// (compose stacks included), so the engine then stays a manager, and the
// test says so.
func swarmProject(t testing.TB, replicas int, rollout ...string) *project {
	t.Helper()
	before := swarmState(t)
	t.Cleanup(func() {
		if before == "inactive" && swarmState(t) != "inactive" {
			if running := docker(t, "ps", "-q"); running != "" {
				t.Logf("this engine stays a swarm manager: leaving the swarm would cut the networks of the %d containers running on it", len(strings.Fields(running)))
				return
			}
			if out, err := exec.Command("docker", "swarm", "leave", "--force").CombinedOutput(); err != nil {
				t.Errorf("docker swarm leave: %v: %s", err, out)
			}
			// Swarm created this bridge, and leaving keeps it.
			exec.Command("docker", "network", "rm", "docker_gwbridge").Run()
		}
	})
	// Registered before the project, so that it runs after its teardown.
	var p *project
	t.Cleanup(func() {
		if left := p.swarmLeftovers(); len(left) > 0 {
			t.Errorf("teardown left swarm %v behind", left)
		}
	})
	p = newProject(t, manifestOptions{swarmReplicas: replicas, rollout: strings.Join(rollout, "")})
	return p
}

func swarmState(t testing.TB) string {
	return docker(t, "info", "--format", "{{.Swarm.LocalNodeState}}")
}

// swarmLeftovers lists the stack's services, containers, networks and
// volumes swarm knows by its label.
func (p *project) swarmLeftovers() []string {
	filter := "label=com.docker.stack.namespace=" + p.name
	var left []string
	lists := [][]string{{"ps", "-aq", "--filter", filter}, {"network", "ls", "-q", "--filter", filter}, {"volume", "ls", "-q", "--filter", filter}}
	if swarmState(p.t) == "active" {
		lists = append(lists, []string{"service", "ls", "-q", "--filter", filter})
	}
	for _, list := range lists {
		left = append(left, strings.Fields(docker(p.t, list...))...)
	}
	return left
}

// appTasks lists the running tasks of the stack's app service as
// "ID NODE" lines.
func (p *project) appTasks() []string {
	out := docker(p.t, "service", "ps", "--filter", "desired-state=running", "--format", "{{.ID}} {{.Node}} {{.CurrentState}}", p.name+"_app")
	var running []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "Running") {
			running = append(running, line)
		}
	}
	return running
}

// TestTheSameManifestRunsOnASingleNodeSwarm deploys two app tasks on swarm,
// serves through nginx, promotes and rolls back under a 20-client load with
// no failed request, has swarm replace a task killed while serving, and tears
// down leaving no service, network or volume.
func TestTheSameManifestRunsOnASingleNodeSwarm(t *testing.T) {
	p := swarmProject(t, 2)
	if swarmState(t) == "inactive" {
		// Before setup: validate and deploy say what is missing.
		p.expect(1, []string{"✘ swarm: this engine is a manager", "not a swarm manager", "run `setup`"}, "validate")
		p.expect(1, []string{"not a swarm manager"}, "deploy")
	}
	if out := p.must("setup"); !strings.Contains(out, "Docker Swarm manager") || !strings.Contains(out, "a worker joins with: docker swarm join") {
		t.Errorf("setup does not say how this engine is a swarm manager and how a worker joins:\n%s", out)
	}
	// A compose stack on an engine that manages a swarm tears down as
	// anywhere: teardown also looks for a swarm stack of the project, and
	// must leave the running compose stack's volume to compose.
	other := newProject(t, manifestOptions{})
	other.must("deploy")
	other.must("teardown")
	if left := other.leftovers(); len(left) > 0 {
		t.Errorf("teardown of a compose stack on a swarm manager left %v", left)
	}

	if out := p.must("validate"); !strings.Contains(out, "swarm") {
		t.Errorf("validate says nothing of the swarm:\n%s", out)
	}
	if out := p.must("deploy"); !strings.Contains(out, "deployed in") {
		t.Fatalf("deploy on swarm:\n%s", out)
	}
	if tasks := p.appTasks(); len(tasks) != 2 {
		t.Fatalf("app tasks running after deploy: %q, want 2", tasks)
	}
	if resp, body := p.get("/"); resp.StatusCode != 200 || resp.Header.Get("X-Deployed-By") != "swiftdeploy" {
		t.Fatalf("GET / through nginx on swarm: %d %q", resp.StatusCode, body)
	}
	if out := p.must("deploy"); !strings.Contains(out, "nothing to do") {
		t.Errorf("a second deploy of the same manifest on swarm is not a no-op:\n%s", out)
	}

	status := p.must("status", "-once", "-json")
	var doc struct {
		Containers []struct {
			Service, Node, State, Health string
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(status), &doc); err != nil {
		t.Fatalf("status -json: %v\n%s", err, status)
	}
	apps := 0
	for _, c := range doc.Containers {
		if c.Service == "app" && c.Node != "" && c.State == "running" && c.Health == "healthy" {
			apps++
		}
	}
	if apps != 2 {
		t.Errorf("status -json shows %d running, healthy app tasks with their node, want 2:\n%s", apps, status)
	}

	// Two loads, around a chaos experiment in canary mode that fails
	// requests on purpose.
	load := startHTTPLoad(t, p.url("/"), 20)
	switchUnder(t, p, "promote", "canary")
	load.stop()

	// Chaos reaches every task, not the one nginx would pick.
	if out := p.must("chaos", "error", "-rate=1"); !strings.Contains(out, "runs 2 instances") {
		t.Errorf("chaos on swarm does not say it went to both tasks:\n%s", out)
	}
	for range 20 {
		if resp, body := p.get("/"); resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("GET / with chaos error at rate 1 on every task: %d %q, want 500", resp.StatusCode, body)
		}
	}
	p.must("chaos", "recover")

	again := startHTTPLoad(t, p.url("/"), 20)
	switchUnder(t, p, "rollback")
	// A task killed while serving: swarm starts another, nginx sends the
	// requests it can no longer deliver to the other task.
	killed := strings.Fields(p.appTasks()[0])[0]
	container := docker(t, "inspect", "--type", "task", "--format", "{{.Status.ContainerStatus.ContainerID}}", killed)
	docker(t, "kill", container)
	waitUntil(t, 60*time.Second, "swarm to replace the killed task", func() bool {
		tasks := p.appTasks()
		return len(tasks) == 2 && !strings.Contains(strings.Join(tasks, "\n"), killed)
	})
	time.Sleep(2 * time.Second)
	again.stop()
	for what, l := range map[string]*httpLoad{"promote": load, "rollback and a killed task": again} {
		t.Logf("20 clients on swarm through %s: %s", what, l)
		if l.non2xx.Load() != 0 || l.errs.Load() != 0 || l.ok.Load() == 0 {
			t.Errorf("20 clients on swarm through %s: %s; want no failed request", what, l)
		}
	}

	// The same history, so the same audit.
	p.must("audit")
	if report := p.read("audit_report.md"); !strings.Contains(report, "promote") || !strings.Contains(report, "rollback") || !strings.Contains(report, "chaos") {
		t.Errorf("the audit of a swarm stack's history misses its promote, rollback or chaos:\n%s", report)
	}

	p.must("teardown")
	if out := p.must("teardown"); !strings.Contains(out, "is down") {
		t.Errorf("a second teardown on swarm:\n%s", out)
	}
	if left := p.swarmLeftovers(); len(left) > 0 {
		t.Errorf("teardown left %v", left)
	}
}

// switchUnder runs promote or rollback and checks the mode it leaves.
func switchUnder(t *testing.T, p *project, step ...string) {
	t.Helper()
	if out, code := p.run(step...); code != 0 {
		t.Fatalf("%s on swarm exited %d:\n%s", strings.Join(step, " "), code, out)
	}
	want := "stable"
	if step[0] == "promote" {
		want = step[1]
	}
	if h := p.health(); h.Mode != want {
		t.Errorf("after %s /healthz says mode %q, want %q", strings.Join(step, " "), h.Mode, want)
	}
}
