package docker

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ImageExists reports whether ref is present in the local image store.
func ImageExists(ctx context.Context, ref string) bool {
	_, err := run(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref)
	return err == nil
}

// ImageLabel returns one label of a local image, "" when unset.
func ImageLabel(ctx context.Context, ref, label string) (string, error) {
	out, err := run(ctx, "docker", "image", "inspect", "--format", fmt.Sprintf("{{index .Config.Labels %q}}", label), ref)
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	v := strings.TrimSpace(out)
	if v == "<no value>" {
		v = ""
	}
	return v, nil
}

// ImageSize returns the size of a local image in bytes.
func ImageSize(ctx context.Context, ref string) (int64, error) {
	out, err := run(ctx, "docker", "image", "inspect", "--format", "{{.Size}}", ref)
	if err != nil {
		return 0, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	var n int64
	_, err = fmt.Sscan(strings.TrimSpace(out), &n)
	return n, err
}

// Pull pulls ref from its registry.
func Pull(ctx context.Context, ref string) error {
	if _, err := run(ctx, "docker", "pull", "--quiet", ref); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

// AppBinary is the service's executable inside its image.
const AppBinary = "swiftdeploy-app"

// BuiltByLabel marks images that SwiftDeploy built from service/, so that setup
// refreshes them and leaves an operator's own image alone.
const BuiltByLabel = "io.swiftdeploy.built-from"

// BuildAppImage builds the service in root/service as a static binary on the
// host and packages it FROM scratch with service/Dockerfile, tagged ref.
func BuildAppImage(ctx context.Context, root, ref string) error {
	return buildGoImage(ctx, root, "service", AppBinary, ref, func(dir string) error {
		return writeLogDirTar(filepath.Join(dir, "logdir.tar"))
	})
}

// ResolverBinary is the resolver's executable inside its image.
const ResolverBinary = "swiftdeploy-resolver"

// BuildResolverImage builds root/resolver, the DNS server nginx asks for the
// app's addresses, into a FROM scratch image tagged ref.
func BuildResolverImage(ctx context.Context, root, ref string) error {
	return buildGoImage(ctx, root, "resolver", ResolverBinary, ref, nil)
}

// RenewerBinary is the edge's renewer's executable inside its image.
const RenewerBinary = "swiftdeploy-renewer"

// BuildRenewerImage builds root/renewer, the edge's renewer, into a FROM
// scratch image tagged ref.
func BuildRenewerImage(ctx context.Context, root, ref string) error {
	return buildGoImage(ctx, root, "renewer", RenewerBinary, ref, nil)
}

// buildGoImage builds the Go package in root/pkg as a static binary named
// binary on the host, and packages it with root/pkg/Dockerfile, tagged ref and
// labelled as built by SwiftDeploy. extra adds files to the build context.
func buildGoImage(ctx context.Context, root, pkg, binary, ref string, extra func(dir string) error) error {
	buildCtx, err := os.MkdirTemp("", "swiftdeploy-"+pkg+"-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(buildCtx)
	env := append(os.Environ(), "CGO_ENABLED=0")
	bin := filepath.Join(buildCtx, binary)
	if _, err := runEnv(ctx, env, "go", "-C", root, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./"+pkg); err != nil {
		return fmt.Errorf("build the %s binary: %w", pkg, err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, pkg, "Dockerfile"))
	if err != nil {
		return fmt.Errorf("build the %s image: %w", pkg, err)
	}
	if err := os.WriteFile(filepath.Join(buildCtx, "Dockerfile"), dockerfile, 0o644); err != nil {
		return err
	}
	if extra != nil {
		if err := extra(buildCtx); err != nil {
			return err
		}
	}
	if _, err := run(ctx, "docker", "build", "--quiet", "--label", BuiltByLabel+"="+pkg, "-t", ref, buildCtx); err != nil {
		return fmt.Errorf("build the %s image %s: %w", pkg, ref, err)
	}
	return nil
}

// AppLogDir is the log folder inside the app image, where the log volume mounts.
const AppLogDir = "var/log/swiftdeploy/"

// writeLogDirTar writes a tar holding only the log folder, world-writable with
// the sticky bit. A named volume takes the mode of the folder it first mounts
// over, which lets the unprivileged app and nginx users both write to it; a
// FROM scratch image cannot chmod, but ADD keeps a tar's modes.
func writeLogDirTar(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, dir := range []string{"var/", "var/log/", AppLogDir} {
		mode := int64(0o755)
		if dir == AppLogDir {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: mode}); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BuildNginxImage builds an nginx image from the distribution's packages, for
// machines that reach no container registry: debootstrap a minimal Debian with
// nginx-light into a temporary folder and import it as ref.
func BuildNginxImage(ctx context.Context, suite, ref string) error {
	rootfs, err := os.MkdirTemp("", "swiftdeploy-nginx-rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(rootfs)
	if _, err := run(ctx, "debootstrap", "--variant=minbase", "--include=nginx-light", suite, rootfs); err != nil {
		return fmt.Errorf("debootstrap nginx: %w", err)
	}
	imp := fmt.Sprintf(`tar -C %q -c . | docker import -c 'CMD ["nginx","-g","daemon off;"]' -c 'LABEL %s=debian-nginx-light' - %q`, rootfs, BuiltByLabel, ref)
	if _, err := run(ctx, "bash", "-o", "pipefail", "-c", imp); err != nil {
		return fmt.Errorf("import the nginx image %s: %w", ref, err)
	}
	return nil
}

// NginxVersion returns the version of nginx inside image ("1.30.6"), read from
// `nginx -v` in a throwaway container with no network.
func NginxVersion(ctx context.Context, image string) (string, error) {
	out, err := run(ctx, "docker", "run", "--rm", "--network", "none", "--entrypoint", "nginx", image, "-v")
	if err != nil {
		return "", fmt.Errorf("read the nginx version in %s: %w", image, err)
	}
	v, ok := ParseNginxVersion(out)
	if !ok {
		return "", fmt.Errorf("read the nginx version in %s: `nginx -v` printed %q", image, Tail(out, 1))
	}
	return v, nil
}

// ParseNginxVersion finds the version in what `nginx -v` prints
// ("nginx version: nginx/1.30.6" or "nginx version: nginx/1.22.1 (Debian)").
func ParseNginxVersion(out string) (string, bool) {
	_, after, ok := strings.Cut(out, "nginx/")
	if !ok {
		return "", false
	}
	v := strings.FieldsFunc(after, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	if len(v) == 0 || v[0] == "" {
		return "", false
	}
	return v[0], true
}

// Trial is what a short run of an image found.
type Trial struct {
	HealthStatus int  // what the health path answered (0: nothing)
	Metrics      bool // GET /metrics answered 200 with Prometheus text
}

// TryImage starts image briefly on Docker's default bridge, hardened as the
// stack runs it (user, read-only root, no capabilities), with env, and asks
// its health path on port over HTTP for up to limit, then /metrics. The
// container is removed whatever happens. An image that exits says so, with
// its last log lines.
func TryImage(ctx context.Context, image, user string, readOnly bool, env []string, port int, path string, limit time.Duration) (Trial, error) {
	var t Trial
	args := []string{"run", "-d", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--label", BuiltByLabel + "-trial=1"}
	if user != "" {
		args = append(args, "--user", user)
	}
	if readOnly {
		args = append(args, "--read-only")
	}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	out, err := run(ctx, "docker", append(args, image)...)
	if err != nil {
		return t, fmt.Errorf("start %s: %w", image, err)
	}
	id := strings.TrimSpace(out)
	defer run(context.WithoutCancel(ctx), "docker", "rm", "--force", id)
	addr, err := run(ctx, "docker", "inspect", "--format", "{{.NetworkSettings.IPAddress}}", id)
	if err != nil {
		return t, err
	}
	base := fmt.Sprintf("http://%s:%d", strings.TrimSpace(addr), port)
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if state, _ := run(ctx, "docker", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", id); !strings.HasPrefix(state, "running") {
			logs, _ := run(ctx, "docker", "logs", "--tail", "5", id)
			return t, fmt.Errorf("it stopped (%s) as user %s%s: %s", strings.TrimSpace(state), user, map[bool]string{true: " on a read-only root", false: ""}[readOnly], strings.TrimSpace(Tail(logs, 3)))
		}
		if resp, err := client.Get(base + path); err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			t.HealthStatus = resp.StatusCode
			if resp.StatusCode/100 == 2 {
				break
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	if t.HealthStatus/100 != 2 {
		if t.HealthStatus == 0 {
			return t, fmt.Errorf("nothing answered on port %d within %s", port, limit)
		}
		return t, fmt.Errorf("%s answered HTTP %d within %s, not a 2xx", path, t.HealthStatus, limit)
	}
	if resp, err := client.Get(base + "/metrics"); err == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		t.Metrics = resp.StatusCode == http.StatusOK && strings.Contains(string(body), "http_requests_total")
	}
	return t, nil
}

// FromRegistry reports whether a local image came from (or went to) a
// registry, which other nodes can pull it from: it has a repository digest.
func FromRegistry(ctx context.Context, ref string) (bool, error) {
	out, err := run(ctx, "docker", "image", "inspect", "--format", "{{len .RepoDigests}}", ref)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) != "0", nil
}
