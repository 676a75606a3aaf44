package platform

import (
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
	} {
		t.Run(c.name, func(t *testing.T) {
			done, why := converged(c.services, c.only)
			if done != c.done || !strings.HasPrefix(why, c.why) {
				t.Errorf("converged = %v, %q; want %v, %q", done, why, c.done, c.why)
			}
		})
	}
}
