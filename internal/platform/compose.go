package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// Compose runs a stack as a Docker Compose project on this host.
type Compose struct {
	Project docker.Project
	Network string // the stack's network, whose addresses nginx uses
	// LogVolume is the named volume the app and nginx write logs to, and
	// NginxImage an image with chmod to prepare it with.
	LogVolume, NginxImage string
	// AdminPort is nginx's admin listener inside its container.
	AdminPort int
	// NginxConf is the nginx.conf nginx reads from this host, and ReadFile
	// where the runtime notes which content of it the running nginx read:
	// a changed one is read again by a graceful reload, in the same
	// container, so that open connections (WebSockets, streams, keep-alive
	// clients) outlive a change of the configuration.
	NginxConf, ReadFile string
}

var _ Runtime = Compose{}

// NginxConfInContainer is where the nginx container reads nginx.conf (the
// compose file's command says so).
const NginxConfInContainer = "/etc/swiftdeploy/nginx/nginx.conf"

func (c Compose) Up(ctx context.Context) error {
	if c.LogVolume != "" {
		if err := c.Project.PrepareVolume(ctx, "logs", c.LogVolume, c.NginxImage); err != nil {
			return err
		}
	}
	started := time.Now()
	if _, err := c.Project.Compose(ctx, "up", "--detach", "--remove-orphans"); err != nil {
		return err
	}
	return c.rereadNginx(ctx, started)
}

// nginxRead is what ReadFile notes: the nginx container and the digest of
// the nginx.conf it read.
type nginxRead struct {
	Container string `json:"container"`
	Digest    string `json:"digest"`
}

