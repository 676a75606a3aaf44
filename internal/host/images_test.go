package host

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// hostIn is this machine seen from an empty project folder (no service/ or
// resolver/ to build from), printing to out, with its engine's files in a
// folder of the test's own that has no pidfile: no test reads or changes this
// machine's daemon.json or signals its dockerd.
func hostIn(t *testing.T, out *bytes.Buffer) *Host {
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	engine := t.TempDir()
	return &Host{Root: t.TempDir(), Out: ui.New(out), Files: EngineFiles{
		Config:   filepath.Join(engine, "etc", "daemon.json"),
		Pidfile:  filepath.Join(engine, "docker.pid"),
		DataRoot: filepath.Join(engine, "lib"),
		Log:      filepath.Join(engine, "dockerd.log"),
		Proc:     filepath.Join(engine, "proc"),
		Reload: func(pid int) error {
			t.Errorf("dockerd (pid %d) reloaded by a test that does not expect it", pid)
			return nil
		},
	}}
}

// The calls that read an image's presence and the label setup puts on what
// it built.
const (
	labelOf = `image inspect --format {{index .Config.Labels "io.swiftdeploy.built-from"}} `
	idOf    = "image inspect --format {{.Id}} "
)

func TestAnImageIsBuiltFromServiceWhenSetupsLabelSaysSo(t *testing.T) {
	f := dockertest.New(t)
	for label, want := range map[string]bool{"service\n": true, "<no value>\n": false, "debian-nginx-light\n": false} {
		f.On(labelOf+"app:2", label)
		if got, err := BuiltFromService(within(t), "app:2"); err != nil || got != want {
			t.Errorf("BuiltFromService() with label %q = %v, %v; want %v", label, got, err, want)
		}
	}
	f.Fail(labelOf+"app:2", "Error: No such image: app:2", 1)
	if got, err := BuiltFromService(within(t), "app:2"); err == nil || got {
		t.Errorf("BuiltFromService() of a missing image = %v, %v; want false and the error", got, err)
	}
}

func TestAppImageLeavesAnOperatorsOwnImageAsItIs(t *testing.T) {
	f := dockertest.New(t).On(idOf+"shop:1", "sha256:1\n").On(labelOf+"shop:1", "<no value>\n")
	note, err := hostIn(t, new(bytes.Buffer)).AppImage(within(t), "shop:1")
	if err != nil || note != "present (your own image: left as it is)" {
		t.Errorf("AppImage() = %q, %v", note, err)
	}
	if f.Count("build") != 0 || f.Count("pull") != 0 {
		t.Errorf("calls = %q: an operator's image was replaced", f.Calls())
	}
}

func TestAppImageKeepsWhatSetupBuiltWhenThisFolderHasNoServiceToRebuildItFrom(t *testing.T) {
	dockertest.New(t).On(idOf+DefaultAppImage, "sha256:1\n").On(labelOf+DefaultAppImage, "service\n")
	note, err := hostIn(t, new(bytes.Buffer)).AppImage(within(t), DefaultAppImage)
	if err != nil || note != "present (built by an earlier setup; this folder has no service/ to rebuild it from)" {
		t.Errorf("AppImage() = %q, %v", note, err)
	}
}

func TestAppImagePullsAnOperatorsMissingImageAndNeverBuildsServiceUnderItsName(t *testing.T) {
	f := dockertest.New(t).Fail(idOf+"shop:1", "Error: No such image: shop:1", 1).On("pull --quiet shop:1", "shop:1\n")
	if note, err := hostIn(t, new(bytes.Buffer)).AppImage(within(t), "shop:1"); err != nil || note != "pulled" {
		t.Errorf("AppImage() = %q, %v; want it pulled", note, err)
	}
	f.Fail("pull --quiet shop:1", "Error response from daemon: pull access denied for shop\nmore detail", 1)
	_, err := hostIn(t, new(bytes.Buffer)).AppImage(within(t), "shop:1")
	want := "your image shop:1 is not here and cannot be pulled (pull shop:1: docker pull --quiet shop:1: exit status 1: Error response from daemon: pull access denied for shop | more detail): build or load it, or set services.image to " + DefaultAppImage + " to use the service in service/"
	if err == nil || err.Error() != want {
		t.Errorf("AppImage() error =\n%v\nwant\n%s", err, want)
	}
}

