package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// statusOnce runs one refresh of status -once -json on s and decodes it.
func statusOnce(t *testing.T, s *Stack) map[string]any {
	t.Helper()
	var out bytes.Buffer
	if err := s.Status(context.Background(), StatusOptions{Once: true, JSON: true, Out: &out}); err != nil {
		t.Fatalf("status: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("status -json: %v\n%s", err, out.String())
	}
	return doc
}

// withPolicies copies the shipped policies into s's folder.
func withPolicies(t *testing.T, s *Stack) *Stack {
	t.Helper()
	if err := os.CopyFS(s.path(PoliciesDir), os.DirFS(filepath.Join("..", "..", PoliciesDir))); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStatusOfAStackThatDoesNotAnswerShowsItDownWithoutFailing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	doc := statusOnce(t, withPolicies(t, stackOnPort(t, port)))
	if doc["up"] != false || !strings.Contains(fmt.Sprint(doc["problem"]), "refused") {
		t.Errorf("status of a stack that does not answer: up %v, problem %v; want down, saying the connection was refused", doc["up"], doc["problem"])
	}
}

func TestStatusMeasuresAWindowBetweenTwoScrapesAndRecordsIt(t *testing.T) {
	scrapes := []string{"window_prev.prom", "window_cur.prom"}
	var n atomic.Int32
	_, port := listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case render.ProbePath:
			w.Header().Set(render.UpstreamHeader, "192.0.2.10:3000")
			fmt.Fprint(w, `{"status":"ok","mode":"stable","version":"1.0.0","uptime_seconds":42}`)
		case "/metrics":
			data, err := os.ReadFile(filepath.Join("..", "metrics", "testdata", scrapes[min(int(n.Add(1))-1, 1)]))
			if err != nil {
				t.Error(err)
			}
			w.Write(data)
		default:
			http.NotFound(w, r)
		}
	}))
	s := withPolicies(t, stackOnPort(t, port))
	s.Now = time.Now
	doc := statusOnce(t, s)
	if doc["up"] != true || doc["mode"] != "stable" || doc["window_seconds"] == nil || doc["error_rate_percent"] == nil {
		t.Errorf("status of a serving stack: %v; want it up in stable mode with a window measured", doc)
	}
	if n.Load() != 2 {
		t.Errorf("scraped /metrics %d times, want twice: a window needs two scrapes", n.Load())
	}
	if h := readFile(t, s.path(HistoryFile)); !strings.Contains(h, `"event":"status_scrape"`) {
		t.Errorf("history does not record the scrape:\n%s", h)
	}
}

func TestStatusSaysThatAChangeAKilledCommandLeftIsInterrupted(t *testing.T) {
	s := withPolicies(t, stackOnPort(t, 1))
	left := &change.Change{Action: change.Promote, Strategy: manifest.StrategySwitch, From: change.Side{Mode: "stable"}, To: change.Side{Mode: "canary"},
		Phase: change.Takeover, PID: 4242, Started: testNow}
	if err := s.store().Set(left); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(statusOnce(t, s)["change"])
	if !strings.Contains(got, "INTERRUPTED: promote stable → canary (pid 4242") || !strings.Contains(got, "run `deploy` or `rollback`") {
		t.Errorf("change %q, want the interrupted promote and what to do", got)
	}
}
