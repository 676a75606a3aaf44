package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

func testEdge(t *testing.T) *Edge {
	t.Helper()
	t.Setenv(DirEnv, t.TempDir())
	e, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func claim(project, folder string, hosts ...string) Claim {
	return Claim{Project: project, Folder: folder, Hosts: hosts, HTTPPort: 80, HTTPSPort: 443, TLS: manifest.TLSACME}
}

func TestAnEdgeOfItsOwnFolderHasItsOwnProject(t *testing.T) {
	a, b := testEdge(t), testEdge(t)
	if a.Project == b.Project || !strings.HasPrefix(a.Project, DefaultProject+"-") {
		t.Errorf("two edge folders give projects %q and %q, want two different swiftdeploy-edge-… names", a.Project, b.Project)
	}
	t.Setenv(DirEnv, "")
	if e, _ := Open(); e.Dir != DefaultDir || e.Project != DefaultProject {
		t.Errorf("the host's edge is %+v, want %s in %s", e, DefaultProject, DefaultDir)
	}
}

func TestAHostNameBelongsToOneStackAndTheRoutesFileSaysWhichStacksNginxServesIt(t *testing.T) {
	e := testEdge(t)
	if err := e.Register(claim("swiftdeploy-shop", "/srv/shop", "shop.example.com", "www.shop.example.com")); err != nil {
		t.Fatal(err)
	}
	if err := e.Register(claim("swiftdeploy-blog", "/srv/blog", "blog.example.com")); err != nil {
		t.Fatal(err)
	}
	err := e.Register(claim("swiftdeploy-other", "/srv/other", "www.shop.example.com"))
	if !errors.Is(err, fail.ErrInvalid) || !strings.Contains(err.Error(), "www.shop.example.com is already served by the stack in /srv/shop") {
		t.Errorf("a second claim on a host name: %v, want it refused naming /srv/shop", err)
	}
	other := claim("swiftdeploy-other", "/srv/other", "other.example.com")
	other.HTTPSPort = 8443
	if err := e.Check(other); err == nil || !strings.Contains(err.Error(), "serves ports 80 and 443") {
		t.Errorf("a claim on other ports: %v, want it refused", err)
	}
	if err := e.Check(claim("swiftdeploy-shop", "/srv/elsewhere", "shop.example.com")); err == nil {
		t.Error("the same project name from another folder was accepted")
	}
	// The stack's own claim again (a redeploy) is fine, and keeps its start.
	first, _ := e.claim("swiftdeploy-shop")
	if err := e.Register(claim("swiftdeploy-shop", "/srv/shop", "shop.example.com")); err != nil {
		t.Fatal(err)
	}
	if again, _ := e.claim("swiftdeploy-shop"); !again.Since.Equal(first.Since) {
		t.Errorf("a redeploy's claim starts %v, want the first's %v", again.Since, first.Since)
	}

	routed, err := e.Routed()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"shop.example.com": "swiftdeploy-shop", "blog.example.com": "swiftdeploy-blog"}
	if len(routed) != len(want) || routed["shop.example.com"] != want["shop.example.com"] || routed["blog.example.com"] != want["blog.example.com"] {
		t.Errorf("routed %v, want %v", routed, want)
	}
	if target, _ := os.Readlink(e.path(hostsDir, "blog.example.com", "nginx.sock")); target != "../../sockets/swiftdeploy-blog/nginx.sock" {
		t.Errorf("blog.example.com links to %q, want the blog stack's socket", target)
	}

	left, err := e.Unregister("swiftdeploy-shop")
	if err != nil || left != 1 {
		t.Fatalf("Unregister: %d left, %v", left, err)
	}
	if r, _ := e.Routed(); len(r) != 1 || r["shop.example.com"] != "" {
		t.Errorf("after the shop left the edge routes %v", r)
	}
	if entries, _ := os.ReadDir(e.path(hostsDir)); len(entries) != 1 {
		t.Errorf("hosts/ holds %d entries, want blog.example.com alone (nothing half-made or left)", len(entries))
	}
}

