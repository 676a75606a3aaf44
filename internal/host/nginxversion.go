package host

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// CheckNginxVersion reads the nginx version inside image and says, when it is
// older than the generated nginx.conf needs, which version it found, which it
// needs and what to do, so that an old image is refused before it crash-loops.
// found is the version read (empty when it could not be read); a version too
// old comes back with an error wrapping fail.ErrInvalid.
func CheckNginxVersion(ctx context.Context, image string) (found string, err error) {
	found, err = docker.NginxVersion(ctx, image)
	if err != nil {
		return "", err
	}
	if !versionAtLeast(found, render.NginxMinVersion) {
		return found, fmt.Errorf("%w: %s", fail.ErrInvalid, NginxTooOld(image, found))
	}
	return found, nil
}

// NginxTooOld tells the operator that image's nginx (version found) is too old
// for the generated nginx.conf, why it must be newer, and the two ways out.
// Setup prints it as a warning for an operator's own image; validate and deploy
// refuse with it.
func NginxTooOld(image, found string) string {
	return fmt.Sprintf("%s has nginx %s, but the generated nginx.conf needs nginx %s or newer "+
		"(an upstream pool whose server follows a replaced app: `server ... resolve`); "+
		"set nginx.image to nginx:latest (mainline) or another image with nginx >= %s, "+
		"or remove %s and run `setup`, which builds one from Debian's newest nginx when no registry answers",
		image, found, render.NginxMinVersion, render.NginxMinVersion, image)
}

// versionAtLeast compares dotted version numbers ("1.30.6" >= "1.27.3"); a
// missing part counts as 0 and anything unreadable as older.
func versionAtLeast(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i := range max(len(h), len(w)) {
		hv, hok := part(h, i)
		wv, _ := part(w, i)
		if !hok {
			return false
		}
		if hv != wv {
			return hv > wv
		}
	}
	return true
}

func part(parts []string, i int) (int, bool) {
	if i >= len(parts) {
		return 0, true
	}
	n, err := strconv.Atoi(parts[i])
	return n, err == nil && n >= 0
}