func TestResolverImageKeepsTheImageWhenThisFolderHasNoResolverToRebuildItFrom(t *testing.T) {
	dockertest.New(t).On(idOf+"swiftdeploy-resolver:latest", "sha256:1\n")
	note, err := hostIn(t, new(bytes.Buffer)).ResolverImage(within(t))
	if err != nil || note != "present (this folder has no resolver/ to rebuild it from)" {
		t.Errorf("ResolverImage() = %q, %v", note, err)
	}
}

func TestNginxImagePresentAndNewEnoughIsLeftAsItIs(t *testing.T) {
	f := dockertest.New(t).On(idOf+"nginx:1.27", "sha256:1\n").On(labelOf+"nginx:1.27", "<no value>\n")
	f.On(nginxVersionCall, "nginx version: nginx/1.27.3\n")
	note, err := hostIn(t, new(bytes.Buffer)).NginxImage(within(t), "nginx:1.27")
	if err != nil || note != "present (nginx 1.27.3)" {
		t.Errorf("NginxImage() = %q, %v", note, err)
	}
}

// validate and deploy refuse it; setup only warns, for it is not setup's
// to replace.
func TestNginxImageWarnsOfAnOperatorsNginxTooOldAndLeavesIt(t *testing.T) {
	f := dockertest.New(t).On(idOf+"nginx:1.27", "sha256:1\n").On(labelOf+"nginx:1.27", "<no value>\n")
	f.On(nginxVersionCall, "nginx version: nginx/1.22.1 (Debian)\n")
	var out bytes.Buffer
	note, err := hostIn(t, &out).NginxImage(within(t), "nginx:1.27")
	if err != nil || note != "present (your own image, nginx 1.22.1: left as it is)" {
		t.Errorf("NginxImage() = %q, %v", note, err)
	}
	if !strings.HasPrefix(out.String(), "! nginx:1.27 has nginx 1.22.1, but the generated nginx.conf needs nginx 1.27.3 or newer") {
		t.Errorf("printed %q, want a warning saying what was found and what is needed", out.String())
	}
}

func TestNginxImageWhoseVersionCannotBeReadIsAnError(t *testing.T) {
	f := dockertest.New(t).On(idOf+"nginx:1.27", "sha256:1\n").On(labelOf+"nginx:1.27", "<no value>\n")
	f.On(nginxVersionCall, "exec: \"nginx\": executable file not found in $PATH\n")
	_, err := hostIn(t, new(bytes.Buffer)).NginxImage(within(t), "nginx:1.27")
	if err == nil || !strings.Contains(err.Error(), "read the nginx version in nginx:1.27: `nginx -v` printed") {
		t.Errorf("NginxImage() error = %v", err)
	}
}

func TestNginxImageMissingIsPulled(t *testing.T) {
	dockertest.New(t).Fail(idOf+"nginx:1.27", "Error: No such image: nginx:1.27", 1).On("pull --quiet nginx:1.27")
	if note, err := hostIn(t, new(bytes.Buffer)).NginxImage(within(t), "nginx:1.27"); err != nil || note != "pulled" {
		t.Errorf("NginxImage() = %q, %v", note, err)
	}
}

func TestAProjectFolderHasASourceFolderOnlyWhenItIsAFolder(t *testing.T) {
	h := hostIn(t, new(bytes.Buffer))
	if err := os.Mkdir(filepath.Join(h.Root, "service"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.Root, "resolver"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !h.has("service") || h.has("resolver") || h.has("missing") {
		t.Errorf("has(service, resolver, missing) = %v, %v, %v; want true, false, false", h.has("service"), h.has("resolver"), h.has("missing"))
	}
}
