package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// acmeServer is Let's Encrypt's ACME test server, Debian's pebble, with
// pebble-challtestsrv as the DNS it asks: host processes on loopback, for one
// test. Every name resolves to 127.0.0.1, where the test's edge publishes its
// ports; pebble validates HTTP-01 on the edge's HTTP port, for real (no
// PEBBLE_VA_ALWAYS_VALID).
type acmeServer struct {
	stopCA    func() // stops pebble: the CA goes away, its DNS stays
	directory string
	caFile    string // pebble's own HTTPS certificate, for the directory's clients
	roots     *x509.CertPool
	rootPEM   []byte // the root pebble issues under
	dns       string // challtestsrv's DNS, host:port
	mgmt      string // challtestsrv's management API, host:port
}

// freePorts returns n different free ports below the kernel's ephemeral
// range (32768 and up), so that no client connection on this machine takes
// one as its source port before the test binds it; all are held until the
// last is found.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for try := 0; len(ports) < n; try++ {
		if try == 1000 {
			t.Fatalf("found only %d free ports in 20000-32767", len(ports))
		}
		port := 20000 + mrand.IntN(12768)
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			continue
		}
		defer l.Close()
		ports = append(ports, port)
	}
	return ports
}

// certLifetime is how long pebble's certificates last in the edge's test:
// the edge's renewer renews one by its standard rule (a third of its life
// left) 60 s after it was issued, during the test.
const certLifetime = 90 * time.Second

func startACME(t *testing.T, httpPort int, ports []int) *acmeServer {
	t.Helper()
	for _, bin := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed: the test target installs Debian's pebble (apt-get install pebble)", bin)
		}
	}
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t, "localhost", "127.0.0.1")
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := &acmeServer{caFile: write("pebble-listener.pem", certPEM), dns: fmt.Sprintf("127.0.0.1:%d", ports[0]), mgmt: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	keyFile := write("pebble-listener-key.pem", keyPEM)
	listen, manage := fmt.Sprintf("127.0.0.1:%d", ports[2]), fmt.Sprintf("127.0.0.1:%d", ports[3])
	config, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": manage, "certificate": a.caFile, "privateKey": keyFile,
		"httpPort": httpPort, "tlsPort": ports[4], "ocspResponderURL": "", "externalAccountBindingRequired": false,
		"certificateValidityPeriod": int(certLifetime / time.Second),
	}})
	configFile := write("pebble.json", config)
	a.directory = "https://" + listen + "/dir"

	start := func(name string, env []string, args ...string) func() {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		log, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cmd.Process.Kill()
				cmd.Wait()
			})
		}
		t.Cleanup(func() {
			stop()
			log.Close()
			if t.Failed() {
				out, _ := os.ReadFile(log.Name())
				t.Logf("%s's log:\n%s", name, lastLinesOf(string(out), 30))
			}
		})
		return stop
	}
	// Every A question is answered 127.0.0.1; no AAAA (pebble would try ::1
	// first); its own challenge servers off, so the edge answers them.
	start("pebble-challtestsrv", nil, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", a.dns,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-management", a.mgmt)
	// No random sleep before validating and no random nonce rejection: the
	// flow is the real one, only without pebble's deliberate delays.
	a.stopCA = start("pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}, "-config", configFile, "-dnsserver", a.dns)

	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	waitUntil(t, 20*time.Second, "pebble's management API", func() bool {
		resp, err := insecure.Get("https://" + manage + "/roots/0")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		a.rootPEM, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK
	})
	a.roots = x509.NewCertPool()
	if !a.roots.AppendCertsFromPEM(a.rootPEM) {
		t.Fatalf("pebble's root is not PEM: %q", a.rootPEM)
	}
	return a
}