// makeCert makes a PEM chain and key for hosts, valid from notBefore to
// notAfter.
func makeCert(t *testing.T, notBefore, notAfter time.Time, hosts ...string) (chain, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

func TestOperatorsFilesAreCheckedForEveryHostBeforeAnyIsInstalled(t *testing.T) {
	e := testEdge(t)
	dir := t.TempDir()
	now := time.Now()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o600)
		return p
	}
	chain, key := makeCert(t, now.Add(-time.Hour), now.Add(90*24*time.Hour), "a.test", "b.test")
	certFile, keyFile := write("a.pem", chain), write("a.key", key)
	_, otherKey := makeCert(t, now.Add(-time.Hour), now.Add(time.Hour), "a.test")
	expiredChain, expiredKey := makeCert(t, now.Add(-48*time.Hour), now.Add(-time.Hour), "a.test")

	for _, c := range []struct {
		hosts     []string
		cert, key string
		wantInErr string
	}{
		{[]string{"a.test", "c.test"}, certFile, keyFile, "not for c.test"},
		{[]string{"a.test"}, certFile, write("other.key", otherKey), "do not make a pair"},
		{[]string{"a.test"}, write("old.pem", expiredChain), write("old.key", expiredKey), "not now"},
		{[]string{"a.test"}, filepath.Join(dir, "missing.pem"), keyFile, "edge.tls.cert"},
	} {
		_, err := e.InstallFiles(c.hosts, c.cert, c.key)
		if !errors.Is(err, fail.ErrInvalid) || !strings.Contains(err.Error(), c.wantInErr) {
			t.Errorf("%v %s: %v, want an invalid-input error containing %q", c.hosts, filepath.Base(c.cert), err, c.wantInErr)
		}
		if _, ok, _ := e.Certificate("a.test"); ok {
			t.Fatalf("%v: a certificate was installed for a.test although the files were refused", c.hosts)
		}
	}

	certs, err := e.InstallFiles([]string{"a.test", "b.test"}, certFile, keyFile)
	if err != nil || len(certs) != 2 {
		t.Fatalf("InstallFiles: %v, %v", certs, err)
	}
	c, ok, err := e.Certificate("b.test")
	if err != nil || !ok || c.Source != "files" || c.Issuer != "CN=a.test" || !c.NotAfter.Equal(certs[1].NotAfter) {
		t.Errorf("b.test's certificate: %+v %v %v", c, ok, err)
	}
	info, err := os.Stat(e.path(certsDir, "a.test.pem"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("a.test.pem: %v %v, want readable by its owner only", info, err)
	}
	pemFile, _ := os.ReadFile(e.path(certsDir, "a.test.pem"))
	if !strings.Contains(string(pemFile), "BEGIN CERTIFICATE") || !strings.Contains(string(pemFile), "PRIVATE KEY") {
		t.Error("a.test.pem does not hold both the chain and the key, in one file nginx loads for both")
	}
}

// TestTheSelfCheckFollowsTheNameToThisEdge serves the edge's challenge folder
// as the edge would, and checks a name that leads to it and one that does not.
func TestTheSelfCheckFollowsTheNameToThisEdge(t *testing.T) {
	e := testEdge(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(e.path(challengesDir)))}
	go srv.Serve(l)
	defer srv.Close()
	port := l.Addr().(*net.TCPAddr).Port
	lookup := func(_ context.Context, host string) ([]string, error) {
		switch host {
		case "here.test":
			return []string{"127.0.0.1"}, nil
		case "elsewhere.test":
			return []string{"127.0.0.2"}, nil // nothing listens there on that port
		}
		return nil, errors.New("no such host")
	}
	if err := e.SelfCheck(context.Background(), []string{"here.test"}, port, lookup); err != nil {
		t.Errorf("a name that leads here: %v", err)
	}
	err = e.SelfCheck(context.Background(), []string{"elsewhere.test"}, port, lookup)
	if err == nil || !strings.Contains(err.Error(), "elsewhere.test resolves to 127.0.0.2, which does not lead to this host's edge on port "+strconv.Itoa(port)) {
		t.Errorf("a name that leads elsewhere: %v", err)
	}
	if err := e.SelfCheck(context.Background(), []string{"nowhere.test"}, port, lookup); err == nil || !strings.Contains(err.Error(), "does not resolve") {
		t.Errorf("a name that does not resolve: %v", err)
	}
	if entries, _ := os.ReadDir(e.path(challengesDir, ".well-known", "acme-challenge")); len(entries) != 0 {
		t.Errorf("the self-check left %d tokens behind", len(entries))
	}
}

