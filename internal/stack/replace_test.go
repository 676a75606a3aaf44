package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// fakeRuntime plays a stack with one running app ("old"): StartBeside starts
// "new", whose health follows script, one state per look; Retire and Remove
// note what they were given and which addresses were pinned at that moment.
type fakeRuntime struct {
	platform.Runtime // anything the switch must not call panics
	t                *testing.T
	pins             string // the pin file
	script           []string
	mu               sync.Mutex
	looks            int
	retired, removed []string
	pinnedAtRetire   string
	apps             []platform.Instance // what Instances lists
}

func (f *fakeRuntime) Instances(ctx context.Context, role platform.Role) ([]platform.Instance, error) {
	return f.apps, nil
}

var (
	oldApp = platform.Instance{ID: "old", Name: "swiftdeploy-app-1", Role: platform.App, State: "running", Health: "healthy", Addr: "192.0.2.10", Reach: "192.0.2.10"}
	newApp = platform.Instance{ID: "new", Name: "swiftdeploy-app-2", Role: platform.App, State: "running", Health: "starting", Addr: "192.0.2.11", Reach: "192.0.2.11"}
)

func (f *fakeRuntime) StartBeside(ctx context.Context, role platform.Role) ([]platform.Instance, error) {
	if role != platform.App {
		f.t.Errorf("StartBeside(%q), want the app", role)
	}
	return []platform.Instance{newApp}, nil
}

func (f *fakeRuntime) Instance(ctx context.Context, id string) (platform.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != newApp.ID {
		return platform.Instance{}, fmt.Errorf("no instance %s", id)
	}
	got := newApp
	state := f.script[min(f.looks, len(f.script)-1)]
	f.looks++
	if state == "exited" {
		got.State, got.ExitCode = "exited", 2
	} else {
		got.Health = state
	}
	return got, nil
}

func (f *fakeRuntime) Retire(ctx context.Context, grace time.Duration, ids ...string) error {
	f.retired = append(f.retired, ids...)
	pins, _ := os.ReadFile(f.pins)
	f.pinnedAtRetire = strings.TrimSpace(string(pins))
	return nil
}

func (f *fakeRuntime) Remove(ctx context.Context, ids ...string) error {
	f.removed = append(f.removed, ids...)
	return nil
}

func (f *fakeRuntime) Logs(ctx context.Context, id string, n int) (string, error) { return "", nil }

// switchStack is a stack in a temporary folder whose nginx is an HTTP server
// answering SwiftDeploy's probe from the app in mode: the old app (stable) or
// the new one (canary), by its address.
func switchStack(t *testing.T, mode string) (*Stack, *manifest.Manifest) {
	t.Helper()
	addr := oldApp.Addr
	if mode == "canary" {
		addr = newApp.Addr
	}
	nginx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != render.ProbePath {
			http.NotFound(w, r)
			return
		}
		w.Header().Set(render.UpstreamHeader, addr+":3000")
		fmt.Fprintf(w, `{"status":"ok","mode":%q,"version":"1.0.0"}`, mode)
	}))
	t.Cleanup(nginx.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(nginx.URL, "http://"))
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, TemplatesDir), os.DirFS(filepath.Join("..", "..", TemplatesDir))); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(filepath.Join("testdata", "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Sscan(port, &m.Nginx.Port)
	if err := os.MkdirAll(filepath.Join(root, render.ResolverDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, render.ComposeFile), []byte("previous\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := withAdmin(&Stack{Root: root, Project: "swiftdeploy-unit", Out: ui.New(io.Discard), Now: time.Now,
		HealthTimeout: 10 * time.Second, NginxFollow: 50 * time.Millisecond}, nginx.Listener.Addr().String())
	return s, m
}

func TestASwitchMovesNginxToTheHealthyNewAppBeforeRetiringTheOldOne(t *testing.T) {
	s, m := switchStack(t, "canary")
	rt := &fakeRuntime{t: t, pins: s.path(render.PinsFile), script: []string{"starting", "starting", "healthy"}}
	if err := s.replaceApp(context.Background(), rt, m, inMode(m, "canary"), "promote", []platform.Instance{oldApp}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rt.retired, []string{"old"}) || len(rt.removed) != 0 {
		t.Errorf("retired %v, removed %v; want the old app retired and nothing removed", rt.retired, rt.removed)
	}
	if rt.pinnedAtRetire != `{"app":["192.0.2.11"]}` {
		t.Errorf("when the old app was retired the pin was %q, want the new app's address alone", rt.pinnedAtRetire)
	}
	if _, err := os.Stat(rt.pins); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pin file is still there after the switch: %v", err)
	}
	// The switch stays recorded until the manifest says canary too.
	if st, err := s.loadState(); err != nil || st.Switch == nil || st.Switch.Phase != phaseMoved || !slices.Equal(st.Switch.New, []string{"new"}) {
		t.Errorf("state after the switch: %+v, %v; want it moved to the new app", st.Switch, err)
	}
	if compose, _ := os.ReadFile(s.path(render.ComposeFile)); !strings.Contains(string(compose), `MODE: "canary"`) {
		t.Errorf("docker-compose.yml was not regenerated with the new mode:\n%s", compose)
	}
}

