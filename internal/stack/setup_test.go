package stack

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/host"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// A step beside the others runs while they do: here the step after the
// first waits for it to have started, which in turn would never happen.
func TestSetupRunsAStepBesideTheOthersWhileTheyRun(t *testing.T) {
	started := make(chan struct{})
	var order []string
	steps := []host.Step{
		{Name: "engine", Do: func(context.Context) (string, error) { order = append(order, "engine"); return "ok", nil }},
		{Name: "compose", Beside: true, Do: func(context.Context) (string, error) { close(started); return "built", nil }},
		{Name: "images", Do: func(context.Context) (string, error) {
			select {
			case <-started:
				order = append(order, "images")
				return "ok", nil
			case <-time.After(10 * time.Second):
				return "", errors.New("the step beside did not start while this one ran")
			}
		}},
	}
	var out bytes.Buffer
	if err := runSteps(context.Background(), ui.New(&out), steps); err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "engine,images" {
		t.Errorf("the steps in turn ran as %q, want engine,images", order)
	}
	for _, want := range []string{"engine: ok", "compose: built", "images: ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// A failed step stops the one beside it, and setup returns only once that
// one has returned, with the failure that stopped it: no build is left
// running behind a failed setup.
func TestAFailedSetupStepStopsTheOneBesideItAndWaitsForIt(t *testing.T) {
	returned := false
	steps := []host.Step{
		{Name: "compose", Beside: true, Do: func(ctx context.Context) (string, error) {
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond)
			returned = true
			return "", ctx.Err()
		}},
		{Name: "engine", Do: func(context.Context) (string, error) { return "", errors.New("apt-get is missing") }},
		{Name: "images", Do: func(context.Context) (string, error) { t.Error("a step after a failed one ran"); return "", nil }},
	}
	var out bytes.Buffer
	err := runSteps(context.Background(), ui.New(&out), steps)
	if err == nil || err.Error() != "setup: engine: apt-get is missing" {
		t.Errorf("runSteps = %v, want the engine's failure", err)
	}
	if !returned {
		t.Error("runSteps returned before the step beside the failed one did")
	}
	if !strings.Contains(out.String(), "compose: stopped, since another step failed") {
		t.Errorf("output does not say the step beside was stopped:\n%s", out.String())
	}
}

// A failure beside the others is setup's failure too, once they are done.
func TestAFailedStepBesideTheOthersFailsSetup(t *testing.T) {
	steps := []host.Step{
		{Name: "compose", Beside: true, Do: func(context.Context) (string, error) { return "", errors.New("go is missing") }},
		{Name: "engine", Do: func(context.Context) (string, error) { return "ok", nil }},
	}
	var out bytes.Buffer
	if err := runSteps(context.Background(), ui.New(&out), steps); err == nil || err.Error() != "setup: compose: go is missing" {
		t.Errorf("runSteps = %v, want the compose step's failure", err)
	}
}