func TestTheEdgesConfigurationNamesNoApp(t *testing.T) {
	e := testEdge(t)
	nginx, compose, err := e.render(settings{Image: "nginx:latest", HTTPPort: 80, HTTPSPort: 8443})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ssl_certificate     /etc/swiftdeploy-edge/certs/$ssl_server_name.pem;", "ssl_certificate_cache max=1000 inactive=60s valid=5s;",
		"http2 on;", "return 308 https://$host:8443$request_uri;", "proxy_pass http://unix:/run/swiftdeploy-edge/hosts/$host/nginx.sock:;",
		"if (!-d /run/swiftdeploy-edge/hosts/$host)", "ssl_protocols TLSv1.2 TLSv1.3;", "proxy_set_header X-Forwarded-For $remote_addr;"} {
		if !strings.Contains(string(nginx), want) {
			t.Errorf("the edge's nginx.conf lacks %q", want)
		}
	}
	for _, want := range []string{`"80:8080"`, `"8443:8443"`, e.Dir + "/run:/run/swiftdeploy-edge:ro", "name: " + e.Project} {
		if !strings.Contains(string(compose), want) {
			t.Errorf("the edge's compose file lacks %q", want)
		}
	}
	if n, _, _ := e.render(settings{Image: "nginx:latest", HTTPPort: 80, HTTPSPort: 443}); strings.Contains(string(n), "https://$host:443") {
		t.Error("the redirect names port 443")
	}
}

// Headers as large as a stack's nginx takes pass the edge both ways, while a
// WebSocket, which holds its buffers as long as it lasts, keeps nginx's one
// page each way: each server's location / sends an upgrade, once it knows
// the name is served, to @upgrade, which reaches the same stack.
func TestTheEdgePassesLargeHeadersAndKeepsWebSocketsSmall(t *testing.T) {
	nginx, http := renderedEdge(t)
	onceInHTTP(t, http, "large_client_header_buffers 4 16k;", "proxy_buffer_size 32k;", "proxy_busy_buffers_size 32k;", "proxy_buffers 8 8k;")
	servers := regexp.MustCompile(`(?s)\n    server \{(.*?)\n    \}`).FindAllStringSubmatch(nginx, -1)
	if len(servers) != 2 {
		t.Fatalf("%d server blocks, want HTTP and HTTPS", len(servers))
	}
	for _, server := range servers {
		root := regexp.MustCompile(`(?s)\n        location / \{(.*?)\n        \}`).FindStringSubmatch(server[1])
		upgrade := regexp.MustCompile(`(?s)\n        location @upgrade \{(.*?)\n        \}`).FindStringSubmatch(server[1])
		if root == nil || upgrade == nil {
			t.Fatalf("a server without location / or @upgrade:\n%s", server[1])
		}
		served, upgrades := strings.Index(root[1], "if (!-d "), strings.Index(root[1], "if ($http_upgrade) {\n                return 418;\n            }")
		if served < 0 || upgrades < served || !strings.Contains(root[1], "error_page 418 = @upgrade;") || !strings.Contains(root[1], "recursive_error_pages on;") {
			t.Errorf("location / does not send an upgrade for a served name to @upgrade:\n%s", root[1])
		}
		for _, want := range []string{"proxy_pass http://unix:/run/swiftdeploy-edge/hosts/$host/nginx.sock:;", "proxy_buffer_size 4k;", "error_page 502 504 = @unreachable;"} {
			if !strings.Contains(upgrade[1], want) {
				t.Errorf("@upgrade lacks %q:\n%s", want, upgrade[1])
			}
		}
	}
}

// A header named with an underscore passes the edge (nginx drops it by
// default), while a client's underscored spelling of a forwarded header the
// edge sets is cleared, in the http block every location inherits from.
func TestTheEdgePassesUnderscoredHeadersButNoForgedForwardedOne(t *testing.T) {
	nginx, http := renderedEdge(t)
	onceInHTTP(t, http, "underscores_in_headers on;", "proxy_set_header X-Forwarded-For $remote_addr;", `proxy_set_header X_Forwarded_For "";`,
		`proxy_set_header X_Real_IP "";`, `proxy_set_header X_Forwarded_Proto "";`, `proxy_set_header X_Forwarded_Host "";`)
	if n := strings.Count(nginx, "proxy_set_header"); n != strings.Count(http, "proxy_set_header") {
		t.Errorf("%d of the edge's proxy_set_header are in its servers: a block that sets its own keeps none of the http block's", n-strings.Count(http, "proxy_set_header"))
	}
}

// renderedEdge is the edge's nginx.conf for ports 80 and 8443, and its http
// block without the server blocks.
func renderedEdge(t *testing.T) (nginx, http string) {
	t.Helper()
	conf, _, err := testEdge(t).render(settings{Image: "nginx:latest", HTTPPort: 80, HTTPSPort: 8443})
	if err != nil {
		t.Fatal(err)
	}
	nginx = string(conf)
	return nginx, regexp.MustCompile(`(?s)\n    server \{(.*?)\n    \}`).ReplaceAllString(nginx, "")
}

// onceInHTTP checks that each of wants is in the http block exactly once.
func onceInHTTP(t *testing.T, http string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if n := strings.Count(http, want); n != 1 {
			t.Errorf("the edge's http block has %q %d times, want once", want, n)
		}
	}
}
