package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

func within(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestTheEngineIsUpWhenDockerInfoNamesItsVersion(t *testing.T) {
	f := dockertest.New(t).On("info --format {{.ServerVersion}}", "24.0.7\n")
	if err := EngineUp(within(t)); err != nil {
		t.Errorf("EngineUp() = %v, want nil", err)
	}
	f.Fail("info --format {{.ServerVersion}}", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", 1)
	if err := EngineUp(within(t)); !errors.Is(err, docker.ErrEngineUnreachable) {
		t.Errorf("EngineUp() = %v, want ErrEngineUnreachable", err)
	}
}

func TestTheDataRootIsWhereTheEngineSaysItKeepsImages(t *testing.T) {
	dockertest.New(t).On("info --format {{.DockerRootDir}}", "/var/lib/docker\n")
	if got, err := DataRoot(within(t)); err != nil || got != "/var/lib/docker" {
		t.Errorf("DataRoot() = %q, %v", got, err)
	}
}

func TestMissingImagesNamesEveryImageNotInTheLocalStore(t *testing.T) {
	f := dockertest.New(t).On("image inspect --format {{.Id}} app:2", "sha256:1\n").Fail("image inspect *", "Error: No such image", 1)
	err := MissingImages(within(t), "app:2", "nginx:1.27", "swiftdeploy-resolver:latest")
	if err == nil || err.Error() != "not in the local image store: nginx:1.27, swiftdeploy-resolver:latest (run `setup`)" {
		t.Errorf("MissingImages() = %v", err)
	}
	f.On("image inspect *", "sha256:2\n")
	if err := MissingImages(within(t), "app:2", "nginx:1.27"); err != nil {
		t.Errorf("MissingImages() with every image here = %v", err)
	}
}

// listen listens on a port of the system's choosing, and returns it.
func listen(t *testing.T) (net.Listener, int) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	return l, l.Addr().(*net.TCPAddr).Port
}

func TestAPortIsFreeWhenNothingListensOnItOrTheStacksOwnNginxDoes(t *testing.T) {
	f := dockertest.New(t)
	gone, free := listen(t)
	gone.Close()
	if note, err := PortFree(within(t), free, "sd", true); err != nil || note != "" || len(f.Calls()) != 0 {
		t.Errorf("PortFree(free port) = %q, %v (calls %q); want nothing to say, and no question to the engine", note, err, f.Calls())
	}
	held, port := listen(t)
	defer held.Close()
	owners := "ps --filter publish=" + strconv.Itoa(port) + " --format *"
	for _, c := range []struct {
		name, listing string
		engineUp      bool
		note, problem string
	}{
		{"held by the stack's own nginx", "sd-nginx-1\tsd\n", true, "held by this stack's own nginx (sd-nginx-1)", ""},
		{"held by another stack", "web-1\tshop\n", true, "", `in use by container web-1 (project "shop")`},
		{"held by a container outside compose", "stray\t\n", true, "", `in use by container stray (project "")`},
		{"held by a process", "", true, "", "in use by another process: listen tcp :" + strconv.Itoa(port)},
		{"held, with no engine to ask", "sd-nginx-1\tsd\n", false, "", "in use by another process: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.On(owners, c.listing)
			note, err := PortFree(within(t), port, "sd", c.engineUp)
			if c.problem != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.problem) {
					t.Errorf("PortFree() = %q, %v; want %q", note, err, c.problem)
				}
			} else if err != nil || note != c.note {
				t.Errorf("PortFree() = %q, %v; want %q", note, err, c.note)
			}
		})
	}
}

const (
	nginxVersionCall = "run --rm --network none --entrypoint nginx nginx:1.27 -v"
	nginxTestCall    = "run --rm --network none --add-host resolver:127.0.0.1 *nginx:1.27 nginx -e stderr -t -c /etc/swiftdeploy/nginx/nginx.conf"
)

func TestNginxTestNamesTheVersionFoundWhenNginxAcceptsTheConfiguration(t *testing.T) {
	f := dockertest.New(t).On(nginxVersionCall, "nginx version: nginx/1.27.3\n")
	f.On(nginxTestCall, "nginx: the configuration file /etc/swiftdeploy/nginx/nginx.conf syntax is ok\n")
	note, err := NginxTest(within(t), "nginx:1.27", t.TempDir(), []string{"/var/log/swiftdeploy", "/var/log/swiftdeploy-release"}, "resolver")
	if err != nil || note != "nginx 1.27.3" {
		t.Errorf("NginxTest() = %q, %v", note, err)
	}
}