// selfSigned makes a certificate and key for a name and an address.
func selfSigned(t testing.TB, name, ip string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip != "" {
		tmpl.IPAddresses = []net.IP{net.ParseIP(ip)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// testEdge is a test's own edge: its folder and ports, given to each
// project's targets.
type testEdge struct {
	dir                 string
	httpPort, httpsPort int
	env                 []string
}

// ports are the edge's and the ACME server's (acmePorts of them).
const acmePorts = 5

func newTestEdge(t testing.TB) (*testEdge, []int) {
	t.Helper()
	ports := freePorts(t, 2+acmePorts)
	e := &testEdge{dir: t.TempDir(), httpPort: ports[0], httpsPort: ports[1]}
	e.env = []string{"SWIFTDEPLOY_EDGE_DIR=" + e.dir}
	t.Cleanup(func() {
		// The last stack's teardown removes the edge: nothing of it may be left.
		out, _ := exec.Command("docker", "ps", "-a", "--format", "{{.Names}}", "--filter", "publish="+fmt.Sprint(e.httpsPort)).CombinedOutput()
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("the edge was left running after the last teardown: %s", s)
			exec.Command("docker", "rm", "-f", s).Run()
		}
	})
	return e, ports[2:]
}

// section is the manifest's edge section for hosts, with tls (indented
// four spaces) and any further lines (indented two).
func (e *testEdge) section(hosts, tls, more string) string {
	return fmt.Sprintf("edge:\n  hosts: [%s]\n  http_port: %d\n  https_port: %d\n%s  tls:\n%s", hosts, e.httpPort, e.httpsPort, more, tls)
}

// client is an HTTPS client that trusts roots only, reaches every name at
// the edge's ports on 127.0.0.1, and speaks HTTP/2 when the edge offers it.
// conns counts the connections it opened.
func (e *testEdge) client(roots *x509.CertPool, conns *atomic.Int64) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			if conns != nil {
				conns.Add(1)
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
		MaxIdleConnsPerHost: 64,
	}
	return &http.Client{Transport: tr, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *testEdge) url(scheme, host, path string) string {
	port := e.httpsPort
	if scheme == "http" {
		port = e.httpPort
	}
	return fmt.Sprintf("%s://%s:%d%s", scheme, host, port, path)
}

// edgeLoad keeps clients busy on one URL through the edge, each on
// connections of its own, and counts failed requests and the connections
// opened beyond the first of each client: a connection the edge reset or
// closed is one more.
type edgeLoad struct {
	*httpLoad
	conns atomic.Int64
	base  int64 // connections once the clients were under way
}

func startEdgeLoad(t *testing.T, e *testEdge, roots *x509.CertPool, url string, n int) *edgeLoad {
	t.Helper()
	l := &edgeLoad{}
	client := e.client(roots, &l.conns)
	l.httpLoad = startHTTPLoadWith(t, url, n, client)
	time.Sleep(time.Second)
	l.base = l.conns.Load()
	return l
}

// reconnects is how many connections were opened once the clients were
// under way: HTTP/2 multiplexes them on the ones they opened first, and only
// a connection the edge closed or reset needs another.
func (l *edgeLoad) reconnects() int64 { return l.conns.Load() - l.base }

func (l *edgeLoad) String() string {
	return fmt.Sprintf("%s, %d connections (%d opened after the start)", l.httpLoad, l.conns.Load(), l.reconnects())
}

// protoOf fetches url and returns the protocol, status, headers and body it
// was answered with.
func protoOf(t *testing.T, c *http.Client, url string) (string, int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.Proto, resp.StatusCode, resp.Header, string(body)
}

// TestTwoAppsShareTheEdgeByNameWithCertificatesFromAnACMECA puts the shipped
// service on a.test and busybox's httpd on b.test behind one edge, with
// certificates pebble issues through the real HTTP-01 flow, and checks what
// a client sees: HTTPS with HTTP/2 under a certificate that chains to
// pebble's root only, HTTP redirected, unknown names refused. Then, under
// load on both, a.test is released, aborted, rolled back and torn down:
// b.test loses no request and no connection, and a.test's own figures are
// what its releases promise without an edge. pebble's certificates last 90
// s: the edge's renewer renews both names on its own while both are under
// load, and a renewal forced under load changes the served serial too, with
// no failed request; history and audit say who renewed what.
func TestTwoAppsShareTheEdgeByNameWithCertificatesFromAnACMECA(t *testing.T) {
	busybox, err := busyboxImages()
	if err != nil {
		t.Fatal(err)
	}
	e, ports := newTestEdge(t)
	acme := startACME(t, e.httpPort, ports)
	acmeTLS := fmt.Sprintf("    directory: %s\n    ca_file: pebble.pem\n    email: ops@example.com\n", acme.directory)
	caPEM, err := os.ReadFile(acme.caFile)
	if err != nil {
		t.Fatal(err)
	}

	b := newProject(t, manifestOptions{image: busybox[0]})
	// The renewer looks every second (an hour by default), by the rule it
	// uses everywhere.
	b.env = append(e.env, "SWIFTDEPLOY_EDGE_DNS="+acme.dns, "SWIFTDEPLOY_EDGE_RENEW_EVERY=1s")
	b.manifest = strings.NewReplacer("port: 3000", "port: 8000\n  health_path: /health.txt", `version: "2.0.0"`, `version: "1"`).Replace(b.manifest) +
		e.section("b.test", acmeTLS, "")
	b.write("manifest.yaml", b.manifest)
	b.write("pebble.pem", string(caPEM))

	// The release is judged as any: the canary's request times against
	// stable's by rank over the same window, where this 2-core machine's
	// contention slows both builds alike (the relative P99 limit it used to
	// trip, min_p99_excess_ms, is gone).
	a := newProject(t, manifestOptions{rollout: strings.Replace(quickRollout, "[10, 25, 50, 100]", "[50, 100]", 1)})
	a.env = b.env
	a.manifest += e.section("a.test", acmeTLS, "")
	a.write("manifest.yaml", a.manifest)
	a.write("pebble.pem", string(caPEM))

	// Before the stacks' teardowns remove the edge: what its renewer said.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the edge's renewer's log:\n%s", e.renewerLog())
		}
	})
	a.expect(0, []string{"starting the host's edge", "ordering certificates for a.test", "the edge serves a.test with a certificate from",
		fmt.Sprintf("the host's edge serves https://a.test:%d/", e.httpsPort)}, "deploy")
	b.expect(0, []string{"the edge serves b.test with a certificate from", fmt.Sprintf("the host's edge serves https://b.test:%d/", e.httpsPort)}, "deploy")

	c := e.client(acme.roots, nil)
	for host, want := range map[string]string{"a.test": `"status":"ok"`, "b.test": "ok\n"} {
		path := map[string]string{"a.test": "/healthz", "b.test": "/health.txt"}[host]
		proto, code, _, body := protoOf(t, c, e.url("https", host, path))
		if proto != "HTTP/2.0" || code != 200 || !strings.Contains(body, want) {
			t.Errorf("https://%s%s answered %s %d %q, want HTTP/2.0 200 with %q", host, path, proto, code, body, want)
		}
		_, code, h, _ := protoOf(t, c, e.url("http", host, "/some/path?q=1"))
		if want := e.url("https", host, "/some/path?q=1"); code != http.StatusPermanentRedirect || h.Get("Location") != want {
			t.Errorf("http://%s answered %d to %q, want 308 to %q", host, code, h.Get("Location"), want)
		}
	}
	// curl, trusting pebble's root only, negotiates HTTP/2 as well.
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	os.WriteFile(rootFile, acme.rootPEM, 0o644)
	out, err := exec.Command("curl", "-sS", "--cacert", rootFile, "--resolve", fmt.Sprintf("a.test:%d:127.0.0.1", e.httpsPort),
		"-o", "/dev/null", "-w", "%{http_version} %{http_code}", e.url("https", "a.test", "/")).CombinedOutput()
	if err != nil || string(out) != "2 200" {
		t.Errorf("curl over HTTPS: %v: %s, want HTTP/2 and 200", err, out)
	}
	// A name no stack serves: its handshake fails, and over HTTP it is a JSON 404.
	if _, err := c.Get(e.url("https", "c.test", "/")); err == nil {
		t.Error("the edge completed a TLS handshake for c.test, which no stack serves")
	}
	if _, code, _, body := protoOf(t, c, e.url("http", "c.test", "/")); code != 404 || !strings.Contains(body, `"code": 404`) {
		t.Errorf("http://c.test answered %d %q, want the edge's JSON 404", code, body)
	}
	// A second claim on a.test is refused, naming the stack that has it.
	other := newProject(t, manifestOptions{})
	other.env = b.env
	other.write("manifest.yaml", other.manifest+e.section("a.test", acmeTLS, ""))
	other.expect(2, []string{"a.test is already served by the stack in " + a.dir}, "deploy")

	// Under load on both names: a.test's release, an abort, a rollback and
	// its teardown. b.test loses nothing.
	bLoad := startEdgeLoad(t, e, acme.roots, e.url("https", "b.test", "/"), 20)
	aLoad := startEdgeLoad(t, e, acme.roots, e.url("https", "a.test", "/"), 20)
	underLoad := map[string]string{"a.test": servedSerial(t, e, acme.roots, "a.test"), "b.test": servedSerial(t, e, acme.roots, "b.test")}

	a.write("manifest.yaml", strings.Replace(a.manifest, `version: "2.0.0"`, `version: "2.1.0"`, 1))
	a.expect(0, []string{"released "}, "deploy")
	aLoad.stop()
	t.Logf("a.test through its release: %s", aLoad)
	if aLoad.non2xx.Load() != 0 || aLoad.errs.Load() != 0 {
		t.Errorf("a.test's requests failed during its release: %s", aLoad)
	}
	// A bad build, aborted: a.test's clients see the canary's own 500s
	// during its step, and no failed connection.
	aLoad = startEdgeLoad(t, e, acme.roots, e.url("https", "a.test", "/"), 20)
	a.write("manifest.yaml", strings.Replace(a.manifest, `version: "2.0.0"`, `version: "2.2.0"`, 1))
	release := a.start(3*time.Minute, nil, "deploy")
	a.waitForStep(release, 50)
	a.expect(0, []string{"goes to its canary build"}, "chaos", "error", "-rate=1")
	if out, code := release.wait(); code != 3 || !strings.Contains(out, "release aborted at step") {
		t.Errorf("the release of a failing build exited %d, want 3 (aborted)", code)
	}
	aLoad.stop()
	t.Logf("a.test through an aborted release (its non-2xx are the canary's own 500s): %s", aLoad)
	if aLoad.errs.Load() != 0 {
		t.Errorf("a.test's connections failed through the abort: %s", aLoad)
	}
	// From here a.test is under load again (the rollback too): with both
	// names under load from their first load on, the renewer's own
	// renewals. Each name is served a certificate the renewer ordered after
	// the load began, and each stack's history says the renewer renewed it.
	aLoad = startEdgeLoad(t, e, acme.roots, e.url("https", "a.test", "/"), 20)
	a.expect(0, []string{"rollback: "}, "rollback")
	for host, p := range map[string]*project{"a.test": a, "b.test": b} {
		renewed := func() bool {
			served := servedSerial(t, e, acme.roots, host)
			return served != underLoad[host] && slices.Contains(p.renewerSerials(host), served)
		}
		deadline := time.Now().Add(certLifetime)
		for !renewed() {
			if time.Now().After(deadline) {
				t.Fatalf("the edge's renewer did not renew %s within %s (serial %s served since the load began); its log:\n%s", host, certLifetime, underLoad[host], e.renewerLog())
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	aLoad.stop()
	t.Logf("the renewer renewed a.test %d times and b.test %d times so far", len(a.renewerSerials("a.test")), len(b.renewerSerials("b.test")))
	t.Logf("a.test through its rollback and until the renewer had renewed both names: %s", aLoad)
	if aLoad.non2xx.Load() != 0 || aLoad.errs.Load() != 0 {
		t.Errorf("a.test's requests failed through its rollback and the renewer's renewals: %s", aLoad)
	}

	// A renewal forced while both names are under load.
	before := servedSerial(t, e, acme.roots, "b.test")
	b.expect(0, []string{"the edge serves b.test with a certificate from"}, "renew", "-force")
	waitUntil(t, 15*time.Second, "the renewed certificate to be served", func() bool { return servedSerial(t, e, acme.roots, "b.test") != before })

	a.teardownAndCheck()
	time.Sleep(2 * time.Second)
	if _, code, _, _ := protoOf(t, c, e.url("http", "a.test", "/")); code != 404 {
		t.Errorf("after a.test's teardown http://a.test answered %d, want the edge's 404", code)
	}
	bLoad.stop()
	t.Logf("b.test while a.test was released, aborted and torn down, and b.test's certificate renewed: %s", bLoad)
	if bLoad.non2xx.Load() != 0 || bLoad.errs.Load() != 0 || bLoad.reconnects() != 0 {
		t.Errorf("b.test was disturbed by a.test's changes: %s", bLoad)
	}
	b.expect(0, []string{"Edge running on ports", "renewer looks every 1s", "b.test  CN=Pebble Intermediate"}, "status", "-once")

	// A name that resolves elsewhere is reported before the CA is asked.
	acme.answer(t, "d.test", "192.0.2.9")
	d := newProject(t, manifestOptions{})
	d.env = b.env
	d.write("manifest.yaml", d.manifest+e.section("d.test", acmeTLS, ""))
	d.write("pebble.pem", string(caPEM))
	d.expect(2, []string{"d.test resolves to 192.0.2.9, which does not lead to this host's edge"}, "validate")

	// The CA gone: a renewal fails, says so, and the old certificate serves on.
	// The renewer may have installed one just before: it is waited for.
	acme.stopCA()
	serial := e.installedSerial(t, "b.test")
	waitUntil(t, 15*time.Second, "the last certificate installed to be served", func() bool { return servedSerial(t, e, acme.roots, "b.test") == serial })
	b.expect(1, []string{"the edge keeps serving the one that expires", "no new certificate for b.test (the old one still serves)"}, "renew", "-force")
	if got := servedSerial(t, e, acme.roots, "b.test"); got != serial {
		t.Errorf("after a failed renewal the edge serves serial %s, want the old %s", got, serial)
	}
	var failed bool
	for _, ev := range b.events() {
		failed = failed || ev["event"] == "edge_certificate" && ev["result"] == "failed" && strings.HasPrefix(fmt.Sprint(ev["kept"]), "the certificate expiring")
	}
	if !failed {
		t.Error("history does not record the failed renewal and what the edge kept serving")
	}
	b.must("audit")
	report := b.read("audit_report.md")
	for _, want := range []string{"renew b.test (acme, forced)", "renew b.test (acme, by the edge's renewer): CN=Pebble Intermediate"} {
		if !strings.Contains(report, want) {
			t.Errorf("the audit report does not list b.test's renewals (%q):\n%s", want, report)
		}
	}
}

// renewerSerials are the serials, in decimal, of host's certificates that
// the stack's history says the edge's renewer renewed.
func (p *project) renewerSerials(host string) []string {
	var out []string
	for _, ev := range p.events() {
		if ev["event"] == "edge_certificate" && ev["host"] == host && ev["by"] == "renewer" && ev["action"] == "renew" && ev["result"] == "ok" {
			if n, ok := new(big.Int).SetString(fmt.Sprint(ev["serial"]), 16); ok {
				out = append(out, n.String())
			}
		}
	}
	return out
}

// installedSerial is the serial, in decimal, of the certificate the edge's
// folder holds for host.
func (e *testEdge) installedSerial(t *testing.T, host string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.dir, "certs", host+".json"))
	if err != nil {
		t.Fatal(err)
	}
	n, ok := new(big.Int).SetString(jsonField(data, "serial"), 16)
	if !ok {
		t.Fatalf("certs/%s.json has no serial: %s", host, data)
	}
	return n.String()
}