func TestANewAppThatDiesIsRemovedAndTheOldOneKeepsServing(t *testing.T) {
	s, m := switchStack(t, "stable")
	rt := &fakeRuntime{t: t, pins: s.path(render.PinsFile), script: []string{"starting", "exited"}}
	err := s.replaceApp(context.Background(), rt, m, inMode(m, "canary"), "promote", []platform.Instance{oldApp})
	if err == nil || !strings.Contains(err.Error(), "exited with code 2") || !strings.Contains(err.Error(), "traffic stays on the stable app") {
		t.Fatalf("replaceApp = %v, want the new app's exit and traffic staying on stable", err)
	}
	if len(rt.retired) != 0 || !slices.Equal(rt.removed, []string{"new"}) {
		t.Errorf("retired %v, removed %v; want only the new app removed", rt.retired, rt.removed)
	}
	if _, err := os.Stat(rt.pins); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pin file is still there after the abandoned switch: %v", err)
	}
	files, err := render.Render(s.path(TemplatesDir), m, s.Project)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if got, _ := os.ReadFile(s.path(f.Path)); string(got) != string(f.Data) {
			t.Errorf("%s does not describe the stable app again:\n%s", f.Path, got)
		}
	}
	if st, err := s.loadState(); err != nil || st.Switch != nil {
		t.Errorf("state after an abandoned switch: %+v, %v; want none", st.Switch, err)
	}
}

func TestANewAppThatTurnsUnhealthyAfterThePinSendsNginxBackToTheOldOne(t *testing.T) {
	s, m := switchStack(t, "stable")
	s.NginxFollow = time.Second // long enough to watch the new app after the pin
	var pinsSeen []string
	rt := &fakeRuntime{t: t, pins: s.path(render.PinsFile), script: []string{"healthy", "healthy", "unhealthy"}}
	done := make(chan error, 1)
	go func() {
		done <- s.replaceApp(context.Background(), rt, m, inMode(m, "canary"), "promote", []platform.Instance{oldApp})
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "is unhealthy") {
				t.Fatalf("replaceApp = %v, want the new app unhealthy", err)
			}
			if !slices.Contains(pinsSeen, `{"app":["192.0.2.11"]}`) || !slices.Contains(pinsSeen, `{"app":["192.0.2.10"]}`) {
				t.Errorf("pins seen %q, want the new app pinned, then the old one again", pinsSeen)
			}
			// It may have served requests since the pin: it drains.
			if !slices.Equal(rt.retired, []string{"new"}) || len(rt.removed) != 0 {
				t.Errorf("retired %v, removed %v; want only the new app retired", rt.retired, rt.removed)
			}
			return
		case <-deadline:
			t.Fatal("replaceApp did not return")
		case <-time.After(20 * time.Millisecond):
			if pins, err := os.ReadFile(rt.pins); err == nil {
				p := strings.TrimSpace(string(pins))
				if len(pinsSeen) == 0 || pinsSeen[len(pinsSeen)-1] != p {
					pinsSeen = append(pinsSeen, p)
				}
			}
		}
	}
}

