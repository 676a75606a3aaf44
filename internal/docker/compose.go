package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Compose labels that identify what a container, network or volume belongs to.
const (
	projectLabel    = "com.docker.compose.project"
	serviceLabel    = "com.docker.compose.service"
	configHashLabel = "com.docker.compose.config-hash"
)

// OverrideFile is the optional hand-written compose file merged into every call.
const OverrideFile = "docker-compose.override.yml"

// Project is one compose project: its name and the folder holding its files.
type Project struct {
	Name string
	Dir  string
	File string // the generated compose file, relative to Dir
}

// Files lists the compose files every call passes: the generated file, then the
// override when it exists. Naming the first with -f stops Compose from finding
// the override by itself, hence both.
func (p Project) Files() []string {
	files := []string{filepath.Join(p.Dir, p.File)}
	if _, err := os.Stat(filepath.Join(p.Dir, OverrideFile)); err == nil {
		files = append(files, filepath.Join(p.Dir, OverrideFile))
	}
	return files
}

// Compose runs `docker compose` on the project with args.
func (p Project) Compose(ctx context.Context, args ...string) (string, error) {
	full := []string{"compose", "--project-name", p.Name, "--project-directory", p.Dir}
	for _, f := range p.Files() {
		full = append(full, "-f", f)
	}
	full = append(full, "--progress", "quiet")
	out, err := run(ctx, "docker", append(full, args...)...)
	var cmdErr *CommandError
	if errors.As(err, &cmdErr) && len(args) > 0 {
		// The full command line, with every -f path, buries the reason.
		cmdErr.Command = "docker compose " + args[0]
	}
	return out, err
}

// Check loads the project's files as Compose reads them, running nothing.
func (p Project) Check(ctx context.Context) error {
	_, err := p.Compose(ctx, "config", "--quiet")
	return err
}

// ConfigHashes returns the hash Compose computes for each service's desired
// configuration; a running container whose config-hash label matches is up to date.
func (p Project) ConfigHashes(ctx context.Context) (map[string]string, error) {
	out, err := p.Compose(ctx, "config", "--hash", "*")
	if err != nil {
		return nil, err
	}
	hashes := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if name, hash, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			hashes[name] = strings.TrimSpace(hash)
		}
	}
	return hashes, nil
}

// Hardening is how the merged compose files run a service: its user and
// whether its root filesystem is read-only.
type Hardening struct {
	User     string `json:"user"`
	ReadOnly bool   `json:"read_only"`
}

