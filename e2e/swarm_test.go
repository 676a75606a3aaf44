package e2e

import (
	"os/exec"
	"strings"
	"testing"
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
