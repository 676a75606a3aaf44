package stack

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

func TestGetHealthAcceptsOnlyAnOKAnswer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		answer  string
		want    Health
		wantErr string
	}{
		{"healthy", http.StatusOK, `{"status":"ok","mode":"canary","version":"1.0.0","uptime_seconds":12.5}`,
			Health{Status: "ok", Mode: "canary", Version: "1.0.0", UptimeSeconds: 12.5}, ""},
		{"not 200", http.StatusServiceUnavailable, "upstream down", Health{}, "HTTP 503: upstream down"},
		{"not JSON", http.StatusOK, "<html>nginx</html>", Health{}, "unreadable health answer"},
		{"status not ok", http.StatusOK, `{"status":"degraded"}`, Health{Status: "degraded"}, `status "degraded"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/healthz" {
					t.Errorf("asked for %s, want /healthz", r.URL.Path)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.answer)
			}))
			got, err := getHealth(context.Background(), srv.URL+"/healthz")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("getHealth error = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("getHealth error = %v, want one containing %q", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("getHealth = %+v, want %+v", got, tc.want)
			}
		})
	}
}

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
