//go:build swarm

package e2e

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
)

// TestSwarmAStackBehindTheEdge serves a swarm stack (two app tasks) through
// the host's edge with the operator's certificate, beside a compose stack on
// the same edge: both answer over HTTPS by name, and a release of the swarm
// stack under 20 clients through the edge fails none of their requests and
// disturbs none of the compose stack's.
func TestSwarmAStackBehindTheEdge(t *testing.T) {
	e, _ := newTestEdge(t)
	certPEM, keyPEM := selfSigned(t, "swarm.test", "")
	s := swarmProject(t, 2, "rollout:\n  strategy: canary\n  steps: [50, 100]\n  step_seconds: 4\n  sticky: true\n")
	s.env = e.env
	s.write("cert.pem", string(certPEM))
	s.write("key.pem", string(keyPEM))
	s.manifest += e.section("swarm.test", "    mode: files\n    cert: cert.pem\n    key: key.pem\n", "")
	s.write("manifest.yaml", s.manifest)
	s.must("setup")
	s.expect(0, []string{fmt.Sprintf("the host's edge serves https://swarm.test:%d/", e.httpsPort)}, "deploy")

	composeCert, composeKey := selfSigned(t, "compose.test", "")
	c := newProject(t, manifestOptions{})
	c.env = e.env
	c.write("cert.pem", string(composeCert))
	c.write("key.pem", string(composeKey))
	c.write("manifest.yaml", c.manifest+e.section("compose.test", "    mode: files\n    cert: cert.pem\n    key: key.pem\n", ""))
	c.must("deploy")

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	roots.AppendCertsFromPEM(composeCert)
	client := e.client(roots, nil)
	for _, host := range []string{"swarm.test", "compose.test"} {
		if proto, code, _, body := protoOf(t, client, e.url("https", host, "/healthz")); code != 200 || proto != "HTTP/2.0" || !strings.Contains(body, `"status":"ok"`) {
			t.Errorf("https://%s/healthz answered %s %d %q", host, proto, code, body)
		}
	}

	composeLoad := startEdgeLoad(t, e, roots, e.url("https", "compose.test", "/"), 20)
	swarmLoad := startEdgeLoad(t, e, roots, e.url("https", "swarm.test", "/"), 20)
	s.write("manifest.yaml", strings.Replace(s.manifest, `version: "2.0.0"`, `version: "2.1.0"`, 1))
	s.expect(0, []string{"released "}, "deploy")
	swarmLoad.stop()
	composeLoad.stop()
	t.Logf("swarm.test through its release: %s", swarmLoad)
	t.Logf("compose.test meanwhile: %s", composeLoad)
	if swarmLoad.non2xx.Load() != 0 || swarmLoad.errs.Load() != 0 || swarmLoad.versions["2.1.0"] == 0 {
		t.Errorf("the swarm stack's release through the edge failed requests: %s", swarmLoad)
	}
	if composeLoad.non2xx.Load() != 0 || composeLoad.errs.Load() != 0 || composeLoad.reconnects() != 0 {
		t.Errorf("the compose stack was disturbed by the swarm stack's release: %s", composeLoad)
	}
}
