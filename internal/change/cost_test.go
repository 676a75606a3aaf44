package change

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// parts says c's spans as "part", "step N at W%", each followed by the
// addresses it retires.
func parts(c *Change) []string {
	var out []string
	for _, s := range c.Spans {
		p := s.Part
		if s.Part == PartStep {
			p = fmt.Sprintf("step %d at %d%%", s.Step, s.Weight)
		}
		for _, r := range s.Retiring {
			p += " retiring " + strings.Join(r.Addrs, ",")
		}
		out = append(out, p)
	}
	return out
}

// wantSpansInOrder fails unless c's spans follow each other with no gap,
// each ended, each retirement inside its span.
func wantSpansInOrder(t *testing.T, c *Change, began time.Time) {
	t.Helper()
	for i, s := range c.Spans {
		if s.From.Before(began) || s.To.Before(s.From) || s.To.IsZero() {
			t.Errorf("span %d (%s) runs %v → %v, want it ended, after the change began", i, s.Part, s.From, s.To)
		}
		if i > 0 && !s.From.Equal(c.Spans[i-1].To) {
			t.Errorf("span %d (%s) begins at %v, the one before ended at %v: want no gap", i, s.Part, s.From, c.Spans[i-1].To)
		}
		for _, r := range s.Retiring {
			if r.Since.Before(s.From) || r.Since.After(s.To) {
				t.Errorf("span %d (%s) retires %v from %v, outside its %v → %v", i, s.Part, r.Addrs, r.Since, s.From, s.To)
			}
		}
	}
}

func TestASwitchIsOneSpanThatRetiresTheOldAppOnceNginxLeftIt(t *testing.T) {
	e := newEngine(t, oldApp)
	e.rt.script = []string{"starting", "healthy"}
	began := time.Now()
	c, err := e.promote(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := parts(c), []string{"switch retiring " + oldApp.Addr}; !slices.Equal(got, want) {
		t.Errorf("spans %v, want %v", got, want)
	}
	wantSpansInOrder(t, c, began)
	if !slices.Equal(e.router.records, []bool{true, false}) || e.router.recording {
		t.Errorf("recording %v, want nginx to log the switch's requests, then stop", e.router.records)
	}
}

func TestASwitchUndoneAfterTheSteerRetiresTheNewAppInItsUndo(t *testing.T) {
	e := newEngine(t, oldApp)
	e.rt.script = []string{"healthy", "healthy", "unhealthy"}
	e.router.follow = time.Second
	began := time.Now()
	c, _ := e.promote(context.Background())
	if got, want := parts(c), []string{"switch", "undo retiring " + newApp.Addr}; !slices.Equal(got, want) {
		t.Errorf("spans %v, want %v", got, want)
	}
	wantSpansInOrder(t, c, began)
}

func TestAReleaseMarksEachStepThenRetiresTheOldBuildAndTheCanaryInItsTakeover(t *testing.T) {
	e := newEngine(t, oldApp)
	began := time.Now()
	c, err := e.release(context.Background(), &fakeJudge{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"step 1 at 10%", "step 2 at 50%", "step 3 at 100%", "takeover retiring " + oldApp.Addr + " retiring " + canaryApp.Addr}
	if got := parts(c); !slices.Equal(got, want) {
		t.Errorf("spans %v, want %v", got, want)
	}
	wantSpansInOrder(t, c, began)
	if !slices.Equal(e.router.records, []bool{true, false}) {
		t.Errorf("recording %v, want one start and one stop for the whole release", e.router.records)
	}
}

func TestAnAbortedReleaseRetiresTheCanaryOnceItsWeightIsZero(t *testing.T) {
	e := newEngine(t, oldApp)
	j := &fakeJudge{verdicts: map[int]Verdict{1: {Reasons: []string{"too many errors"}}}}
	began := time.Now()
	c, err := e.release(context.Background(), j)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("release = %v, want an abort", err)
	}
	want := []string{"step 1 at 10%", "step 2 at 50%", "abort retiring " + canaryApp.Addr}
	if got := parts(c); !slices.Equal(got, want) {
		t.Errorf("spans %v, want %v", got, want)
	}
	wantSpansInOrder(t, c, began)
}

func TestRecordingThatCannotStartWarnsForASwitchAndAbortsARelease(t *testing.T) {
	e := newEngine(t, oldApp)
	e.router.recordErr = errors.New("permission denied")
	e.rt.script = []string{"healthy"}
	if _, err := e.promote(context.Background()); err != nil {
		t.Errorf("promote = %v, want the switch made, its cost unmeasured", err)
	}
	e = newEngine(t, oldApp)
	e.router.recordErr = errors.New("permission denied")
	_, err := e.release(context.Background(), &fakeJudge{})
	wantErr(t, err, "release aborted", "permission denied")
	if e.rt.has("canary") {
		t.Error("the canary was started although its steps could not be judged")
	}
}

func TestACanaryKilledMidStepIsRetiredInTheAbortByTheAddressItHad(t *testing.T) {
	e := newEngine(t, oldApp)
	j := &fakeJudge{errs: map[int]error{0: errors.New("the canary canary-1 stopped (exited, exit code 137)")}, during: func(int) {
		// Killed: Docker no longer gives it an address.
		e.rt.mu.Lock()
		defer e.rt.mu.Unlock()
		for n, i := range e.rt.instances {
			if i.ID == canaryApp.ID {
				e.rt.instances[n].State, e.rt.instances[n].Addr = "exited", ""
			}
		}
	}}
	c, err := e.release(context.Background(), j)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("release = %v, want an abort", err)
	}
	if got, want := parts(c), []string{"step 1 at 10%", "abort retiring " + canaryApp.Addr}; !slices.Equal(got, want) {
		t.Errorf("spans %v, want %v: requests nginx still tries on the dead canary's address count", got, want)
	}
}

func TestRecoveringAChangeAKilledCommandLeftStopsNginxsLogOfIt(t *testing.T) {
	for _, phase := range []Phase{Takeover, Moved} {
		e, c := killedSwitch(t, phase)
		e.router.recording = true // the killed command had started it
		e.recoverLeft(t, c)
		if e.router.recording || !slices.Equal(e.router.records, []bool{false}) {
			t.Errorf("%s: recording %v after recovery (records %v), want it stopped", phase, e.router.recording, e.router.records)
		}
	}
}