func TestNginxTestGivesNginxsLastLinesWhenItRefusesTheConfiguration(t *testing.T) {
	f := dockertest.New(t).On(nginxVersionCall, "nginx version: nginx/1.27.3\n")
	f.Fail(nginxTestCall, "first\n\nnginx: [emerg] unknown directive \"serverr\" in /etc/swiftdeploy/nginx/nginx.conf:12\nnginx: configuration file /etc/swiftdeploy/nginx/nginx.conf test failed\n", 1)
	note, err := NginxTest(within(t), "nginx:1.27", t.TempDir(), []string{"/var/log/swiftdeploy", "/var/log/swiftdeploy-release"}, "resolver")
	want := `first | nginx: [emerg] unknown directive "serverr" in /etc/swiftdeploy/nginx/nginx.conf:12 | nginx: configuration file /etc/swiftdeploy/nginx/nginx.conf test failed`
	if err == nil || err.Error() != want || note != "nginx 1.27.3" {
		t.Errorf("NginxTest() = %q, %v; want the version and %q", note, err, want)
	}
}

func TestNginxTestRefusesAnNginxTooOldWithoutTestingTheConfiguration(t *testing.T) {
	f := dockertest.New(t).On(nginxVersionCall, "nginx version: nginx/1.22.1 (Debian)\n")
	_, err := NginxTest(within(t), "nginx:1.27", t.TempDir(), []string{"/var/log/swiftdeploy", "/var/log/swiftdeploy-release"}, "resolver")
	if !errors.Is(err, fail.ErrInvalid) || !strings.Contains(err.Error(), "nginx:1.27 has nginx 1.22.1") {
		t.Errorf("NginxTest() error = %v, want an invalid manifest naming the version", err)
	}
	if f.Count("run --rm --network none --add-host") != 0 {
		t.Error("nginx -t ran in an nginx too old for the configuration")
	}
}

// tryApp makes the fake engine run an app whose health path and /metrics
// are served by handler, in a container whose address is this host's
// loopback, and returns the port it listens on.
func tryApp(t *testing.T, state string, handler http.HandlerFunc) (*dockertest.Fake, int) {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	f := dockertest.New(t).On("run -d --cap-drop ALL --security-opt no-new-privileges:true *", "trial1\n")
	f.On("inspect --format {{.NetworkSettings.IPAddress}} trial1", "127.0.0.1\n")
	f.On("inspect --format {{.State.Status}} {{.State.ExitCode}} trial1", state)
	f.On("logs --tail 5 trial1", "starting\npanic: open /tmp/cache: read-only file system\n").On("rm --force trial1")
	return f, srv.Listener.Addr().(*net.TCPAddr).Port
}

func TestTryAppSaysWhatTheHealthPathAnsweredAndWhetherThereAreMetrics(t *testing.T) {
	for _, c := range []struct {
		name    string
		metrics string
		note    string
	}{
		{"with metrics", "# TYPE http_requests_total counter\nhttp_requests_total 3\n", "HTTP 200; /metrics: yes"},
		{"without metrics", "", "HTTP 200; /metrics: none (releases judge it from nginx's counts; promote between modes needs it and fails closed)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, port := tryApp(t, "running 0\n", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/metrics" && c.metrics != "" {
					fmt.Fprint(w, c.metrics)
					return
				}
				if r.URL.Path != "/healthz" {
					http.NotFound(w, r)
				}
			})
			note, err := TryApp(within(t), "app:2", "10001:10001", true, []string{"MODE=stable"}, port, "/healthz")
			if err != nil || note != c.note {
				t.Errorf("TryApp() = %q, %v; want %q", note, err, c.note)
			}
			want := "run -d --cap-drop ALL --security-opt no-new-privileges:true --label io.swiftdeploy.built-from-trial=1 --user 10001:10001 --read-only -e MODE=stable app:2"
			if f.Count(want) != 1 || f.Count("rm --force trial1") != 1 {
				t.Errorf("calls = %q, want the image run hardened as %q, then removed", f.Calls(), want)
			}
		})
	}
}

func TestTryAppOfAnImageThatStopsSaysHowToRunItAsTheStackDoes(t *testing.T) {
	_, port := tryApp(t, "exited 2\n", func(http.ResponseWriter, *http.Request) {})
	_, err := TryApp(within(t), "app:2", "10001:10001", true, nil, port, "/healthz")
	for _, want := range []string{
		"it stopped (exited 2) as user 10001:10001 on a read-only root: starting\npanic: open /tmp/cache: read-only file system",
		"needs services.user or services.read_only: false in the manifest (see docs/own-service.md)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("TryApp() error = %v, want it to contain %q", err, want)
		}
	}
}
