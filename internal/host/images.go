package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/edge"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// DefaultAppImage is the image name the shipped manifest gives the service.
// AppImage builds service/ under this name when it is missing, and never
// under an operator's own name.
const DefaultAppImage = "swift-deploy-1-node:latest"

// AppImage builds service/ into ref unless ref is an operator's own image.
// An image SwiftDeploy built earlier is rebuilt, which is quick and cached, so
// that changes to service/ always reach the image. An operator's image that is
// missing is pulled, never replaced by a build of service/ under its name.
func (h *Host) AppImage(ctx context.Context, ref string) (string, error) {
	if docker.ImageExists(ctx, ref) {
		builtBy, err := docker.ImageLabel(ctx, ref, docker.BuiltByLabel)
		if err != nil {
			return "", err
		}
		if builtBy == "" {
			return "present (your own image: left as it is)", nil
		}
		if !h.has("service") {
			return "present (built by an earlier setup; this folder has no service/ to rebuild it from)", nil
		}
	} else if ref != DefaultAppImage {
		pullCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		if err := docker.Pull(pullCtx, ref); err != nil {
			return "", fmt.Errorf("your image %s is not here and cannot be pulled (%s): build or load it, or set services.image to %s to use the service in service/", ref, firstLine(err.Error()), DefaultAppImage)
		}
		return "pulled", nil
	}
	if err := docker.BuildAppImage(ctx, h.Root, ref); err != nil {
		return "", err
	}
	size, err := docker.ImageSize(ctx, ref)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("built from service/ (%.1f MB)", float64(size)/1e6), nil
}

// ResolverImage builds resolver/ into the resolver image every time: it is
// quick and cached, and changes to resolver/ always reach the image.
func (h *Host) ResolverImage(ctx context.Context) (string, error) {
	if !h.has("resolver") && docker.ImageExists(ctx, render.ResolverImage) {
		return "present (this folder has no resolver/ to rebuild it from)", nil
	}
	if err := docker.BuildResolverImage(ctx, h.Root, render.ResolverImage); err != nil {
		return "", err
	}
	return "built from resolver/", nil
}

// RenewerImage builds renewer/ into the edge's renewer image every time, as
// ResolverImage does the resolver's.
func (h *Host) RenewerImage(ctx context.Context) (string, error) {
	if !h.has("renewer") && docker.ImageExists(ctx, edge.RenewerImage) {
		return "present (this folder has no renewer/ to rebuild it from)", nil
	}
	if err := docker.BuildRenewerImage(ctx, h.Root, edge.RenewerImage); err != nil {
		return "", err
	}
	return "built from renewer/", nil
}

// NginxImage pulls ref, or where no registry answers, builds nginx from the
// distribution's packages and tags it ref.
//
// An image present already is checked for an nginx new enough for the generated
// nginx.conf. One that setup built earlier from an older Debian is rebuilt; an
// operator's own is left alone, with a warning (validate and deploy refuse it).
func (h *Host) NginxImage(ctx context.Context, ref string) (string, error) {
	if docker.ImageExists(ctx, ref) {
		builtBy, err := docker.ImageLabel(ctx, ref, docker.BuiltByLabel)
		if err != nil {
			return "", err
		}
		found, err := CheckNginxVersion(ctx, ref)
		switch {
		case err == nil:
			return "present (nginx " + found + ")", nil
		case found == "":
			return "", err
		case builtBy == "":
			h.Out.Warn("%s", NginxTooOld(ref, found))
			return "present (your own image, nginx " + found + ": left as it is)", nil
		}
		h.Out.Step("%s was built by an earlier setup with nginx %s; rebuilding it with a newer nginx", ref, found)
		return h.buildNginxImage(ctx, ref)
	}
	pullCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	pullErr := docker.Pull(pullCtx, ref)
	cancel()
	if pullErr == nil {
		return "pulled", nil
	}
	h.Out.Warn("cannot pull %s (%v)", ref, firstLine(pullErr.Error()))
	return h.buildNginxImage(ctx, ref)
}

// buildNginxImage builds ref from Debian's newest nginx-light and checks that
// the result is new enough for the generated nginx.conf.
func (h *Host) buildNginxImage(ctx context.Context, ref string) (string, error) {
	h.Out.Step("building %s from the distribution's nginx-light package (debootstrap %s, about a minute)", ref, nginxSuite)
	if !docker.Available("debootstrap") {
		if err := canInstallPackages(); err != nil {
			return "", fmt.Errorf("cannot pull %s and %w: install debootstrap or load an nginx image", ref, err)
		}
		if err := docker.AptInstall(ctx, "debootstrap"); err != nil {
			return "", err
		}
	}
	if err := docker.BuildNginxImage(ctx, nginxSuite, ref); err != nil {
		return "", err
	}
	found, err := CheckNginxVersion(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("built %s from Debian %s, but: %w", ref, nginxSuite, err)
	}
	return "no registry reachable: built from Debian's nginx-light " + found + " and tagged " + ref, nil
}

// has reports whether the project folder holds a source folder: a project
// folder apart from SwiftDeploy's own checkout has none, and uses the images
// an earlier setup built.
func (h *Host) has(dir string) bool {
	info, err := os.Stat(filepath.Join(h.Root, dir))
	return err == nil && info.IsDir()
}

// BuiltFromService reports whether setup built image from service/ (its
// label says so): such an image has the service's own healthcheck command,
// and others are probed over HTTP from outside.
func BuiltFromService(ctx context.Context, image string) (bool, error) {
	builtBy, err := docker.ImageLabel(ctx, image, docker.BuiltByLabel)
	return builtBy == "service", err
}
