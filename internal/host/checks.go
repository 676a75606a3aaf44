package host

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// EngineUp says whether a Docker engine answers, without starting one
// (Engine does that, for setup); its error wraps docker.ErrEngineUnreachable.
func EngineUp(ctx context.Context) error {
	_, err := docker.Ping(ctx)
	return err
}

// DataRoot is the folder where the engine keeps images and containers,
// whose free disk the infrastructure policy judges.
func DataRoot(ctx context.Context) (string, error) { return docker.DataRoot(ctx) }

// MissingImages fails, naming them, when any of refs is not in the local
// image store.
func MissingImages(ctx context.Context, refs ...string) error {
	var missing []string
	for _, ref := range refs {
		if !docker.ImageExists(ctx, ref) {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not in the local image store: %s (run `setup`)", strings.Join(missing, ", "))
	}
	return nil
}

// PortFree reports whether nothing listens on port. A port held by the
// compose project or swarm stack named project (its own nginx) passes, with
// a note: deploying again is fine. Without an engine (engineUp false) a
// container holding the port cannot be told from another process.
func PortFree(ctx context.Context, port int, project string, engineUp bool) (string, error) {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err == nil {
		l.Close()
		return "", nil
	}
	if engineUp {
		owners, oerr := docker.PortOwners(ctx, port)
		if oerr == nil {
			for name, owner := range owners {
				if owner == project {
					return "held by this stack's own nginx (" + name + ")", nil
				}
				return "", fmt.Errorf("in use by container %s (project %q)", name, owner)
			}
		}
	}
	return "", fmt.Errorf("in use by another process: %v", err)
}

// NginxTest checks that image's nginx is new enough for the generated
// configuration, then runs nginx -t on confDir/nginx.conf in it as the
// stack runs nginx (each of logDirs writable, each of hosts resolving); the
// note names the version found, and a refusal is nginx's last lines.
func NginxTest(ctx context.Context, image, confDir string, logDirs []string, hosts ...string) (string, error) {
	found, err := CheckNginxVersion(ctx, image)
	if err != nil {
		return "", err
	}
	note := "nginx " + found
	out, err := docker.NginxTest(ctx, image, confDir, logDirs, hosts...)
	if err != nil && docker.Tail(out, 1) != "" {
		return note, fmt.Errorf("%s", strings.ReplaceAll(docker.Tail(out, 3), "\n", " | "))
	}
	return note, err
}

// appTrialLimit is how long a tried app image has to answer its health path.
const appTrialLimit = 15 * time.Second

// TryApp starts the app's image briefly on Docker's default bridge, as the
// stack runs it (user, read-only root; no capabilities) with env, and
// checks the contract: its health path on port answers a 2xx; /metrics,
// which is optional, is looked for.
func TryApp(ctx context.Context, image, user string, readOnly bool, env []string, port int, healthPath string) (string, error) {
	trial, err := docker.TryImage(ctx, image, user, readOnly, env, port, healthPath, appTrialLimit)
	if err != nil {
		return "", fmt.Errorf("%w; an image that cannot run as user %s on a read-only root with no capabilities needs services.user or services.read_only: false in the manifest (see docs/own-service.md)", err, user)
	}
	metricsNote := "/metrics: yes"
	if !trial.Metrics {
		metricsNote = "/metrics: none (releases judge it from nginx's counts; promote between modes needs it and fails closed)"
	}
	return fmt.Sprintf("HTTP %d; %s", trial.HealthStatus, metricsNote), nil
}
