package stack

import (
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

func TestTheOldAppIsStoppedOnlyOnceNginxMustHaveMovedToTheHealthyNewOne(t *testing.T) {
	pinned := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	wait := render.ResolverStaleness + nginxResolveMargin
	healthy := platform.Instance{Name: "swiftdeploy-app-2", State: "running", Health: "healthy"}

	cases := []struct {
		name     string
		app      platform.Instance
		pinnedAt time.Time
		now      time.Time
		step     step
		status   string // a substring; "" for none
		failure  string // a substring of the error; "" for none
	}{
		{"still starting", platform.Instance{Name: "a", State: "running", Health: "starting"}, time.Time{}, pinned, waitHealthy, "running, starting", ""},
		{"exited", platform.Instance{Name: "a", State: "exited", Health: "healthy", ExitCode: 137}, pinned, pinned, waitHealthy, "", "exited with code 137"},
		{"dead", platform.Instance{Name: "a", State: "dead"}, time.Time{}, pinned, waitHealthy, "", "exited"},
		{"unhealthy after the pin", platform.Instance{Name: "a", State: "running", Health: "unhealthy"}, pinned, pinned, waitHealthy, "", "is unhealthy"},
		{"healthy, not pinned yet", healthy, time.Time{}, pinned, pinNewApp, "healthy", ""},
		{"pinned, nginx may not have moved", healthy, pinned, pinned.Add(time.Second), waitNginx, "giving nginx 2.2s more", ""},
		{"a moment before nginx must have moved", healthy, pinned, pinned.Add(wait - time.Millisecond), waitNginx, "giving nginx", ""},
		{"nginx must have moved", healthy, pinned, pinned.Add(wait), takenOver, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, status, err := switchStep(c.app, c.pinnedAt, c.now, wait)
			if got != c.step {
				t.Errorf("step = %v, want %v", got, c.step)
			}
			if !strings.Contains(status, c.status) || (c.status == "" && status != "") {
				t.Errorf("status = %q, want it to hold %q", status, c.status)
			}
			switch {
			case c.failure == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.failure != "" && (err == nil || !strings.Contains(err.Error(), c.failure)):
				t.Errorf("error = %v, want one saying %q", err, c.failure)
			}
		})
	}
	if wait < 3*time.Second {
		t.Errorf("the wait %s is shorter than nginx's pool can go on with an old answer with valid=1s (3 s)", wait)
	}
}
