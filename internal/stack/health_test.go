package stack

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

func quietStack(t *testing.T) *Stack {
	t.Helper()
	s, err := New(t.TempDir(), ui.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWaitForReturnsWhenTheCheckReportsDone(t *testing.T) {
	calls := 0
	_, err := quietStack(t).waitFor(context.Background(), "app health", time.Millisecond, func(context.Context) (bool, string, error) {
		calls++
		return calls == 3, "starting", nil
	})
	if err != nil {
		t.Fatalf("waitFor error = %v", err)
	}
	if calls != 3 {
		t.Errorf("check called %d times, want 3 (until it reported done)", calls)
	}
}

func TestWaitForStopsAtTheFirstCheckError(t *testing.T) {
	broken := errors.New("container exited")
	calls := 0
	_, err := quietStack(t).waitFor(context.Background(), "app health", time.Millisecond, func(context.Context) (bool, string, error) {
		calls++
		return false, "", broken
	})
	if !errors.Is(err, broken) || calls != 1 {
		t.Errorf("waitFor = %v after %d checks, want the check's error after 1", err, calls)
	}
}

func TestWaitForGivesUpWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := quietStack(t).waitFor(ctx, "app health", 5*time.Millisecond, func(context.Context) (bool, string, error) {
		return false, "(still starting)", nil
	})
	if err == nil {
		t.Fatal("waitFor returned nil for a check that never finished")
	}
	for _, want := range []string{"gave up waiting for app health", "(still starting)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("waitFor error %q does not contain %q", err, want)
		}
	}
}
