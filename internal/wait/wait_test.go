package wait

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

var quiet = ui.New(io.Discard)

func TestForReturnsWhenTheCheckReportsDone(t *testing.T) {
	calls := 0
	_, err := For(context.Background(), quiet, "app health", time.Millisecond, func(context.Context) (bool, string, error) {
		calls++
		return calls == 3, "starting", nil
	})
	if err != nil {
		t.Fatalf("For error = %v", err)
	}
	if calls != 3 {
		t.Errorf("check called %d times, want 3 (until it reported done)", calls)
	}
}

func TestForStopsAtTheFirstCheckError(t *testing.T) {
	broken := errors.New("container exited")
	calls := 0
	_, err := For(context.Background(), quiet, "app health", time.Millisecond, func(context.Context) (bool, string, error) {
		calls++
		return false, "", broken
	})
	if !errors.Is(err, broken) || calls != 1 {
		t.Errorf("For = %v after %d checks, want the check's error after 1", err, calls)
	}
}

func TestForGivesUpWhenTheContextEndsAndSaysTheLastStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := For(ctx, quiet, "app health", 5*time.Millisecond, func(context.Context) (bool, string, error) {
		return false, "(still starting)", nil
	})
	if err == nil {
		t.Fatal("For returned nil for a check that never finished")
	}
	for _, want := range []string{"gave up waiting for app health", "(still starting)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("For error %q does not contain %q", err, want)
		}
	}
}

func TestSleepEndsEarlyWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	Sleep(ctx, time.Hour)
	if time.Since(start) > time.Second {
		t.Errorf("Sleep of an hour on a cancelled context took %s", time.Since(start))
	}
}

func TestACountdownIsDoneOnceItsDeadlinePassedAndShowsTheSecondsLeft(t *testing.T) {
	done, status, err := Countdown(time.Now().Add(2500 * time.Millisecond))(context.Background())
	if done || err != nil || status != "(3s left)" {
		t.Errorf("2.5 s before the deadline: done %v, status %q, err %v; want not done, (3s left)", done, status, err)
	}
	if done, _, _ := Countdown(time.Now().Add(-time.Millisecond))(context.Background()); !done {
		t.Error("a countdown past its deadline is not done")
	}
}
