package router

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/platform"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// fakeNginx answers the probe from the instance at addr, saying version,
// and the routing it last read; Reroute makes it read next.
type fakeNginx struct {
	mu       sync.Mutex
	addr     string
	version  string
	routing  string
	next     string
	reroutes atomic.Int32
	srv      *httptest.Server
}

func startNginx(t *testing.T, addr, version string) *fakeNginx {
	t.Helper()
	n := &fakeNginx{addr: addr, version: version, routing: render.RoutingSteady, next: render.RoutingSteady}
	n.srv = listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch r.URL.Path {
		case render.ProbePath:
			w.Header().Set(render.UpstreamHeader, n.addr+":3000")
			fmt.Fprintf(w, `{"status":"ok","mode":"stable","version":%q}`, n.version)
		case render.RoutingPath:
			fmt.Fprintf(w, `{"routing":%q}`, n.routing)
		default:
			http.NotFound(w, r)
		}
	}))
	return n
}

func (n *fakeNginx) Reroute(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.routing = n.next
	n.reroutes.Add(1)
	return nil
}

func (n *fakeNginx) AdminAddr(context.Context) (string, error) {
	return n.srv.Listener.Addr().String(), nil
}

func (n *fakeNginx) router(t *testing.T) *Router {
	return New(n, filepath.Join(t.TempDir(), "pins.json"), 50*time.Millisecond, "/healthz")
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
	data, err := os.ReadFile(r.pins)
	if err != nil || strings.TrimSpace(string(data)) != `{"app":["192.0.2.10","192.0.2.9"]}` {
		t.Errorf("pin file %q (%v), want both addresses sorted under the app's name", data, err)
	}
	for range 2 {
		if err := r.Unpin(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(r.pins); !os.IsNotExist(err) {
		t.Errorf("the pin file is still there: %v", err)
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
	if data, _ := os.ReadFile(r.pins); !strings.Contains(string(data), appB.Addr) {
		t.Errorf("pin file %q, want app-2 pinned", data)
	}
}

func TestRouteRereadsTheConfigurationAndWaitsUntilNginxRoutesAsAsked(t *testing.T) {
	n := startNginx(t, appA.Addr, "1")
	n.next = "canary 2.0.0 at 10%"
	if err := n.router(t).Route(context.Background(), "canary 2.0.0 at 10%"); err != nil {
		t.Fatal(err)
	}
	if n.reroutes.Load() != 1 {
		t.Errorf("rerouted %d times, want once", n.reroutes.Load())
	}
}

func TestRouteSaysWhatNginxStillRoutesWhenItDoesNotTakeTheNewRouting(t *testing.T) {
	n := startNginx(t, appA.Addr, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := n.router(t).Route(ctx, "canary 2.0.0 at 10%")
	if err == nil || !strings.Contains(err.Error(), "did not take the new routing (canary 2.0.0 at 10%)") || !strings.Contains(err.Error(), "it still routes steady") {
		t.Fatalf("Route = %v, want the routing asked for and the one nginx keeps", err)
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
