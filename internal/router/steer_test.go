package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// fakeNginx answers the probe from the instance at addr, saying version;
// the probe through the weighted pool from routed, when it is set.
type fakeNginx struct {
	mu      sync.Mutex
	addr    string
	routed  string
	version string
	srv     *httptest.Server
}

func startNginx(t *testing.T, addr, version string) *fakeNginx {
	t.Helper()
	n := &fakeNginx{addr: addr, version: version}
	n.srv = listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch r.URL.Path {
		case render.ProbePath, render.RoutedProbePath:
			addr := n.addr
			if r.URL.Path == render.RoutedProbePath && n.routed != "" {
				addr = n.routed
			}
			w.Header().Set(render.UpstreamHeader, addr+":3000")
			fmt.Fprintf(w, `{"status":"ok","mode":"stable","version":%q}`, n.version)
		default:
			http.NotFound(w, r)
		}
	}))
	return n
}

func (n *fakeNginx) AdminAddr(context.Context) (string, error) {
	return n.srv.Listener.Addr().String(), nil
}

func (n *fakeNginx) router(t *testing.T) *Router {
	files := FilesIn(t.TempDir())
	for _, f := range []string{files.Routes, files.Recording} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return New(n, files, 50*time.Millisecond, "/healthz")
}

var (
	appA = platform.Instance{Name: "app-1", Addr: "192.0.2.10"}
	appB = platform.Instance{Name: "app-2", Addr: "192.0.2.9"}
)

func TestAPinNamesTheInstancesAddressesSortedAndUnpinningTwiceIsFine(t *testing.T) {
	r := startNginx(t, appA.Addr, "1").router(t)
	if err := r.Pin([]platform.Instance{appA, appB}); err != nil {
		t.Fatal(err)
	}
	rt, err := r.readRoutes()
	if err != nil || !slices.Equal(rt.Pins["app"], []string{"192.0.2.10", "192.0.2.9"}) || len(rt.Pins) != 1 {
		t.Errorf("routes %+v (%v), want both addresses sorted under the app's name", rt, err)
	}
	for range 2 {
		if err := r.Unpin(); err != nil {
			t.Fatal(err)
		}
	}
	if rt, err := r.readRoutes(); err != nil || rt.Pins != nil {
		t.Errorf("routes %+v (%v) after unpinning, want no pins", rt, err)
	}
}

func TestAnInstanceWithoutAnAddressCannotBePinned(t *testing.T) {
	r := startNginx(t, appA.Addr, "1").router(t)
	err := r.Pin([]platform.Instance{{Name: "app-3"}})
	if err == nil || !strings.Contains(err.Error(), "app-3 has no address") {
		t.Fatalf("Pin = %v, want the instance without an address named", err)
	}
}

func TestConfirmNeedsAnswersInARowFromTheExpectedInstanceAndVersion(t *testing.T) {
	n := startNginx(t, appA.Addr, "1.0.0")
	r := n.router(t)
	if err := r.Confirm(context.Background(), []platform.Instance{appA}, Expect{Mode: "stable", Version: "1.0.0"}); err != nil {
		t.Fatalf("Confirm from the instance nginx answers from: %v", err)
	}
	err := r.Confirm(context.Background(), []platform.Instance{appB}, Expect{Mode: "stable", Version: "1.0.0"})
	if err == nil || !strings.Contains(err.Error(), "nginx did not move to the stable 1.0.0 app") || !strings.Contains(err.Error(), "an answer from 192.0.2.10") {
		t.Errorf("Confirm for another instance = %v, want nginx not moving, naming where it answers from", err)
	}
	err = r.Confirm(context.Background(), []platform.Instance{appA}, Expect{Mode: "stable", Version: "2.0.0"})
	if err == nil || !strings.Contains(err.Error(), "an answer from the stable 1.0.0 app") {
		t.Errorf("Confirm for another version = %v, want the version that answers named", err)
	}
}

