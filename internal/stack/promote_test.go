package stack

import (
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

func TestTheOldAppIsStoppedOnlyOnceTheNewOneIsHealthyAndNginxCanKnowIt(t *testing.T) {
	inDNS := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	wait := render.ResolverStaleness + nginxResolveMargin
	healthy := docker.Container{Name: "swiftdeploy-app-2", State: "running", Health: "healthy"}
	startedEarlier := healthy
	startedEarlier.StartedAt = inDNS.Add(-500 * time.Millisecond)
	startedLater := healthy
	startedLater.StartedAt = inDNS.Add(time.Second) // a clock oddity: never later than inDNS

	cases := []struct {
		name    string
		app     docker.Container
		now     time.Time
		done    bool
		status  string // a substring; "" for none
		failure string // a substring of the error; "" for none
	}{
		{"still starting", docker.Container{Name: "a", State: "running", Health: "starting"}, inDNS.Add(time.Minute), false, "running, starting", ""},
		{"exited", docker.Container{Name: "a", State: "exited", Health: "healthy", ExitCode: 137}, inDNS, false, "", "exited with code 137"},
		{"dead", docker.Container{Name: "a", State: "dead"}, inDNS, false, "", "exited"},
		{"unhealthy", docker.Container{Name: "a", State: "running", Health: "unhealthy"}, inDNS, false, "", "is unhealthy"},
		{"healthy, nginx may not know it yet", healthy, inDNS.Add(time.Second), false, "giving nginx 1.2s more", ""},
		{"healthy, a moment before nginx must know it", healthy, inDNS.Add(wait - time.Millisecond), false, "giving nginx", ""},
		{"healthy and nginx must know it", healthy, inDNS.Add(wait), true, "", ""},
		{"the start time is the closer bound", startedEarlier, inDNS.Add(wait - 500*time.Millisecond), true, "", ""},
		{"a start time after inDNS is not trusted", startedLater, inDNS.Add(wait - time.Millisecond), false, "giving nginx", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done, status, err := newAppReady(c.app, inDNS, c.now)
			if done != c.done {
				t.Errorf("done = %v, want %v", done, c.done)
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
	if wait < 2*time.Second {
		t.Errorf("the wait %s is shorter than nginx can keep a DNS answer with valid=1s (2 s)", wait)
	}
}
