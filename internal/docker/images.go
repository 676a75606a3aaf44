package docker

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	buildCtx, err := os.MkdirTemp("", "swiftdeploy-app-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(buildCtx)
	env := append(os.Environ(), "CGO_ENABLED=0")
	bin := filepath.Join(buildCtx, AppBinary)
	if _, err := runEnv(ctx, env, "go", "-C", root, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./service"); err != nil {
		return fmt.Errorf("build the service binary: %w", err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "service", "Dockerfile"))
	if err != nil {
		return fmt.Errorf("build the app image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(buildCtx, "Dockerfile"), dockerfile, 0o644); err != nil {
		return err
	}
	if err := writeLogDirTar(filepath.Join(buildCtx, "logdir.tar")); err != nil {
		return err
	}
	if _, err := run(ctx, "docker", "build", "--quiet", "--label", BuiltByLabel+"=service", "-t", ref, buildCtx); err != nil {
		return fmt.Errorf("build the app image %s: %w", ref, err)
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
