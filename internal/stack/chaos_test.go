package stack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// testNow is the clock of every test stack, so history lines are stable.
var testNow = time.Date(2026, 5, 5, 21, 0, 0, 0, time.UTC)

func ptr(s string) *string { return &s }

func TestChaosRequestBodyMatchesWhatTheServiceExpects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     ChaosRequest
		want    string // the JSON body, when valid
		wantErr string // part of the error, when invalid
	}{
		{"slow with duration", ChaosRequest{Mode: "slow", Duration: ptr("2")}, `{"duration":2,"mode":"slow"}`, ""},
		{"slow with fractional duration", ChaosRequest{Mode: "slow", Duration: ptr("0.5")}, `{"duration":0.5,"mode":"slow"}`, ""},
		{"slow without duration", ChaosRequest{Mode: "slow"}, "", "-duration"},
		{"slow with rate", ChaosRequest{Mode: "slow", Duration: ptr("2"), Rate: ptr("0.5")}, "", "-rate"},
		{"slow with a word", ChaosRequest{Mode: "slow", Duration: ptr("abc")}, "", `duration must be a number, got "abc"`},
		{"error with rate", ChaosRequest{Mode: "error", Rate: ptr("0.5")}, `{"mode":"error","rate":0.5}`, ""},
		{"error without rate", ChaosRequest{Mode: "error"}, "", "-rate"},
		{"error with duration", ChaosRequest{Mode: "error", Rate: ptr("0.5"), Duration: ptr("2")}, "", "-duration"},
		{"error with a word", ChaosRequest{Mode: "error", Rate: ptr("half")}, "", `rate must be a number, got "half"`},
		{"recover", ChaosRequest{Mode: "recover"}, `{"mode":"recover"}`, ""},
		{"recover with rate", ChaosRequest{Mode: "recover", Rate: ptr("0.5")}, "", "takes no value"},
		{"recover with duration", ChaosRequest{Mode: "recover", Duration: ptr("2")}, "", "takes no value"},
		{"unknown mode", ChaosRequest{Mode: "boom"}, "", `unknown chaos mode "boom"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ask, err := tc.req.ask()
			if tc.wantErr != "" {
				if !errors.Is(err, fail.ErrInvalid) {
					t.Fatalf("ask() error = %v, want one wrapping fail.ErrInvalid", err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ask() error %q does not contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ask() error = %v", err)
			}
			got, err := json.Marshal(body(ask))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("body = %s, want %s", got, tc.want)
			}
		})
	}
}

// listenLocal starts a server for h on 127.0.0.1 and returns its port.
func listenLocal(t *testing.T, h http.Handler) (*httptest.Server, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, l.Addr().(*net.TCPAddr).Port
}

// stackOnPort returns a stack in a temporary folder whose manifest publishes
// nginx on port, and whose nginx admin listener is there too.
func stackOnPort(t *testing.T, port int) *Stack {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	const nginxPort = "port: 8080"
	if strings.Count(string(data), nginxPort) != 1 {
		t.Fatalf("testdata/%s must hold %q exactly once", ManifestFile, nginxPort)
	}
	data = []byte(strings.Replace(string(data), nginxPort, "port: "+strconv.Itoa(port), 1))
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(root, ui.New(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return testNow }
	return withAdmin(s, "127.0.0.1:"+strconv.Itoa(port))
}

// lastHistoryLine decodes the last line of the stack's history.
func lastHistoryLine(t *testing.T, s *Stack) map[string]any {
	t.Helper()
	data, err := os.ReadFile(s.path(HistoryFile))
	if err != nil {
		t.Fatalf("read history: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &line); err != nil {
		t.Fatalf("history line %q: %v", lines[len(lines)-1], err)
	}
	return line
}

func TestChaosTurnsEachAnswerOfTheStackIntoAnExitCode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		answer     string
		wantCode   int
		wantInErr  []string
		wantResult string
	}{
		{"accepted", http.StatusOK, `{"mode":"slow","duration":2}`, fail.ExitOK, nil, "ok"},
		{"stable mode refuses", http.StatusForbidden, `{"error":"chaos is only available in canary mode"}`,
			fail.ExitInvalid, []string{"chaos is only available in canary mode", "`promote canary`"}, "invalid"},
		{"out of range", http.StatusBadRequest, `{"error":"duration must be between 0 and 30 seconds"}`,
			fail.ExitInvalid, []string{"HTTP 400", "duration must be between 0 and 30 seconds"}, "invalid"},
		{"plain text refusal", http.StatusBadRequest, "bad request\n",
			fail.ExitInvalid, []string{"HTTP 400", "bad request"}, "invalid"},
		{"service broken", http.StatusInternalServerError, "internal error",
			fail.ExitOperational, []string{"HTTP 500", "internal error"}, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requests := make(chan map[string]any, 1)
			_, port := listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var body map[string]any
				if r.Method != http.MethodPost || r.URL.Path != "/chaos" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("request %s %s (Content-Type %q), want POST /chaos with JSON", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
				}
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					t.Errorf("request body: %v", err)
				}
				requests <- body
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.answer)
			}))
			s := stackOnPort(t, port)

			err := s.Chaos(context.Background(), ChaosRequest{Mode: "slow", Duration: ptr("2")})

			if got := fail.Code(err); got != tc.wantCode {
				t.Errorf("Chaos error = %v (exit code %d), want exit code %d", err, got, tc.wantCode)
			}
			for _, want := range tc.wantInErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Chaos error = %v, want it to contain %q", err, want)
				}
			}
			select {
			case body := <-requests:
				if body["mode"] != "slow" || body["duration"] != 2.0 {
					t.Errorf("posted body = %v, want mode slow and duration 2", body)
				}
			default:
				t.Error("no request reached the stack")
			}
			line := lastHistoryLine(t, s)
			if line["event"] != "chaos" || line["result"] != tc.wantResult || line["mode"] != "slow" {
				t.Errorf("history line = %v, want event chaos, mode slow, result %s", line, tc.wantResult)
			}
			if line["timestamp"] != testNow.Format(time.RFC3339) {
				t.Errorf("history timestamp = %v, want the stack's clock %s", line["timestamp"], testNow.Format(time.RFC3339))
			}
		})
	}
}

func TestChaosOnAStackThatDoesNotAnswerAsksWhetherItIsDeployed(t *testing.T) {
	srv, port := listenLocal(t, http.NotFoundHandler())
	srv.Close()
	s := stackOnPort(t, port)

	err := s.Chaos(context.Background(), ChaosRequest{Mode: "recover"})

	if err == nil || !strings.Contains(err.Error(), "is it deployed") {
		t.Fatalf("Chaos error = %v, want one asking whether the stack is deployed", err)
	}
	if got := fail.Code(err); got != fail.ExitOperational {
		t.Errorf("exit code = %d, want %d", got, fail.ExitOperational)
	}
	if line := lastHistoryLine(t, s); line["result"] != "failed" || line["error"] == nil {
		t.Errorf("history line = %v, want result failed with the error", line)
	}
}

func TestChaosWithAnInvalidRequestPostsNothing(t *testing.T) {
	posted := make(chan struct{}, 1)
	_, port := listenLocal(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { posted <- struct{}{} }))
	s := stackOnPort(t, port)
	err := s.Chaos(context.Background(), ChaosRequest{Mode: "boom"})
	if !errors.Is(err, fail.ErrInvalid) {
		t.Fatalf("Chaos error = %v, want fail.ErrInvalid", err)
	}
	select {
	case <-posted:
		t.Error("an invalid chaos request reached the stack")
	default:
	}
}
