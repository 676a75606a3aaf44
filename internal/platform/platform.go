// Package platform is what the lifecycle needs from the engine a stack runs
// on, in deployment words: bring the stack up, take it down, list the
// instances of a role, start one more beside the running ones, retire some
// after a grace period to drain. Compose on one host is the first Runtime,
// swarm the second; For chooses between them from the manifest, so that
// internal/stack speaks only these words and another runtime can take their
// place without the lifecycle knowing.
package platform

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// Role is the part an instance plays in the stack.
type Role string

// The roles of a stack.
const (
	App      Role = "app"
	Canary   Role = "canary" // the new build during a release
	Nginx    Role = "nginx"
	Resolver Role = "resolver"
)

// Instance is one running (or stopped) instance of a role.
type Instance struct {
	ID        string
	Name      string
	Role      Role
	Image     string
	State     string // running, exited, restarting, ...
	Health    string // healthy, unhealthy, starting, or "" without a healthcheck
	ExitCode  int
	StartedAt time.Time
	Addr      string // its address on the stack's network, "" when it has none
	// Published maps a port inside the instance ("9180/tcp") to where this
	// host reaches it ("127.0.0.1:32768").
	Published map[string]string
	Mode      string // the MODE an app runs in
	Version   string // the APP_VERSION an app was told
	// Node is the swarm node it runs on ("" on compose).
	Node string
	// Reach is the address this host reaches the instance on (its ports
	// there are its own), "" when this host cannot reach it.
	Reach string
}

// Build is the image and version an app instance runs.
func (i Instance) Build() manifest.Build { return manifest.Build{Image: i.Image, Version: i.Version} }

// Running reports whether the instance is up.
func (i Instance) Running() bool { return i.State == "running" }

// Runtime runs one stack.
type Runtime interface {
	// Up brings every role to the generated configuration, replacing what
	// differs from it and removing what it no longer names.
	Up(ctx context.Context) error
	// UpToDate reports whether every role runs exactly one instance, as the
	// generated configuration says.
	UpToDate(ctx context.Context) (bool, error)
	// Current reports whether every instance of role runs as the generated
	// configuration says (false when none runs).
	Current(ctx context.Context, role Role) (bool, error)
	// Check validates the generated configuration without running anything.
	Check(ctx context.Context) error
	// Instances lists the instances of role, running or not; "" lists all.
	Instances(ctx context.Context, role Role) ([]Instance, error)
	// Instance reads one instance again.
	Instance(ctx context.Context, id string) (Instance, error)
	// StartBeside starts one more instance of role from the generated
	// configuration, beside the running ones, and returns what it started
	// (also when starting failed part-way, so that it can be removed).
	StartBeside(ctx context.Context, role Role) ([]Instance, error)
	// Recreate replaces every instance of role with a new one from the
	// generated configuration, touching no other role.
	Recreate(ctx context.Context, role Role) error
	// Reroute makes the router (nginx) read its generated configuration
	// again, gracefully: requests under way finish where they started.
	Reroute(ctx context.Context) error
	// Retire stops instances, giving each up to grace to drain, and removes
	// them.
	Retire(ctx context.Context, grace time.Duration, ids ...string) error
	// Remove removes instances at once.
	Remove(ctx context.Context, ids ...string) error
	// RouterLog returns what nginx logged (its access log lines among them)
	// since a time.
	RouterLog(ctx context.Context, since time.Time) (string, error)
	// AdminAddr is the host:port where this host reaches nginx's admin
	// listener (render.AdminPort), which serves SwiftDeploy's probes.
	AdminAddr(ctx context.Context) (string, error)
	// Logs returns the last n lines an instance printed.
	Logs(ctx context.Context, id string, n int) (string, error)
	// Down removes everything the stack runs, also when the generated
	// configuration is gone, and returns what it removed.
	Down(ctx context.Context) ([]string, error)
	// Files names the configuration files the runtime reads, for messages.
	Files() []string
}

// Running lists the running instances of role.
func Running(ctx context.Context, rt Runtime, role Role) ([]Instance, error) {
	instances, err := rt.Instances(ctx, role)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(instances, func(i Instance) bool { return !i.Running() }), nil
}

// Checker is a runtime with needs of its own on this host, beyond a
// running engine: validate checks them, and deploy asks first.
type Checker interface {
	// CheckName names the check in validate's list.
	CheckName() string
	// Ready says whether the stack can run here, with a note when it can.
	// ErrImagesOnThisNode means that other nodes may lack an image (deploy
	// goes ahead and says so: it may have been loaded there by hand).
	Ready(ctx context.Context) (string, error)
}

// ErrImagesOnThisNode says that nodes other than this one may be unable to
// get an image.
var ErrImagesOnThisNode = errors.New("images on this node only")

// Roller is a runtime that replaces a role's instances itself, one at a
// time, each new one ready before an old one stops (swarm's start-first
// rolling update): where StartBeside cannot start a differently configured
// instance beside the others, a switch rolls.
type Roller interface {
	// Roll has the role's instances replaced by ones the generated
	// configuration describes, and waits until they all run; a roll the
	// runtime undid by itself is ErrRolledBack.
	Roll(ctx context.Context, role Role) error
	// Settle waits until no replacement of the role's instances is under
	// way, wherever it ended (a roll a killed command started goes on
	// without it).
	Settle(ctx context.Context, role Role) error
}

// ErrRolledBack says that the runtime undid a roll by itself: the old
// instances serve, as before.
var ErrRolledBack = errors.New("rolled back")

// reloadNginx signals every running nginx rt lists to reload its
// configuration: its master starts new workers and lets the old ones finish
// their requests.
func reloadNginx(ctx context.Context, rt Runtime) error {
	nginx, err := rt.Instances(ctx, Nginx)
	if err != nil {
		return err
	}
	reloaded := 0
	for _, n := range nginx {
		if !n.Running() {
			continue
		}
		if err := docker.Exec(ctx, n.ID, "nginx", "-c", NginxConfInContainer, "-s", "reload"); err != nil {
			return fmt.Errorf("reload nginx in %s: %w", n.Name, err)
		}
		reloaded++
	}
	if reloaded == 0 {
		return fmt.Errorf("no nginx of the stack is running")
	}
	return nil
}

// nginxLogs returns what every running nginx rt lists printed since a time.
func nginxLogs(ctx context.Context, rt Runtime, since time.Time) (string, error) {
	nginx, err := rt.Instances(ctx, Nginx)
	if err != nil {
		return "", err
	}
	var all strings.Builder
	for _, n := range nginx {
		if !n.Running() {
			continue
		}
		out, err := docker.LogsSince(ctx, n.ID, since)
		if err != nil {
			return "", err
		}
		all.WriteString(out)
	}
	return all.String(), nil
}

// adminAddr finds, among the running nginx instances rt lists, where this
// host reaches port.
func adminAddr(ctx context.Context, rt Runtime, port int) (string, error) {
	nginx, err := rt.Instances(ctx, Nginx)
	if err != nil {
		return "", err
	}
	key := fmt.Sprintf("%d/tcp", port)
	for _, n := range nginx {
		if addr := n.Published[key]; n.Running() && addr != "" {
			return addr, nil
		}
	}
	return "", fmt.Errorf("no running nginx of the stack publishes its admin port %d (is the stack deployed?)", port)
}