// recoverStack is switchStack with the manifest in place and a switch that a
// killed command left in the state file.
func recoverStack(t *testing.T, phase, nginxMode string) (*Stack, *fakeRuntime, *manifest.Manifest) {
	t.Helper()
	s, m := switchStack(t, nginxMode)
	data, err := os.ReadFile(filepath.Join("testdata", "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path(ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	started := newApp
	started.Health = "healthy"
	rt := &fakeRuntime{t: t, pins: s.path(render.PinsFile), apps: []platform.Instance{oldApp, started}}
	sw := &Switch{Action: "promote", From: "stable", To: "canary", PID: 4242, Phase: phase, Old: []string{"old"}, New: []string{"new"}}
	if err := s.saveState(State{Switch: sw}); err != nil {
		t.Fatal(err)
	}
	return s, rt, m
}

func checkRecovered(t *testing.T, s *Stack, rt *fakeRuntime, mode string) {
	t.Helper()
	m, err := manifest.Load(s.path(ManifestFile))
	if err != nil || m.Services.Mode != mode {
		t.Errorf("manifest mode after recovery: %v (%v), want %s", m, err, mode)
	}
	if st, err := s.loadState(); err != nil || st.Switch != nil {
		t.Errorf("state after recovery: %+v, %v; want none", st.Switch, err)
	}
	if _, err := os.Stat(rt.pins); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pin file is still there after recovery: %v", err)
	}
}

func TestASwitchKilledBeforeNginxMovedIsUndone(t *testing.T) {
	s, rt, m := recoverStack(t, phaseStarting, "stable")
	if err := s.recoverSwitch(context.Background(), rt, m); err != nil {
		t.Fatal(err)
	}
	if len(rt.retired) != 0 || !slices.Equal(rt.removed, []string{"new"}) {
		t.Errorf("retired %v, removed %v; want the new app removed", rt.retired, rt.removed)
	}
	checkRecovered(t, s, rt, "stable")
}

func TestASwitchKilledAfterNginxMovedIsFinished(t *testing.T) {
	s, rt, m := recoverStack(t, phaseMoved, "canary")
	if err := s.recoverSwitch(context.Background(), rt, m); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rt.retired, []string{"old"}) || len(rt.removed) != 0 {
		t.Errorf("retired %v, removed %v; want the old app retired", rt.retired, rt.removed)
	}
	if rt.pinnedAtRetire != `{"app":["192.0.2.11"]}` {
		t.Errorf("pin when the old app was retired: %q, want the new app alone", rt.pinnedAtRetire)
	}
	checkRecovered(t, s, rt, "canary")
}

// A pin that does not take (the resolver down, say) must never lead to the
// old app being stopped: nginx would have nothing left to send requests to.
func TestAPinThatNginxDoesNotFollowLeavesTheOldAppServing(t *testing.T) {
	s, m := switchStack(t, "stable") // nginx goes on answering from the stable app
	rt := &fakeRuntime{t: t, pins: s.path(render.PinsFile), script: []string{"healthy"}}
	err := s.replaceApp(context.Background(), rt, m, inMode(m, "canary"), "promote", []platform.Instance{oldApp})
	if err == nil || !strings.Contains(err.Error(), "nginx did not move to the canary 1.0.0 app") || !strings.Contains(err.Error(), "traffic stays on the stable app") {
		t.Fatalf("replaceApp = %v, want nginx not moving and traffic staying on stable", err)
	}
	if !slices.Equal(rt.retired, []string{"new"}) || len(rt.removed) != 0 {
		t.Errorf("retired %v, removed %v; want the new app retired and the old one left alone", rt.retired, rt.removed)
	}
	if rt.pinnedAtRetire != `{"app":["192.0.2.10"]}` {
		t.Errorf("pin when the new app was retired: %q, want the old app again", rt.pinnedAtRetire)
	}
}

// inMode is m switched to mode.
func inMode(m *manifest.Manifest, mode string) *manifest.Manifest {
	next := *m
	next.Services.Mode = mode
	return &next
}
