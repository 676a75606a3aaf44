//go:build swarm

package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSwarmAKilledReleaseAndAKilledRollAreUndoneOrFinishedByTheNextCommand
// kills a release with SIGKILL in the middle of its 50 % step, and a promote
// while swarm rolls the app's tasks, under 20 clients that retry as HTTP
// allows: status says what each left, the next rollback undoes the release
// (stable serving alone again, the canary's service gone), and the next
// deploy waits until swarm has finished the roll it was left, then
// finishes the promote. No request fails throughout.
func TestSwarmAKilledReleaseAndAKilledRollAreUndoneOrFinishedByTheNextCommand(t *testing.T) {
	p := swarmProject(t, 2, "rollout:\n  strategy: canary\n  steps: [50, 100]\n  step_seconds: 30\n  sticky: true\n")
	p.must("setup")
	p.must("deploy")
	load := startHTTPLoad(t, p.url("/"), 20)

	p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, `version: "2.1.0"`, 1))
	release := p.start(3*time.Minute, nil, "deploy")
	p.waitForStep(release, 50)
	if err := release.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	release.wait()
	p.expect(0, []string{"INTERRUPTED: release 2.0.0 → 2.1.0", "run `deploy` or `rollback`"}, "status", "-once")
	p.expect(0, []string{"found an interrupted release 2.0.0 → 2.1.0", "undid the interrupted release"}, "rollback")
	if canary := docker(t, "service", "ls", "-q", "--filter", "name="+p.name+"_canary"); canary != "" {
		t.Errorf("the canary's service is still there after the undo: %s", canary)
	}
	if h := p.health(); h.Version != "2.0.0" {
		t.Errorf("after the undo /healthz says %+v, want 2.0.0", h)
	}

	time.Sleep(time.Second)
	load.stop()
	t.Logf("20 clients on swarm through a killed release and its undo: %s", load)
	roll := startHTTPLoad(t, p.url("/"), 20)
	p.write("manifest.yaml", p.manifest)
	promote := p.start(3*time.Minute, nil, "promote", "canary")
	waitUntil(t, 90*time.Second, "swarm to roll the app's tasks", func() bool {
		return docker(t, "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", p.name+"_app") == "updating"
	})
	if err := promote.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	promote.wait()
	p.expect(0, []string{"INTERRUPTED: promote stable → canary"}, "status", "-once")
	p.expect(0, []string{"found an interrupted promote stable → canary", "finished the interrupted promote"}, "deploy")
	time.Sleep(time.Second)
	roll.stop()
	t.Logf("20 clients on swarm through a killed roll and its finish: %s", roll)
	for what, l := range map[string]*httpLoad{"a killed release and its undo": load, "a killed roll and its finish": roll} {
		if l.non2xx.Load() != 0 || l.errs.Load() != 0 || l.ok.Load() == 0 {
			t.Errorf("20 clients on swarm through %s: %s; want no failed request", what, l)
			t.Logf("nginx's failed requests:\n%s", failedAtNginx(t, p))
		}
	}
	if h := p.health(); h.Mode != "canary" {
		t.Errorf("after the finished promote /healthz says %+v, want canary", h)
	}
	if !strings.Contains(p.read("manifest.yaml"), "mode: canary") {
		t.Error("the manifest does not say canary after the finished promote")
	}
	for _, task := range p.appTasks() {
		id := strings.Fields(task)[0]
		if env := docker(t, "inspect", "--type", "task", "--format", "{{json .Spec.ContainerSpec.Env}}", id); !strings.Contains(env, `"MODE=canary"`) {
			t.Errorf("app task %s runs %s after the finished promote, want canary mode", id, env)
		}
	}
	if h := p.read("history.jsonl"); strings.Count(h, `"event":"recover"`) != 2 {
		t.Errorf("history does not record both recoveries:\n%s", h)
	}
}

// failedAtNginx is the first lines of nginx's access log on swarm with a
// 5xx status, for a failure's diagnosis.
func failedAtNginx(t *testing.T, p *project) string {
	out, _ := exec.Command("docker", "service", "logs", "--raw", p.name+"_nginx").CombinedOutput()
	var failed []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "| 50") && len(failed) < 30 {
			failed = append(failed, line)
		}
	}
	return strings.Join(failed, "\n")
}
