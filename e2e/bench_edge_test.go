package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
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
// TLS's on top.
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
	ways := []struct {
		name, host string
		dial       func() (net.Conn, error)
	}{
		{"direct", "127.0.0.1", tcp(secure.port)},
		{"edge-http", "bench-plain.test", tcp(e.httpPort)},
		{"edge-https", "bench-tls.test", func() (net.Conn, error) {
			d := &net.Dialer{Timeout: requestTimeout}
			return tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", e.httpsPort), &tls.Config{ServerName: "bench-tls.test", RootCAs: roots})
		}},
	}
	for b.Loop() {
		rates := make([][]float64, len(ways))
		p99s := make([][]float64, len(ways))
		failed := 0.0
		for r := range edgeRounds {
			for k := range ways {
				w := ways[(k+r)%len(ways)]
				i := (k + r) % len(ways)
				l := startLoadDialing(b, w.host, "/", 20, w.dial)
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
			b.ReportMetric(med(rates[i]), w.name+"-req/s")
			b.ReportMetric(med(p99s[i]), w.name+"-p99-ms")
		}
		direct, hop, tlsRate := med(rates[0]), med(rates[1]), med(rates[2])
		b.ReportMetric(100*(1-hop/direct), "hop-cost-%")
		b.ReportMetric(100*(1-tlsRate/hop), "tls-cost-%")
		b.ReportMetric(failed, "failed")
	}
}
