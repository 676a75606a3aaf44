package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// busyboxImages builds, once per run, two versions of an image that is not
// SwiftDeploy's (testdata/busybox): Debian's busybox-static serving files on
// port 8000, its health at /health.txt. It returns the two image names.
var busyboxImages = sync.OnceValues(func() ([2]string, error) {
	var refs [2]string
	dir, err := os.MkdirTemp("", "swiftdeploy-e2e-busybox-")
	if err != nil {
		return refs, err
	}
	defer os.RemoveAll(dir)
	download := exec.Command("apt-get", "download", "busybox-static")
	download.Dir = dir
	if out, err := download.CombinedOutput(); err != nil {
		return refs, fmt.Errorf("apt-get download busybox-static: %v: %s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "busybox-static_*.deb"))
	if len(debs) != 1 {
		return refs, fmt.Errorf("apt-get download left %v", debs)
	}
	if out, err := exec.Command("dpkg-deb", "-x", debs[0], filepath.Join(dir, "pkg")).CombinedOutput(); err != nil {
		return refs, fmt.Errorf("dpkg-deb: %v: %s", err, out)
	}
	for i, version := range []string{"1", "2"} {
		ctx := filepath.Join(dir, "v"+version)
		if err := os.MkdirAll(filepath.Join(ctx, "www"), 0o755); err != nil {
			return refs, err
		}
		files := map[string]string{
			"www/index.html": "busybox site version " + version + "\n",
			"www/health.txt": "ok\n",
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(ctx, name), []byte(content), 0o644); err != nil {
				return refs, err
			}
		}
		for from, to := range map[string]string{
			filepath.Join(dir, "pkg", "bin", "busybox"):                         filepath.Join(ctx, "busybox"),
			filepath.Join(repoRoot, "e2e", "testdata", "busybox", "Dockerfile"): filepath.Join(ctx, "Dockerfile"),
		} {
			data, err := os.ReadFile(from)
			if err == nil {
				err = os.WriteFile(to, data, 0o755)
			}
			if err != nil {
				return refs, err
			}
		}
		refs[i] = "swiftdeploy-e2e-busybox:" + version
		if out, err := exec.Command("docker", "build", "-q", "-t", refs[i], ctx).CombinedOutput(); err != nil {
			return refs, fmt.Errorf("docker build %s: %v: %s", refs[i], err, out)
		}
	}
	return refs, nil
})

// TestAnImageThatIsNotOursIsDeployedReleasedAndRolledBack deploys busybox's
// httpd (no /metrics, no health JSON, no healthcheck command, no log folder,
// another port), releases its second version and rolls back, under load from
// 20 clients, with no failed request. busybox closes every connection, so
// nginx opens one per request, and at this rate busybox's accept queue
// overflows: the kernel drops a connection's first packet and sends it again
// a second later, which nginx waits for (a 1 s connect timeout answered
// hundreds of these with 504).
func TestAnImageThatIsNotOursIsDeployedReleasedAndRolledBack(t *testing.T) {
	images, err := busyboxImages()
	if err != nil {
		t.Fatal(err)
	}
	p := newProject(t, manifestOptions{image: images[0], rollout: strings.Replace(quickRollout, "[10, 25, 50, 100]", "[50, 100]", 1)})
	p.manifest = strings.NewReplacer("port: 3000", "port: 8000\n  health_path: /health.txt\n  env_file: app.env", `version: "2.0.0"`, `version: "1"`).Replace(p.manifest)
	p.write("manifest.yaml", p.manifest)
	const secret = "s3cr3t-token-value"
	p.write("app.env", "API_TOKEN="+secret+"\n")
	p.expect(0, []string{"6. " + images[0] + " answers /health.txt on port 8000", "HTTP 200; /metrics: none"}, "validate")
	p.expect(0, []string{"/health.txt through nginx", "answers healthy"}, "deploy")
	if _, body := p.get("/"); body != "busybox site version 1\n" {
		t.Fatalf("/ answers %q, want busybox's page", body)
	}
	if env := docker(t, "inspect", "--format", "{{json .Config.Env}}", p.containers("app")[0]); !strings.Contains(env, "API_TOKEN="+secret) {
		t.Errorf("the app's environment lacks the env_file's variable: %s", env)
	}

	p.write("manifest.yaml", strings.NewReplacer(images[0], images[1], `version: "1"`, `version: "2"`).Replace(p.manifest))
	// Clients that wait for an answer as a browser would: see
	// TestABusyAppIsWaitedForNotFailed.
	load := startHTTPLoadWaiting(t, p.url("/"), 20, 10*time.Second)
	p.expect(0, []string{"judged from nginx's counts alone", "released "}, "deploy")
	time.Sleep(time.Second)
	load.stop()
	t.Logf("release of busybox 2: %s", load)
	if load.non2xx.Load() != 0 || load.errs.Load() != 0 {
		t.Errorf("requests failed during the release: %s", load)
		p.logNginxTrouble()
	}
	if _, body := p.get("/"); body != "busybox site version 2\n" {
		t.Errorf("after the release / answers %q, want version 2", body)
	}

	load = startHTTPLoadWaiting(t, p.url("/"), 20, 10*time.Second)
	time.Sleep(time.Second)
	p.expect(0, []string{"rollback: "}, "rollback")
	time.Sleep(time.Second)
	load.stop()
	t.Logf("rollback to busybox 1: %s", load)
	if load.non2xx.Load() != 0 || load.errs.Load() != 0 {
		t.Errorf("requests failed during the rollback: %s", load)
	}
	if _, body := p.get("/"); body != "busybox site version 1\n" {
		t.Errorf("after the rollback / answers %q, want version 1", body)
	}
	// Without /metrics, a mode switch is gated from nginx's access log, over
	// 3 s. The last requests of the busy load above to finish are the ones
	// busybox's full accept queue held for 1 s, and a window of nothing
	// else judges them alone (P99 996 ms of 2 requests, in a CI run): the
	// switch is asked for once they are out of the window, with one quiet
	// client's requests in it instead. The window ends at the last whole
	// second before the log's 1.1 s flush, and the log stamps whole
	// seconds, so it reaches back up to 6.1 s (4 s was not enough: P99
	// 1,021 ms of 6 requests, in another run).
	users := startQuietUsers(t, p.url("/"))
	time.Sleep(7 * time.Second)
	p.expect(0, []string{"measuring the last 3s from nginx's access log", "policy canary: PASS", "promote: stable → canary"}, "promote", "canary")
	users.stop()
	if users.failed.Load() != 0 {
		t.Errorf("%d of the quiet client's %d requests failed around the mode switch", users.failed.Load(), users.sent.Load())
	}
	if strings.Contains(p.read("history.jsonl"), secret) {
		t.Error("history.jsonl holds a value from the env_file")
	}
}

// TestABusyAppIsWaitedForNotFailed loads busybox's httpd, which takes one
// connection per request and lets its accept queue overflow (the kernel
// drops a connection's first packet and sends it again after 1 s, 3 s...),
// with 20 clients: for 15 s straight to it, where none fails (the app
// itself holds the load), then for 60 s through nginx, where none may fail
// either. The clients wait 10 s for an answer, as a browser would, not 2 s
// like the other loads.
func TestABusyAppIsWaitedForNotFailed(t *testing.T) {
	images, err := busyboxImages()
	if err != nil {
		t.Fatal(err)
	}
	p := newProject(t, manifestOptions{image: images[0]})
	p.manifest = strings.NewReplacer("port: 3000", "port: 8000\n  health_path: /health.txt", `version: "2.0.0"`, `version: "1"`).Replace(p.manifest)
	p.write("manifest.yaml", p.manifest)
	p.must("deploy")
	app := docker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", p.containers("app")[0])
	load := func(name, url string, d time.Duration) int64 {
		l := startHTTPLoadWaiting(t, url, 20, 10*time.Second)
		time.Sleep(d)
		l.stop()
		t.Logf("busybox httpd, 20 clients for %s %s: %s", d, name, l)
		return l.non2xx.Load() + l.errs.Load()
	}
	if failed := load("straight to the app", "http://"+app+":8000/", 15*time.Second); failed != 0 {
		t.Fatalf("%d requests failed straight to the app: it does not hold this load itself, so nginx cannot be judged by it", failed)
	}
	if failed := load("through nginx", p.url("/"), 60*time.Second); failed != 0 {
		t.Errorf("nginx failed %d requests the app would have served", failed)
		p.logNginxTrouble()
	}
}
