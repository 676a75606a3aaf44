package router

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

func TestTheProbeNeedsA2xxAndReadsSwiftDeploysHealthOnlyWhenItIsThere(t *testing.T) {
	cases := []struct {
		name, body, upstream string
		status               int
		wantErr              string
		wantMode, wantAddr   string
	}{
		{"an app that answers plain text", "OK\n", "172.20.0.3:8000", 200, "", "", "172.20.0.3"},
		{"an empty 204", "", "172.20.0.3:8000", 204, "", "", "172.20.0.3"},
		{"SwiftDeploy's health", `{"status":"ok","mode":"canary","version":"1.1.0"}`, "172.20.0.3:3000", 200, "", "canary", "172.20.0.3"},
		{"a retried request", "OK", "172.20.0.9:3000, 172.20.0.3:3000", 200, "", "", "172.20.0.3"},
		{"a health JSON that is not ok", `{"status":"degraded"}`, "172.20.0.3:3000", 200, `says status "degraded"`, "", ""},
		{"a 503", "warming up", "172.20.0.3:3000", 503, "answered HTTP 503: warming up", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != render.ProbePath {
					http.NotFound(w, r)
					return
				}
				w.Header().Set(render.UpstreamHeader, c.upstream)
				w.WriteHeader(c.status)
				fmt.Fprint(w, c.body)
			}))
			p, err := at(srv).Probe(context.Background())
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("probe = %v, want an error saying %q", err, c.wantErr)
				}
				return
			}
			if err != nil || p.Upstream != c.wantAddr || p.Health.Mode != c.wantMode {
				t.Errorf("probe = %+v, %v; want upstream %s and mode %q", p, err, c.wantAddr, c.wantMode)
			}
		})
	}
}

// adminAt is an nginx whose admin listener is srv.
type adminAt struct{ addr string }

func (a adminAt) AdminAddr(context.Context) (string, error) { return a.addr, nil }

// at is a router of the nginx whose admin listener is srv, pinning in a
// temporary folder.
func at(srv *httptest.Server) *Router {
	return New(adminAt{srv.Listener.Addr().String()}, Files{}, 50*time.Millisecond, "/health.txt")
}

func TestAnAdminURLNamesTheListenerTheClientDials(t *testing.T) {
	srv := listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Host+r.URL.Path) }))
	resp, err := at(srv).Client().Get(URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != adminHost+"/metrics" {
		t.Errorf("the admin listener saw %q, want %s/metrics", body, adminHost)
	}
}

func TestALongErrorBodyIsCutInTheProbesMessage(t *testing.T) {
	srv := listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, strings.Repeat("x", 500))
	}))
	_, err := at(srv).Probe(context.Background())
	if err == nil || !strings.HasSuffix(err.Error(), strings.Repeat("x", 120)+"…") {
		t.Errorf("Probe = %v, want the body cut at 120 characters", err)
	}
}