func TestMoveToPinsWaitsForNginxAndConfirms(t *testing.T) {
	n := startNginx(t, appB.Addr, "1")
	r := n.router(t)
	start := time.Now()
	if err := r.MoveTo(context.Background(), []platform.Instance{appB}, Expect{Mode: "stable"}); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < r.FollowTime() {
		t.Errorf("MoveTo returned after %s, before nginx could follow (%s)", time.Since(start), r.FollowTime())
	}
	if rt, _ := r.readRoutes(); !slices.Equal(rt.Pins["app"], []string{appB.Addr}) {
		t.Errorf("routes %+v, want app-2 pinned", rt)
	}
}

// fakeResolver answers nginx's questions for the weighted lines from the
// router's routes file, as nginx asks them, every 20 ms, and writes the
// served file as the resolver does, until the test ends; asked counts the
// questions.
func fakeResolver(t *testing.T, files Files) (asked *atomic.Int32) {
	asked = new(atomic.Int32)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		lines := map[string]map[string]int64{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			data, err := os.ReadFile(files.Routes)
			var rt routes
			if err != nil || json.Unmarshal(data, &rt) != nil {
				continue
			}
			for _, line := range []string{"stable", "canary"} {
				l := lines[line]
				if l == nil || l["generation"] != rt.Generation {
					l = map[string]int64{"generation": rt.Generation}
				}
				l["answers"]++
				lines[line] = l
			}
			asked.Add(1)
			out, _ := json.Marshal(lines)
			os.WriteFile(files.Served, out, 0o644)
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return asked
}

func TestRouteWeighsTheCanaryThroughTheResolverAndWaitsUntilNginxAskedTwice(t *testing.T) {
	r := startNginx(t, appA.Addr, "1").router(t)
	if err := r.Pin([]platform.Instance{appA}); err != nil {
		t.Fatal(err)
	}
	asked := fakeResolver(t, r.files)
	rel := &render.Release{Weight: 10}
	if err := r.Route(context.Background(), rel); err != nil {
		t.Fatal(err)
	}
	rt, _ := r.readRoutes()
	if rt.Canary == nil || rt.Canary.Weight != 10 || !slices.Equal(rt.Pins["app"], []string{appA.Addr}) {
		t.Errorf("routes %+v, want the canary at 10%% and the pin kept", rt)
	}
	if n := asked.Load(); n < 2 {
		t.Errorf("Route returned after %d questions, want at least two from the new generation", n)
	}
	if err := r.Route(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if rt, _ := r.readRoutes(); rt.Canary != nil {
		t.Errorf("routes %+v after the release, want no canary", rt)
	}
}

func TestRecordingEmptiesTheLogOfTheLastChangeAndStopsWhenAsked(t *testing.T) {
	r := startNginx(t, appA.Addr, "1").router(t)
	if err := os.WriteFile(r.files.Log, []byte("100.000|app|200|192.0.2.10:3000|200|0.001|/|0.001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Record(true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.files.Recording); err != nil {
		t.Errorf("nginx does not record the change's requests: %v", err)
	}
	if fi, err := os.Stat(r.files.Log); err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o666 {
		t.Errorf("the log of the last change: %v, %v; want it emptied and writable by nginx's user", fi, err)
	}
	// A route change no longer stops the recording: the retirement after
	// a release's takeover is part of what it cost.
	fakeResolver(t, r.files)
	if err := r.Route(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.files.Recording); err != nil {
		t.Errorf("routing every request to stable stopped the recording: %v", err)
	}
	for range 2 {
		if err := r.Record(false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(r.files.Recording); !os.IsNotExist(err) {
		t.Errorf("nginx still records requests after the change: %v", err)
	}
}

func TestRouteSaysSoWhenNginxDoesNotAskForTheNewRouting(t *testing.T) {
	r := startNginx(t, appA.Addr, "1").router(t)
	os.WriteFile(r.files.Served, []byte(`{"stable": {"generation": 1, "answers": 9}, "canary": {"generation": 1, "answers": 9}}`), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := r.Route(ctx, &render.Release{Canary: manifest.Build{Version: "2.0.0"}, Weight: 10})
	if err == nil || !strings.Contains(err.Error(), "did not take the new routing (canary 2.0.0 at 10%)") || !strings.Contains(err.Error(), "nginx has not asked for the stable line twice since") {
		t.Fatalf("Route = %v, want the routing asked for and what is missing", err)
	}
}

// resolvers is a runtime listing one resolver (or none).
type resolvers struct {
	platform.Runtime
	list []platform.Instance
}

func (r resolvers) Instances(context.Context, platform.Role) ([]platform.Instance, error) {
	return r.list, nil
}

func TestNginxCannotFollowAPinWithoutItsResolverOrWithOneStartedAfterIt(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	nginx := platform.Instance{State: "running", StartedAt: t0}
	cases := []struct {
		name string
		list []platform.Instance
		want string
	}{
		{"no resolver", nil, ResolverDown},
		{"a stopped resolver", []platform.Instance{{State: "exited", StartedAt: t0.Add(-time.Minute)}}, ResolverDown},
		{"a resolver started after nginx", []platform.Instance{{State: "running", StartedAt: t0.Add(time.Second)}}, ResolverReplaced},
		{"a resolver started before nginx", []platform.Instance{{State: "running", StartedAt: t0.Add(-time.Second)}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Problem(context.Background(), resolvers{list: c.list}, nginx)
			if err != nil || got != c.want {
				t.Errorf("Problem = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestAProbeAnswerNamesWhatTheAppSaysOfItself(t *testing.T) {
	p := Probed{Health: Health{Mode: "canary", Version: "1.1.0"}}
	if got := p.Describe(); got != "mode canary, version 1.1.0" {
		t.Errorf("Describe = %q", got)
	}
	if got := (Probed{}).Describe(); got != "" {
		t.Errorf("Describe of an app that says nothing = %q, want empty", got)
	}
}

// The weighted pool clients' requests go to is confirmed too: a canary it
// still sends requests to is seen, though the stable pool moved.
func TestConfirmNeedsTheWeightedPoolToAnswerFromTheExpectedInstanceToo(t *testing.T) {
	n := startNginx(t, appA.Addr, "1.0.0")
	n.routed = appB.Addr
	err := n.router(t).Confirm(context.Background(), []platform.Instance{appA}, Expect{Mode: "stable"})
	if err == nil || !strings.Contains(err.Error(), "an answer from "+appB.Addr) {
		t.Errorf("Confirm while the weighted pool answers from another instance = %v, want that instance named", err)
	}
}

func TestRouteConfirmedRoutesThenSeesTheAppsAnswerThroughNginx(t *testing.T) {
	n := startNginx(t, appA.Addr, "1.0.0")
	r := n.router(t)
	fakeResolver(t, r.files)
	if err := r.Route(context.Background(), &render.Release{Weight: 10}); err != nil {
		t.Fatal(err)
	}
	stable := func(context.Context) []platform.Instance { return []platform.Instance{appA} }
	if err := r.RouteConfirmed(context.Background(), nil, Expect{Mode: "stable"}, stable); err != nil {
		t.Fatalf("RouteConfirmed = %v", err)
	}
	if rt, _ := r.readRoutes(); rt.Canary != nil {
		t.Errorf("routes %+v, want no canary", rt)
	}
	// The weighted pool keeps answering from the canary: routed, but not
	// confirmed.
	n.mu.Lock()
	n.routed = appB.Addr
	n.mu.Unlock()
	err := r.RouteConfirmed(context.Background(), nil, Expect{Mode: "stable"}, stable)
	if err == nil || !strings.Contains(err.Error(), "an answer from "+appB.Addr) {
		t.Errorf("RouteConfirmed while the weighted pool answers from the canary = %v, want that named", err)
	}
}
