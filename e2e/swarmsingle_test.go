//go:build swarm

package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSwarmTheSameManifestRunsOnASingleNode deploys two app tasks on swarm,
// serves through nginx, promotes and rolls back under a 20-client load with
// no failed request, has swarm replace a task killed while serving, and tears
// down leaving no service, network or volume. It is one of the slower swarm
// tests the testSwarm target runs (about 95 s), kept out of test for its time.
func TestSwarmTheSameManifestRunsOnASingleNode(t *testing.T) {
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
