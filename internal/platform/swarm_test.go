package platform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

func TestASwarmStackHasConvergedWhenEveryServiceRunsItsTasksAndNoUpdateIsUnderWay(t *testing.T) {
	app := func(running int, state string) docker.Service {
		return docker.Service{Name: "s_app", Replicas: 2, Running: running, UpdateState: state, UpdateReason: "task unhealthy"}
	}
	nginx := docker.Service{Name: "s_nginx", Replicas: 1, Running: 1}
	for _, c := range []struct {
		name     string
		services []docker.Service
		only     string
		done     bool
		why      string
	}{
		{"nothing deployed yet", nil, "", false, "no service yet"},
		{"all tasks running", []docker.Service{app(2, ""), nginx}, "", true, ""},
		{"an update completed", []docker.Service{app(2, "completed"), nginx}, "", true, ""},
		{"a task still starting", []docker.Service{app(1, ""), nginx}, "", false, "s_app runs 1 of 2 tasks"},
		{"an update under way", []docker.Service{app(2, "updating"), nginx}, "", false, "s_app is updating"},
		{"an update swarm rolled back", []docker.Service{app(2, "rollback_completed"), nginx}, "", false, "rolled back: swarm undid the update of s_app (rollback_completed): task unhealthy"},
		{"another service is not asked about", []docker.Service{app(2, ""), {Name: "s_nginx", Replicas: 1}}, "s_app", true, ""},
		{"the service asked about is not deployed yet", []docker.Service{nginx}, "s_canary", false, "s_canary is not deployed yet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			done, why := converged(c.services, c.only)
			if done != c.done || !strings.HasPrefix(why, c.why) {
				t.Errorf("converged = %v, %q; want %v, %q", done, why, c.done, c.why)
			}
		})
	}
}

// A role runs as generated when its service's definition is the one
// deployed and, for nginx, when the configuration it read is the one on
// disk: a reload (Reroute) reads it again without deploying anything.
func TestWhatSwarmRunsIsCurrentPerServiceAndPerFileItRead(t *testing.T) {
	dir := t.TempDir()
	stack, conf := filepath.Join(dir, "docker-compose.yml"), filepath.Join(dir, "nginx.conf")
	write := func(path, content string) {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(stack, "services:\n  app:\n    image: a:1\n  nginx:\n    image: n:1\n")
	write(conf, "steady")
	s := Swarm{Stack: docker.Stack{Name: "s", Files: []string{stack}}, DeployedFile: filepath.Join(dir, "deployed"),
		Reads: map[Role][]string{Nginx: {conf}}}
	if s.deployedCurrent(App) {
		t.Fatal("current before anything was deployed")
	}
	if err := s.recordDeployed(); err != nil {
		t.Fatal(err)
	}
	if !s.deployedCurrent("") || !s.deployedCurrent(App) || !s.deployedCurrent(Nginx) {
		t.Fatal("not current right after a deploy")
	}
	write(conf, "canary at 50%")
	if s.deployedCurrent(Nginx) || !s.deployedCurrent(App) {
		t.Error("a rewritten nginx.conf must leave nginx alone not current, and the app current")
	}
	if err := s.recordRead(Nginx); err != nil {
		t.Fatal(err)
	}
	if !s.deployedCurrent(Nginx) || !s.deployedCurrent("") {
		t.Error("nginx is not current after reading its configuration again")
	}
	write(stack, "services:\n  app:\n    image: a:2\n  nginx:\n    image: n:1\n")
	if s.deployedCurrent(App) || !s.deployedCurrent(Nginx) {
		t.Error("a new app image must leave the app alone not current")
	}
}
