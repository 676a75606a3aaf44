package stack

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// rollingRuntime plays a runtime that replaces the app's instances itself
// (swarm): before Roll it lists the old app, after it the rolled one; a
// StartBeside or a Retire would panic (the embedded nil Runtime).
type rollingRuntime struct {
	platform.Runtime
	rollErr error
	rolled  bool
	after   platform.Instance
}

func (r *rollingRuntime) Roll(ctx context.Context, role platform.Role) error {
	if role != platform.App {
		return errors.New("rolled " + string(role))
	}
	r.rolled = true
	return r.rollErr
}

func (r *rollingRuntime) Instances(ctx context.Context, role platform.Role) ([]platform.Instance, error) {
	if r.rolled && r.rollErr == nil {
		return []platform.Instance{r.after}, nil
	}
	return []platform.Instance{oldApp}, nil
}

func TestARuntimeThatRollsIsAskedToRollAndNginxIsCheckedAfter(t *testing.T) {
	s, m := switchStack(t, "canary")
	next := inMode(m, "canary")
	rolled := platform.Instance{ID: "rolled", Role: platform.App, State: "running", Addr: newApp.Addr,
		Mode: "canary", Image: next.Services.Image, Version: next.Services.Version}
	rt := &rollingRuntime{after: rolled}
	if err := s.replaceApp(context.Background(), rt, m, next, "promote", []platform.Instance{oldApp}); err != nil {
		t.Fatal(err)
	}
	if !rt.rolled {
		t.Error("the runtime was not asked to roll the app")
	}
	if compose, _ := os.ReadFile(s.path(render.ComposeFile)); !strings.Contains(string(compose), `MODE: "canary"`) {
		t.Errorf("docker-compose.yml was not regenerated with the new mode:\n%s", compose)
	}
}

func TestARollTheRuntimeUndidLeavesTheFilesOfTheOldMode(t *testing.T) {
	s, m := switchStack(t, "stable")
	rt := &rollingRuntime{rollErr: errors.New("rolled back: swarm undid the update of s_app (rollback_completed): task unhealthy")}
	err := s.replaceApp(context.Background(), rt, m, inMode(m, "canary"), "promote", []platform.Instance{oldApp})
	if err == nil || !strings.Contains(err.Error(), "rolled back") || !strings.Contains(err.Error(), "traffic stays on the stable app") {
		t.Fatalf("replaceApp = %v, want the runtime's reason and traffic staying on stable", err)
	}
	if compose, _ := os.ReadFile(s.path(render.ComposeFile)); !strings.Contains(string(compose), `MODE: "stable"`) {
		t.Errorf("docker-compose.yml does not describe the stable app again:\n%s", compose)
	}
}

func TestARollNginxDoesNotFollowFails(t *testing.T) {
	// nginx answers from the old app's address: the rolled instance is not
	// where nginx sends requests.
	s, m := switchStack(t, "stable")
	next := inMode(m, "canary")
	rolled := platform.Instance{ID: "rolled", Role: platform.App, State: "running", Addr: newApp.Addr,
		Mode: "canary", Image: next.Services.Image, Version: next.Services.Version}
	err := s.replaceApp(context.Background(), &rollingRuntime{after: rolled}, m, next, "promote", []platform.Instance{oldApp})
	if err == nil || !strings.Contains(err.Error(), "nginx did not move") {
		t.Fatalf("replaceApp = %v, want nginx not following reported", err)
	}
}