func (c Compose) confDigest() (string, error) {
	data, err := os.ReadFile(c.NginxConf)
	if err != nil {
		return "", fmt.Errorf("read nginx's configuration: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

func (c Compose) lastRead() nginxRead {
	var r nginxRead
	if data, err := os.ReadFile(c.ReadFile); err == nil {
		json.Unmarshal(data, &r)
	}
	return r
}

// rereadNginx has the running nginx read nginx.conf again when it may not
// have read this content yet: a container started since started read it as
// it started; any other gets a graceful reload (its old workers finish what
// they hold, WebSockets included). Then it notes what nginx read.
func (c Compose) rereadNginx(ctx context.Context, started time.Time) error {
	if c.NginxConf == "" || c.ReadFile == "" {
		return nil
	}
	digest, err := c.confDigest()
	if err != nil {
		return err
	}
	containers, err := c.Project.Containers(ctx, string(Nginx))
	if err != nil {
		return err
	}
	last := c.lastRead()
	for _, ct := range containers {
		if !ct.Running() {
			continue
		}
		if !ct.StartedAt.After(started) && (ct.ID != last.Container || digest != last.Digest) {
			if err := docker.Exec(ctx, ct.ID, "nginx", "-c", NginxConfInContainer, "-s", "reload"); err != nil {
				return fmt.Errorf("reload nginx in %s: %w", ct.Name, err)
			}
		}
		data, err := json.Marshal(nginxRead{Container: ct.ID, Digest: digest})
		if err != nil {
			return err
		}
		return atomicfile.Write(c.ReadFile, append(data, '\n'), 0o644)
	}
	return nil
}

// nginxReadCurrent says whether the running nginx has read nginx.conf as
// it is on disk.
func (c Compose) nginxReadCurrent(ctx context.Context) (bool, error) {
	if c.NginxConf == "" || c.ReadFile == "" {
		return true, nil
	}
	digest, err := c.confDigest()
	if err != nil {
		return false, err
	}
	containers, err := c.Project.Containers(ctx, string(Nginx))
	if err != nil {
		return false, err
	}
	last := c.lastRead()
	for _, ct := range containers {
		if ct.Running() && ct.ID == last.Container && digest == last.Digest {
			return true, nil
		}
	}
	return false, nil
}

func (c Compose) UpToDate(ctx context.Context) (bool, error) {
	containers, err := c.Project.Containers(ctx, "")
	if err != nil || len(containers) == 0 {
		return false, err
	}
	want, err := c.Project.ConfigHashes(ctx)
	if err != nil {
		return false, fmt.Errorf("read the compose configuration: %w", err)
	}
	seen := map[string]int{}
	for _, ct := range containers {
		if !ct.Running() || ct.ConfigHash != want[ct.Service] {
			return false, nil
		}
		seen[ct.Service]++
	}
	for service := range want {
		if seen[service] != 1 {
			return false, nil
		}
	}
	return c.nginxReadCurrent(ctx)
}

func (c Compose) Current(ctx context.Context, role Role) (bool, error) {
	containers, err := c.Project.Containers(ctx, string(role))
	if err != nil || len(containers) == 0 {
		return false, err
	}
	want, err := c.Project.ConfigHashes(ctx)
	if err != nil {
		return false, fmt.Errorf("read the compose configuration: %w", err)
	}
	for _, ct := range containers {
		if !ct.Running() || ct.ConfigHash != want[ct.Service] {
			return false, nil
		}
	}
	if role == Nginx {
		return c.nginxReadCurrent(ctx)
	}
	return true, nil
}

func (c Compose) Check(ctx context.Context) error { return c.Project.Check(ctx) }

func (c Compose) Instances(ctx context.Context, role Role) ([]Instance, error) {
	containers, err := c.Project.Containers(ctx, string(role))
	if err != nil {
		return nil, err
	}
	return c.instances(containers), nil
}

func (c Compose) Instance(ctx context.Context, id string) (Instance, error) {
	got, err := docker.Inspect(ctx, id)
	if err != nil {
		return Instance{}, err
	}
	if len(got) != 1 {
		return Instance{}, fmt.Errorf("instance %s: found %d containers", id, len(got))
	}
	return c.instances(got)[0], nil
}

// StartBeside scales the role's service up by one without touching the
// running containers or any other service.
func (c Compose) StartBeside(ctx context.Context, role Role) ([]Instance, error) {
	before, err := c.Instances(ctx, role)
	if err != nil {
		return nil, err
	}
	// Compose counts stopped containers too: a scale of one more than all of
	// them creates a new one rather than starting a stopped old one.
	scale := fmt.Sprintf("%s=%d", role, len(before)+1)
	_, upErr := c.Project.Compose(ctx, "up", "--detach", "--no-deps", "--no-recreate", "--scale", scale, string(role))
	// What was started, even by a failed up, must be known to be removed.
	after, err := c.Instances(context.WithoutCancel(ctx), role)
	if err != nil {
		return nil, err
	}
	var started []Instance
	for _, i := range after {
		if !slices.ContainsFunc(before, func(b Instance) bool { return b.ID == i.ID }) {
			started = append(started, i)
		}
	}
	if upErr != nil {
		return started, fmt.Errorf("start another %s: %w", role, upErr)
	}
	return started, nil
}

func (c Compose) Recreate(ctx context.Context, role Role) error {
	started := time.Now()
	if _, err := c.Project.Compose(ctx, "up", "--detach", "--no-deps", "--force-recreate", string(role)); err != nil {
		return err
	}
	if role != Nginx {
		return nil
	}
	return c.rereadNginx(ctx, started)
}

func (c Compose) Reroute(ctx context.Context) error {
	return reloadNginx(ctx, c)
}

func (c Compose) Retire(ctx context.Context, grace time.Duration, ids ...string) error {
	if err := docker.Stop(ctx, grace, ids...); err != nil {
		return err
	}
	return docker.Remove(ctx, ids...)
}

func (c Compose) Remove(ctx context.Context, ids ...string) error {
	return docker.Remove(ctx, ids...)
}

func (c Compose) RouterLog(ctx context.Context, since time.Time) (string, error) {
	return nginxLogs(ctx, c, since)
}

// AdminAddr reads where Docker published nginx's admin port on this host.
func (c Compose) AdminAddr(ctx context.Context) (string, error) {
	return adminAddr(ctx, c, c.AdminPort)
}

func (c Compose) Logs(ctx context.Context, id string, n int) (string, error) {
	return docker.Logs(ctx, id, n)
}

// Down runs `compose down` when the compose file is there, then removes by
// label whatever is left, which needs no compose file; what it returns is
// what the second step found left over.
func (c Compose) Down(ctx context.Context) ([]string, error) {
	var downErr error
	if _, err := os.Stat(c.Project.Files()[0]); err == nil {
		_, downErr = c.Project.Compose(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "15")
	}
	removed, err := c.Project.RemoveProject(ctx)
	if err != nil && downErr != nil {
		return removed, fmt.Errorf("%w (after docker compose down failed: %v)", err, downErr)
	}
	return removed, err
}

func (c Compose) Files() []string { return c.Project.Files() }

func (c Compose) instances(containers []docker.Container) []Instance {
	out := make([]Instance, len(containers))
	for i, ct := range containers {
		out[i] = Instance{
			ID: ct.ID, Name: ct.Name, Role: Role(ct.Service), Image: ct.Image, State: ct.State,
			Health: ct.Health, ExitCode: ct.ExitCode, StartedAt: ct.StartedAt, Addr: ct.IPs[c.Network],
			Mode: ct.Env["MODE"], Version: ct.Env["APP_VERSION"], Published: ct.Published,
			Reach: ct.IPs[c.Network], // this host routes to its bridges
		}
	}
	return out
}
