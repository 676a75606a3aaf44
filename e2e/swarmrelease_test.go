//go:build swarm

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestSwarmReleaseANewBuildStepByStep releases a new build on swarm as
// on compose: a canary service beside the app's two tasks, judged at 50 %,
// then the app's tasks rolled to the new build while the canary serves, with
// no failed request under 20 clients; then a bad build is aborted, the good
// one serving throughout.
func TestSwarmReleaseANewBuildStepByStep(t *testing.T) {
	p := swarmProject(t, 2, "rollout:\n  strategy: canary\n  steps: [50, 100]\n  step_seconds: 4\n  sticky: true\n")
	p.must("setup")
	p.must("deploy")
	asking := func(version string) {
		p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, `version: "`+version+`"`, 1))
	}

	asking("2.1.0")
	load := startHTTPLoad(t, p.url("/"), 20)
	out, code := p.run("deploy")
	load.stop()
	t.Logf("20 clients through a release on swarm: %s", load)
	if code != 0 || !strings.Contains(out, "released ") {
		t.Fatalf("the release on swarm exited %d", code)
	}
	if load.non2xx.Load() != 0 || load.errs.Load() != 0 || load.versions["2.1.0"] == 0 {
		t.Errorf("20 clients through a release on swarm: %s; want no failure and answers from 2.1.0", load)
	}
	if h := p.health(); h.Version != "2.1.0" || h.Mode != "stable" {
		t.Errorf("after the release /healthz says %+v, want 2.1.0 in stable mode", h)
	}
	tasks := p.appTasks()
	if len(tasks) != 2 {
		t.Errorf("app tasks after the release: %q, want 2", tasks)
	}
	for _, task := range tasks {
		id := strings.Fields(task)[0]
		if env := docker(t, "inspect", "--type", "task", "--format", "{{json .Spec.ContainerSpec.Env}}", id); !strings.Contains(env, `"APP_VERSION=2.1.0"`) || !strings.Contains(env, `"MODE=stable"`) {
			t.Errorf("app task %s runs %s after the release, want 2.1.0 in stable mode", id, env)
		}
	}
	if canary := docker(t, "service", "ls", "-q", "--filter", "name="+p.name+"_canary"); canary != "" {
		t.Errorf("the canary's service is still there after the release: %s", canary)
	}

	asking("2.2.0")
	again := startHTTPLoad(t, p.url("/"), 20)
	release := p.start(3*time.Minute, nil, "deploy")
	p.waitForStep(release, 50)
	p.expect(0, []string{"goes to its canary build", "chaos error injected"}, "chaos", "error", "-rate=1")
	out, code = release.wait()
	again.stop()
	if code != 3 || !strings.Contains(out, "release aborted at step") {
		t.Errorf("the bad release on swarm exited %d, want 3", code)
	}
	if h := p.health(); h.Version != "2.1.0" {
		t.Errorf("after the abort /healthz says %+v, want 2.1.0", h)
	}
	if canary := docker(t, "service", "ls", "-q", "--filter", "name="+p.name+"_canary"); canary != "" {
		t.Errorf("the canary's service is still there after the abort: %s", canary)
	}
	if again.errs.Load() != 0 {
		t.Errorf("connection errors during the bad release on swarm: %s", again)
	}
}
