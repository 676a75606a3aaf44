package stack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
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
			srv, _ := listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != render.ProbePath {
					http.NotFound(w, r)
					return
				}
				w.Header().Set(render.UpstreamHeader, c.upstream)
				w.WriteHeader(c.status)
				fmt.Fprint(w, c.body)
			}))
			m := &manifest.Manifest{Services: manifest.Services{HealthPath: "/health.txt"}}
			s := withAdmin(&Stack{}, srv.Listener.Addr().String())
			p, err := probeNginx(context.Background(), s.admin(m), m)
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
