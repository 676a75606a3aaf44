package e2e

import (
	"strings"
	"testing"
)

func TestDeployIsDeniedWhenTheDiskThresholdCannotBeMet(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{policy: `  infrastructure:
    min_disk_free_gb: 1000000000
    max_cpu_load_1m: 1000
`})
	p.expect(3, []string{"policy infrastructure: FAIL", "disk_free", "below the 1000000000.00 GB minimum", "nothing was changed"}, "deploy")
	if left := p.leftovers(); len(left) > 0 {
		t.Errorf("a denied deploy started %v", left)
	}
	history := p.read("history.jsonl")
	for _, want := range []string{`"event":"policy_decision"`, `"event":"deploy_blocked"`, `"disk_free_gb"`} {
		if !strings.Contains(history, want) {
			t.Errorf("history.jsonl lacks %s", want)
		}
	}
	t.Run("break-glass lets it through and is recorded", func(t *testing.T) {
		// In the target's environment alone: the test runs beside others.
		p.env = append(p.env, "SWIFTDEPLOY_BREAK_GLASS=e2e: disk alarm is known to be wrong")
		p.expect(0, []string{"BREAK-GLASS", "deployed in"}, "deploy")
		if !strings.Contains(p.read("history.jsonl"), `"override_reason":"e2e: disk alarm is known to be wrong"`) {
			t.Error("history.jsonl does not record the override and its reason")
		}
	})
}

// TestADeployWhoseAppNeverGetsHealthyFailsAndSaysWhy uses nginx's image as the
// app: on the read-only root the stack gives it, it exits at once, so its
// health path never answers.
func TestADeployWhoseAppNeverGetsHealthyFailsAndSaysWhy(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{image: "nginx:latest"})
	out := p.expect(1, []string{"gave up waiting for /healthz through nginx", "(app)", "Read-only file system"}, "deploy", "-timeout=8s")
	if !strings.Contains(out, "starting") && !strings.Contains(out, "unhealthy") && !strings.Contains(out, "exit code") {
		t.Errorf("the timeout does not show the app container's state:\n%s", out)
	}
}

// TestADeployThatOutlivesItsTimeoutSaysWhereItStopped gives deploy less time than
// the app's first healthcheck needs: the override file spaces the checks 60 s
// apart, so the app runs (and has logged its start) but is not yet healthy when
// the 5 s are up, however slow the machine is to start containers.
func TestADeployThatOutlivesItsTimeoutSaysWhereItStopped(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	p.write("docker-compose.override.yml", "services:\n  app:\n    healthcheck:\n      interval: 60s\n      start_period: 60s\n")
	p.expect(1, []string{"did not become healthy within 5s", "(app): running, starting", "swiftdeploy-app"}, "deploy", "-timeout=5s")
}
