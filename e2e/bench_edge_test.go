package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// edgeRounds and edgeRound shape BenchmarkEdgeCost: the three ways in take
// turns, in rotating order, so that drift on this shared machine falls on
// each alike; each way's figure is its median round.
const (
	edgeRounds = 5
	edgeRound  = 3 * time.Second
)

// BenchmarkEdgeCost measures what the host's edge costs a request, on the
// same shipped app, in the same run, closed loop with 20 keep-alive clients
// that never retry: straight to the stack's nginx (its nginx.port, one hop),
// through the edge over plain HTTP (a stack with edge.tls.mode: off: the
// second hop alone), and through the edge over HTTPS (the hop and TLS). It
// reports each one's req/s and p99, the hop's share of the throughput, and
// TLS's on top. Beside the edge, as peers, HAProxy and Caddy from Debian
// terminate TLS with the same certificate in front of the same stack's
// nginx.port, loaded alike. And for the edge and each peer, 20 clients that
// open a new connection per request, a full TLS handshake each (no session
// resumption): handshakes per second, and p99 of such a first request, from
// the dial to the last byte of the answer.
func BenchmarkEdgeCost(b *testing.B) {
	e, _ := newTestEdge(b)
	secure := newProject(b, manifestOptions{})
	secure.env = e.env
	certPEM, keyPEM := selfSigned(b, "bench-tls.test", "")
	secure.write("cert.pem", string(certPEM))
	secure.write("key.pem", string(keyPEM))
	secure.write("manifest.yaml", secure.manifest+e.section("bench-tls.test", "    mode: files\n    cert: cert.pem\n    key: key.pem\n", ""))
	secure.must("deploy")
	plain := newProject(b, manifestOptions{})
	plain.env = e.env
	plain.write("manifest.yaml", plain.manifest+e.section("bench-plain.test", "    mode: off\n", ""))
	plain.must("deploy")

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	tcp := func(port int) func() (net.Conn, error) {
		return func() (net.Conn, error) {
			return net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), requestTimeout)
		}
	}
	// A client without a session cache: every new connection is a full
	// handshake, as a new visitor's is.
	tlsTo := func(port int) func() (net.Conn, error) {
		return func() (net.Conn, error) {
			d := &net.Dialer{Timeout: requestTimeout}
			return tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{ServerName: "bench-tls.test", RootCAs: roots})
		}
	}
	// The peers as the edge: HAProxy and Caddy from Debian terminating TLS
	// with the same certificate in front of the same stack's nginx.port.
	programs := peerPrograms(b)
	b.Logf("peers: %s", peerVersions(b, programs))
	stackAddr := fmt.Sprintf("127.0.0.1:%d", secure.port)
	haproxy := startTLSHAProxy(b, programs["haproxy"], certPEM, keyPEM, stackAddr)
	caddy := startTLSCaddy(b, programs["caddy"], certPEM, keyPEM, stackAddr)
	ways := []struct {
		name, host string
		dial       func() (net.Conn, error)
		fresh      bool // a new connection, and handshake, per request
	}{
		{"direct", "127.0.0.1", tcp(secure.port), false},
		{"edge-http", "bench-plain.test", tcp(e.httpPort), false},
		{"edge-https", "bench-tls.test", tlsTo(e.httpsPort), false},
		{"haproxy-https", "bench-tls.test", tlsTo(haproxy), false},
		{"caddy-https", "bench-tls.test", tlsTo(caddy), false},
		{"edge-new", "bench-tls.test", tlsTo(e.httpsPort), true},
		{"haproxy-new", "bench-tls.test", tlsTo(haproxy), true},
		{"caddy-new", "bench-tls.test", tlsTo(caddy), true},
	}
	for b.Loop() {
		rates := make([][]float64, len(ways))
		p99s := make([][]float64, len(ways))
		failed := 0.0
		for r := range edgeRounds {
			for k := range ways {
				w := ways[(k+r)%len(ways)]
				i := (k + r) % len(ways)
				start := startLoadDialing
				if w.fresh {
					start = startFreshLoad
				}
				l := start(b, w.host, "/", 20, w.dial)
				time.Sleep(edgeRound)
				l.stop()
				rates[i] = append(rates[i], l.rate())
				p99s[i] = append(p99s[i], float64(l.quantile(0.99).Microseconds())/1000)
				failed += float64(l.errs.Load() + l.non2xx.Load())
				b.Logf("round %d, %s: %s", r+1, w.name, l)
			}
		}
		med := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
		for i, w := range ways {
			if w.fresh {
				b.ReportMetric(med(rates[i]), w.name+"-handshakes/s")
				b.ReportMetric(med(p99s[i]), w.name+"-first-p99-ms")
				continue
			}
			b.ReportMetric(med(rates[i]), w.name+"-req/s")
			b.ReportMetric(med(p99s[i]), w.name+"-p99-ms")
		}
		direct, hop, tlsRate := med(rates[0]), med(rates[1]), med(rates[2])
		b.ReportMetric(100*(1-hop/direct), "hop-cost-%")
		b.ReportMetric(100*(1-tlsRate/hop), "tls-cost-%")
		b.ReportMetric(failed, "failed")
	}
}

// startTLSHAProxy runs HAProxy terminating TLS with the certificate and key
// in front of addr, keeping its connections to it alive, and returns its
// port.
func startTLSHAProxy(b *testing.B, program string, certPEM, keyPEM []byte, addr string) int {
	b.Helper()
	dir := peerDir(b)
	port := freePort(b)
	both := filepath.Join(dir, "bench.pem")
	writeConfig(b, both, string(certPEM)+string(keyPEM))
	config := filepath.Join(dir, "haproxy.cfg")
	writeConfig(b, config, haproxyConfig("    ssl-default-bind-options ssl-min-ver TLSv1.2\n",
		fmt.Sprintf("127.0.0.1:%d ssl crt %s alpn h2,http/1.1", port, both), addr))
	startServer(b, peerCommand(program, "-db", "-f", config), port)
	return port
}

// startTLSCaddy runs Caddy terminating TLS with the certificate and key in
// front of addr (no admin endpoint, no certificates of its own), and returns
// its port.
func startTLSCaddy(b *testing.B, program string, certPEM, keyPEM []byte, addr string) int {
	b.Helper()
	dir := peerDir(b)
	port := freePort(b)
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeConfig(b, cert, string(certPEM))
	writeConfig(b, key, string(keyPEM))
	config := filepath.Join(dir, "Caddyfile")
	writeConfig(b, config, fmt.Sprintf(`{
	admin off
	auto_https off
}

https://bench-tls.test:%d {
	bind 127.0.0.1
	tls %s %s
	reverse_proxy %s
}
`, port, cert, key, addr))
	caddy := peerCommand(program, "run", "--config", config, "--adapter", "caddyfile")
	caddy.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	startServer(b, caddy, port)
	return port
}