// ServiceHardening reads service's user and read-only root from the merged
// compose files (the override file included).
func (p Project) ServiceHardening(ctx context.Context, service string) (Hardening, error) {
	out, err := p.Compose(ctx, "config", "--format", "json")
	if err != nil {
		return Hardening{}, err
	}
	// Compose writes its warnings (swarm-only keys in a stack file, say)
	// on the same stream, before the document.
	if !strings.HasPrefix(out, "{") {
		if i := strings.Index(out, "\n{"); i >= 0 {
			out = out[i+1:]
		}
	}
	var doc struct {
		Services map[string]Hardening `json:"services"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return Hardening{}, fmt.Errorf("read the compose configuration: %w", err)
	}
	h, ok := doc.Services[service]
	if !ok {
		return h, fmt.Errorf("the compose configuration has no service %s", service)
	}
	return h, nil
}

// Container is what SwiftDeploy needs to know of one container.
type Container struct {
	ID          string
	Name        string
	Service     string
	Image       string
	State       string // running, exited, restarting, ...
	Health      string // healthy, unhealthy, starting, or "" without a healthcheck
	ExitCode    int
	StartedAt   time.Time
	ConfigHash  string
	Env         map[string]string
	User        string
	ReadOnly    bool
	CapDrop     []string
	CapAdd      []string
	SecurityOpt []string
	// SandboxID names the container's network namespace.
	SandboxID string
	// SwarmService and SwarmNode name the swarm service and node of a
	// swarm task's container ("" otherwise).
	SwarmService, SwarmNode string
	// Published maps a container port ("9180/tcp") to the host address
	// Docker publishes it on ("127.0.0.1:32768").
	Published map[string]string
	IPs       map[string]string // address on each network, by network name
}

// Running reports whether the container is up.
func (c Container) Running() bool { return c.State == "running" }

// Containers lists the project's containers, running or not, optionally only
// those of one service.
func (p Project) Containers(ctx context.Context, service string) ([]Container, error) {
	return labelled(ctx, projectLabel, p.Name, serviceLabel, service)
}

// labelled lists and inspects the containers, running or not, whose label
// group is value (a compose project or a swarm stack), and whose label
// service is serviceValue when that is not "".
func labelled(ctx context.Context, group, value, service, serviceValue string) ([]Container, error) {
	args := []string{"ps", "-aq", "--no-trunc", "--filter", "label=" + group + "=" + value}
	if serviceValue != "" {
		args = append(args, "--filter", "label="+service+"="+serviceValue)
	}
	out, err := run(ctx, "docker", args...)
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", value, err)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	return Inspect(ctx, ids...)
}

type inspected struct {
	ID    string
	Name  string
	State struct {
		Status    string
		ExitCode  int
		StartedAt time.Time
		Health    *struct{ Status string }
	}
	Config struct {
		Image  string
		User   string
		Env    []string
		Labels map[string]string
	}
	HostConfig struct {
		ReadonlyRootfs bool
		CapDrop        []string
		CapAdd         []string
		SecurityOpt    []string
	}
	NetworkSettings struct {
		SandboxID string
		Ports     map[string][]struct{ HostIP, HostPort string }
		Networks  map[string]struct{ IPAddress string }
	}
}

// Inspect reads the state of containers by ID or name.
func Inspect(ctx context.Context, ids ...string) ([]Container, error) {
	out, err := run(ctx, "docker", append([]string{"inspect", "--type", "container"}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("inspect containers: %w", err)
	}
	var raw []inspected
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, fmt.Errorf("inspect containers: %w", err)
	}
	cs := make([]Container, 0, len(raw))
	for _, r := range raw {
		c := Container{
			ID: r.ID, Name: strings.TrimPrefix(r.Name, "/"), Service: r.Config.Labels[serviceLabel],
			Image: r.Config.Image, State: r.State.Status, ExitCode: r.State.ExitCode, StartedAt: r.State.StartedAt,
			ConfigHash: r.Config.Labels[configHashLabel], SandboxID: r.NetworkSettings.SandboxID, SwarmService: r.Config.Labels[swarmServiceLabel], SwarmNode: r.Config.Labels[swarmNodeLabel], Env: map[string]string{}, User: r.Config.User,
			ReadOnly: r.HostConfig.ReadonlyRootfs, CapDrop: r.HostConfig.CapDrop, CapAdd: r.HostConfig.CapAdd,
			SecurityOpt: r.HostConfig.SecurityOpt, IPs: map[string]string{}, Published: map[string]string{},
		}
		for name, n := range r.NetworkSettings.Networks {
			if n.IPAddress != "" {
				c.IPs[name] = n.IPAddress
			}
		}
		if r.State.Health != nil {
			c.Health = r.State.Health.Status
		}
		for _, kv := range r.Config.Env {
			if k, v, ok := strings.Cut(kv, "="); ok {
				c.Env[k] = v
			}
		}
		for port, bindings := range r.NetworkSettings.Ports {
			if len(bindings) > 0 {
				c.Published[port] = net.JoinHostPort(bindings[0].HostIP, bindings[0].HostPort)
			}
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// Stop sends SIGTERM and waits up to grace for the containers to exit.
func Stop(ctx context.Context, grace time.Duration, ids ...string) error {
	args := append([]string{"stop", "--time", strconv.Itoa(int(grace.Seconds()))}, ids...)
	if _, err := run(ctx, "docker", args...); err != nil {
		return fmt.Errorf("stop containers: %w", err)
	}
	return nil
}

// Remove force-removes containers (and their anonymous volumes).
func Remove(ctx context.Context, ids ...string) error {
	if _, err := run(ctx, "docker", append([]string{"rm", "--force", "--volumes"}, ids...)...); err != nil {
		return fmt.Errorf("remove containers: %w", err)
	}
	return nil
}

// PrepareVolume creates the project's named volume key (called name) as
// Compose would, with its labels, unless it exists, and opens its root to
// every user (mode 1777, like /tmp) with a one-off container of image run as
// root. Compose would create it owned by root, where an unprivileged nginx
// cannot write its log, unless the app's image happens to have a folder with
// that mode where the volume is mounted.
func (p Project) PrepareVolume(ctx context.Context, key, name, image string) error {
	if _, err := run(ctx, "docker", "volume", "inspect", name); err == nil {
		return nil
	}
	if _, err := run(ctx, "docker", "volume", "create", "--label", projectLabel+"="+p.Name,
		"--label", "com.docker.compose.volume="+key, name); err != nil {
		return fmt.Errorf("create the volume %s: %w", name, err)
	}
	if _, err := run(ctx, "docker", "run", "--rm", "--user", "0:0", "--network", "none", "--entrypoint", "chmod",
		"-v", name+":/volume", image, "1777", "/volume"); err != nil {
		return fmt.Errorf("open the volume %s to the stack's users with %s: %w", name, image, err)
	}
	return nil
}

// Exec runs a command inside a running container.
func Exec(ctx context.Context, id string, command ...string) error {
	_, err := run(ctx, "docker", append([]string{"exec", id}, command...)...)
	return err
}

// LogsSince returns what a container printed since a time.
func LogsSince(ctx context.Context, id string, since time.Time) (string, error) {
	return run(ctx, "docker", "logs", "--since", since.UTC().Format(time.RFC3339Nano), id)
}

// Logs returns the last n lines a container printed.
func Logs(ctx context.Context, id string, n int) (string, error) {
	return run(ctx, "docker", "logs", "--tail", strconv.Itoa(n), id)
}

// RemoveProject removes every container, network and volume labelled with the
// project's name. It needs no compose file, so it also cleans up after a
// deleted docker-compose.yml, and it is a no-op when nothing is left.
func (p Project) RemoveProject(ctx context.Context) (removed []string, err error) {
	filter := "label=" + projectLabel + "=" + p.Name
	kinds := []struct{ list, remove []string }{
		{[]string{"ps", "-aq", "--filter", filter}, []string{"rm", "--force", "--volumes"}},
		{[]string{"network", "ls", "-q", "--filter", filter}, []string{"network", "rm"}},
		{[]string{"volume", "ls", "-q", "--filter", filter}, []string{"volume", "rm", "--force"}},
	}
	for _, k := range kinds {
		out, err := run(ctx, "docker", k.list...)
		if err != nil {
			return removed, fmt.Errorf("list %s: %w", k.list[0], err)
		}
		ids := strings.Fields(out)
		if len(ids) == 0 {
			continue
		}
		if _, err := run(ctx, "docker", append(k.remove, ids...)...); err != nil {
			if k.list[0] == "network" {
				return removed, networkInUse(ctx, ids, err)
			}
			return removed, fmt.Errorf("remove: %w", err)
		}
		removed = append(removed, ids...)
	}
	return removed, nil
}

// networkInUse explains a network that could not be removed: most often a
// container from outside the stack is still attached to it, and that container
// is not the stack's to stop.
func networkInUse(ctx context.Context, ids []string, err error) error {
	for _, id := range ids {
		out, inspectErr := run(ctx, "docker", "network", "inspect", "--format", `{{.Name}}{{range .Containers}} {{.Name}}{{end}}`, id)
		if inspectErr != nil {
			continue
		}
		fields := strings.Fields(out)
		if len(fields) > 1 {
			return fmt.Errorf("network %s is still used by %s, which this stack did not start: disconnect it (docker network disconnect %s %s) and run teardown again: %w",
				fields[0], strings.Join(fields[1:], ", "), fields[0], fields[1], err)
		}
	}
	return fmt.Errorf("remove network: %w", err)
}

// NginxTest runs `nginx -t` on confDir/nginx.conf inside image, offline and with
// the same user, read-only root and writable paths as the deployed container.
// Each of hosts is mapped to 127.0.0.1: nginx looks such names up at start.
func NginxTest(ctx context.Context, image, confDir string, logDirs []string, hosts ...string) (string, error) {
	abs, err := filepath.Abs(confDir)
	if err != nil {
		return "", err
	}
	args := []string{"run", "--rm", "--network", "none"}
	for _, h := range hosts {
		args = append(args, "--add-host", h+":127.0.0.1")
	}
	args = append(args, "--user", "65534:65534", "--read-only", "--tmpfs", "/tmp:mode=1777")
	for _, d := range logDirs {
		args = append(args, "--tmpfs", d+":mode=1777")
	}
	return run(ctx, "docker", append(args, "-v", abs+":/etc/swiftdeploy/nginx:ro", image,
		"nginx", "-e", "stderr", "-t", "-c", "/etc/swiftdeploy/nginx/nginx.conf")...)
}

// PortOwners lists the running containers publishing host port, with the compose
// project each belongs to ("" for containers outside compose).
func PortOwners(ctx context.Context, port int) (map[string]string, error) {
	out, err := run(ctx, "docker", "ps", "--filter", "publish="+strconv.Itoa(port), "--format", `{{.Names}}	{{.Label "`+projectLabel+`"}}{{.Label "`+stackLabel+`"}}`)
	if err != nil {
		return nil, fmt.Errorf("list containers on port %d: %w", port, err)
	}
	owners := map[string]string{}
	for _, line := range outputLines(out) {
		if name, project, ok := strings.Cut(line, "\t"); ok {
			owners[name] = project
		}
	}
	return owners, nil
}
