package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	dockercli "github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// oldNginx is a real nginx too old for the generated nginx.conf: Debian
// bookworm's nginx-light 1.22, built once per machine the way setup builds its
// fallback image, and kept (an image, not a container) for later runs.
const oldNginx = "swiftdeploy-e2e-nginx-old:bookworm"

func oldNginxImage(t *testing.T) string {
	t.Helper()
	if exec.Command("docker", "image", "inspect", oldNginx).Run() == nil {
		return oldNginx
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if !dockercli.Available("debootstrap") {
		if err := dockercli.AptInstall(ctx, "debootstrap"); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := dockercli.BuildNginxImage(ctx, "bookworm", oldNginx); err != nil {
		t.Fatalf("build an old nginx image: %v", err)
	}
	t.Logf("built %s in %.0fs", oldNginx, time.Since(start).Seconds())
	return oldNginx
}

// An nginx image older than the configuration needs is refused up front by
// validate and deploy, saying which version was found, which is needed and
// what to do, instead of nginx crash-looping on `resolve`.
func TestAnNginxImageTooOldForTheConfigIsRefusedWithWhatToDo(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	image := oldNginxImage(t)
	p := newProject(t, manifestOptions{nginx: image})
	want := []string{image + " has nginx 1.22", "needs nginx 1.27.3 or newer", "nginx:latest"}
	out := p.expect(2, append([]string{"✘ 5."}, want...), "validate")
	if n := strings.Count(out, "✘"); n != 1 {
		t.Errorf("%d checks failed, want only check 5", n)
	}
	p.expect(2, want, "deploy")
	if left := p.leftovers(); len(left) > 0 {
		t.Errorf("a deploy refused for its nginx image started %v", left)
	}
}