// renewerLog is the last lines of the edge's renewer's log.
func (e *testEdge) renewerLog() string {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=com.docker.compose.service=renewer",
		"--filter", "label=com.docker.compose.project.working_dir="+e.dir).Output()
	id := strings.TrimSpace(string(out))
	if id == "" {
		return "(no renewer container)"
	}
	log, _ := exec.Command("docker", "logs", "--tail", "30", strings.Fields(id)[0]).CombinedOutput()
	return string(log)
}

// answer makes pebble's DNS answer name with addr.
func (a *acmeServer) answer(t *testing.T, name, addr string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"host": name + ".", "addresses": []string{addr}})
	resp, err := http.Post("http://"+a.mgmt+"/add-a", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("challtestsrv add-a: %s", resp.Status)
	}
}

// servedSerial is the serial of the certificate the edge serves for host.
func servedSerial(t *testing.T, e *testEdge, roots *x509.CertPool, host string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.httpsPort), &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS to %s: %v", host, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestTheEdgeServesAnOperatorsCertificateAndTellsTheAppTheTruth serves an app
// with the operator's own certificate (edge.tls.mode: files) and HSTS, and
// checks what the app and the client see: the forwarded headers the edge
// saw (a client's own X-Forwarded-For is not believed), HSTS, a Secure cohort
// cookie, TLS 1.2 and 1.3 only, 421 for a request whose Host is not its
// handshake's name, a stack with TLS off beside it served over plain HTTP,
// and a replaced certificate served on the next deploy.
func TestTheEdgeServesAnOperatorsCertificateAndTellsTheAppTheTruth(t *testing.T) {
	image, err := plainImage()
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newTestEdge(t)
	p := newProject(t, manifestOptions{image: image})
	p.env = e.env
	certPEM, keyPEM := selfSigned(t, "p.test", "")
	p.write("cert.pem", string(certPEM))
	p.write("key.pem", string(keyPEM))
	p.manifest += e.section("p.test", "    mode: files\n    cert: cert.pem\n    key: key.pem\n", "  hsts: true\n")
	p.write("manifest.yaml", p.manifest)
	p.expect(0, []string{"edge: cert.pem and key.pem are a valid certificate for p.test", "edge: p.test belong to no other stack"}, "validate")
	p.expect(0, []string{"the edge serves p.test with your certificate", fmt.Sprintf("the host's edge serves https://p.test:%d/", e.httpsPort)}, "deploy")

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	c := e.client(roots, nil)
	req, _ := http.NewRequest(http.MethodGet, e.url("https", "p.test", "/forwarded"), nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.66")
	req.Header.Set("X-Forwarded-Proto", "gopher")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var seen struct {
		Proto, For, Host, RealIP string
		RequestHost              string `json:"request_host"`
	}
	json.Unmarshal(body, &seen)
	seen.RealIP = jsonField(body, "real_ip")
	t.Logf("the app saw %s; the client got %s, Strict-Transport-Security %q, Set-Cookie %q", body, resp.Proto, resp.Header.Get("Strict-Transport-Security"), resp.Header.Get("Set-Cookie"))
	if seen.Proto != "https" || seen.Host != "p.test" || seen.RequestHost != "p.test" || seen.For != seen.RealIP || net.ParseIP(seen.RealIP) == nil {
		t.Errorf("the app saw %s, want proto https, host p.test, and the client's address as the edge saw it, not what the client claimed", body)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("Strict-Transport-Security is %q, want max-age=31536000", got)
	}
	if cookie := resp.Header.Get("Set-Cookie"); !strings.Contains(cookie, "swiftdeploy_cohort=") || !strings.Contains(cookie, "secure") && !strings.Contains(cookie, "Secure") {
		t.Errorf("the cohort cookie is %q, want it Secure", cookie)
	}
	for version, ok := range map[uint16]bool{tls.VersionTLS11: false, tls.VersionTLS12: true, tls.VersionTLS13: true} {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.httpsPort), &tls.Config{ServerName: "p.test", RootCAs: roots, MinVersion: version, MaxVersion: version})
		if (err == nil) != ok {
			t.Errorf("TLS version %x: handshake error %v, want it to succeed: %v", version, err, ok)
		}
		if err == nil {
			conn.Close()
		}
	}
	misdirected, _ := http.NewRequest(http.MethodGet, e.url("https", "p.test", "/"), nil)
	misdirected.Host = "q.test"
	if resp, err := c.Do(misdirected); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a request for q.test on p.test's connection: %v %v, want 421", resp, err)
	} else {
		resp.Body.Close()
	}

	// A stack with edge.tls.mode: off beside it is served over plain HTTP,
	// not redirected, and has no handshake; p.test's HTTP still redirects.
	q := newProject(t, manifestOptions{image: image})
	q.env = e.env
	q.write("manifest.yaml", q.manifest+e.section("q.test", "    mode: off\n", ""))
	q.expect(0, []string{fmt.Sprintf("the host's edge serves http://q.test:%d/", e.httpPort)}, "deploy")
	if _, code, _, body := protoOf(t, c, e.url("http", "q.test", "/forwarded")); code != 200 || jsonField([]byte(body), "proto") != "http" {
		t.Errorf("http://q.test/forwarded answered %d %q, want the app, told proto http", code, body)
	}
	if _, err := c.Get(e.url("https", "q.test", "/")); err == nil {
		t.Error("the edge completed a TLS handshake for q.test, whose TLS is off")
	}
	if _, code, _, _ := protoOf(t, c, e.url("http", "p.test", "/")); code != http.StatusPermanentRedirect {
		t.Errorf("http://p.test answered %d beside an HTTP-only stack, want 308", code)
	}

	// WebSockets and large headers through the edge: a WebSocket to a third
	// stack (wsapp, TLS off) exchanges messages, and a 12 KB header passes
	// both ways, as it does straight to a stack's nginx.
	wsImg, err := wsImage()
	if err != nil {
		t.Fatal(err)
	}
	w := newProject(t, manifestOptions{image: wsImg})
	w.env = e.env
	w.write("manifest.yaml", w.manifest+e.section("w.test", "    mode: off\n", ""))
	w.expect(0, []string{fmt.Sprintf("the host's edge serves http://w.test:%d/", e.httpPort)}, "deploy")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/ws", e.httpPort), &websocket.DialOptions{Host: "w.test"})
	if err != nil {
		t.Fatalf("a WebSocket to w.test through the edge: %v", err)
	}
	exchange := &wsExchange{conn: ws, stop: make(chan struct{}), closed: make(chan struct{})}
	for i := range 5 {
		if _, err := exchange.roundTrip(strconv.Itoa(i)); err != nil {
			t.Errorf("WebSocket message %d through the edge: %v", i, err)
		}
	}
	ws.Close(websocket.StatusNormalClosure, "")
	for name, h := range map[string]struct{ request, answer int }{"a 12 KB request header": {12_000, 0}, "a 12 KB answer header": {0, 12_000}} {
		req, _ := http.NewRequest(http.MethodGet, e.url("http", "w.test", fmt.Sprintf("/headers?bytes=%d", h.answer)), nil)
		if h.request > 0 {
			req.Header.Set("X-Token", strings.Repeat("t", h.request))
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("%s through the edge: %v", name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(resp.Header.Get("X-Large")) != h.answer || jsonNumber(body, "longest_header") < h.request {
			t.Errorf("%s through the edge: HTTP %d %q", name, resp.StatusCode, body)
		}
	}

	req, _ = http.NewRequest(http.MethodGet, e.url("http", "w.test", "/echo"), nil)
	maps.Copy(req.Header, underscored())
	if resp, err := c.Do(req); err != nil {
		t.Errorf("underscored headers through the edge: %v", err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkUnderscored(t, "through the edge", resp, string(body))
	}

	before := servedSerial(t, e, roots, "p.test")
	certPEM, keyPEM = selfSigned(t, "p.test", "")
	p.write("cert.pem", string(certPEM))
	p.write("key.pem", string(keyPEM))
	p.expect(0, []string{"the edge serves p.test with your certificate"}, "deploy")
	roots.AppendCertsFromPEM(certPEM)
	waitUntil(t, 15*time.Second, "the replaced certificate to be served", func() bool { return servedSerial(t, e, roots, "p.test") != before })
}

// jsonField is one string field of a JSON object.
func jsonField(body []byte, key string) string {
	s, _ := jsonObject(body)[key].(string)
	return s
}

// jsonNumber is one number field of a JSON object.
func jsonNumber(body []byte, key string) int {
	n, _ := jsonObject(body)[key].(float64)
	return int(n)
}

// jsonObject is body decoded as a JSON object, empty if it is none.
func jsonObject(body []byte) map[string]any {
	var m map[string]any
	json.Unmarshal(body, &m)
	return m
}
