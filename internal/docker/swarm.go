package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
)

// Swarm labels on a stack's services, tasks' containers and networks.
const (
	stackLabel        = "com.docker.stack.namespace"
	swarmServiceLabel = "com.docker.swarm.service.name"
	swarmNodeLabel    = "com.docker.swarm.node.id"
)

// SwarmState is this engine's part in a swarm.
type SwarmState struct {
	NodeID  string
	State   string // inactive, pending, active, error, locked
	Manager bool   // it can run stack deploy
	Nodes   int
}

// Swarm reads this engine's swarm state.
func Swarm(ctx context.Context) (SwarmState, error) {
	out, err := run(ctx, "docker", "info", "--format", "{{json .Swarm}}")
	if err != nil {
		return SwarmState{}, fmt.Errorf("read the swarm state: %w", err)
	}
	var raw struct {
		NodeID           string
		LocalNodeState   string
		ControlAvailable bool
		Nodes            int
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return SwarmState{}, fmt.Errorf("read the swarm state: %w", err)
	}
	return SwarmState{NodeID: raw.NodeID, State: raw.LocalNodeState, Manager: raw.ControlAvailable, Nodes: raw.Nodes}, nil
}

// SwarmInit makes this engine the manager of a new single-node swarm.
func SwarmInit(ctx context.Context, advertise string) error {
	args := []string{"swarm", "init"}
	if advertise != "" {
		args = append(args, "--advertise-addr", advertise)
	}
	_, err := run(ctx, "docker", args...)
	return err
}

// WorkerJoinCommand is the command a worker runs to join this manager's swarm.
func WorkerJoinCommand(ctx context.Context) (string, error) {
	out, err := run(ctx, "docker", "swarm", "join-token", "worker")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "docker swarm join") {
			return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "\\")), nil
		}
	}
	return strings.TrimSpace(out), nil
}

// Node is one node of the swarm.
type Node struct {
	ID, Hostname, Role, State, Availability string
}

// Nodes lists the swarm's nodes (a manager only).
func Nodes(ctx context.Context) ([]Node, error) {
	out, err := run(ctx, "docker", "node", "ls", "--format", "{{.ID}}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}")
	if err != nil {
		return nil, fmt.Errorf("list the swarm's nodes: %w", err)
	}
	var nodes []Node
	for _, line := range outputLines(out) {
		f := strings.Split(line, "\t")
		if len(f) < 5 {
			continue
		}
		role := "worker"
		if f[4] != "" {
			role = "manager"
		}
		nodes = append(nodes, Node{ID: f[0], Hostname: f[1], State: strings.ToLower(f[2]), Availability: strings.ToLower(f[3]), Role: role})
	}
	return nodes, nil
}

// Stack is one swarm stack: its name and the files deployed as it.
type Stack struct {
	Name  string
	Files []string
}

// Deploy runs `docker stack deploy` with the stack's files, removing the
// services they no longer name. Images are the nodes' own (no registry
// is asked for a digest).
func (s Stack) Deploy(ctx context.Context) error {
	args := []string{"stack", "deploy", "--prune", "--resolve-image", "never"}
	for _, f := range s.Files {
		args = append(args, "-c", f)
	}
	_, err := run(ctx, "docker", append(args, s.Name)...)
	return err
}

// Remove runs `docker stack rm`, waits until the stack's services, their
// containers on this node and its networks are gone, then removes the
// volumes swarm created for it on this node (stack rm keeps them), and
// returns those.
func (s Stack) Remove(ctx context.Context) ([]string, error) {
	if _, err := run(ctx, "docker", "stack", "rm", s.Name); err != nil && !strings.Contains(err.Error(), "Nothing found in stack") {
		return nil, fmt.Errorf("docker stack rm %s: %w", s.Name, err)
	}
	filter := "label=" + stackLabel + "=" + s.Name
	for {
		services, _ := run(ctx, "docker", "service", "ls", "-q", "--filter", filter)
		containers, _ := run(ctx, "docker", "ps", "-aq", "--filter", filter)
		networks, _ := run(ctx, "docker", "network", "ls", "-q", "--filter", filter)
		if strings.TrimSpace(services+containers+networks) == "" {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("docker stack rm %s: still there after waiting (services %q, containers %q, networks %q)",
				s.Name, strings.Fields(services), strings.Fields(containers), strings.Fields(networks))
		case <-time.After(250 * time.Millisecond):
		}
	}
	out, err := run(ctx, "docker", "volume", "ls", "-q", "--filter", filter)
	if err != nil {
		return nil, fmt.Errorf("list the volumes of %s: %w", s.Name, err)
	}
	volumes := strings.Fields(out)
	if len(volumes) > 0 {
		if _, err := run(ctx, "docker", append([]string{"volume", "rm", "--force"}, volumes...)...); err != nil {
			return nil, fmt.Errorf("remove the volumes of %s: %w", s.Name, err)
		}
	}
	return volumes, nil
}

// Service is what SwiftDeploy reads of one swarm service.
type Service struct {
	Name         string
	Replicas     int    // desired
	Running      int    // tasks running its current spec (and healthy, for a service with a healthcheck)
	UpdateState  string // "", updating, paused, completed, rollback_started, rollback_paused, rollback_completed
	UpdateReason string
}

// Services lists the stack's services, and the tasks it counted them from.
func (s Stack) Services(ctx context.Context) ([]Service, []Task, error) {
	out, err := run(ctx, "docker", "service", "ls", "-q", "--filter", "label="+stackLabel+"="+s.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("list the services of %s: %w", s.Name, err)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil, nil
	}
	out, err = run(ctx, "docker", append([]string{"service", "inspect"}, ids...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("inspect the services of %s: %w", s.Name, err)
	}
	var raw []struct {
		Spec struct {
			Name         string
			Mode         struct{ Replicated *struct{ Replicas int } }
			TaskTemplate struct {
				ContainerSpec struct {
					Image string
					Env   []string
				}
			}
		}
		UpdateStatus *struct{ State, Message string }
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, nil, fmt.Errorf("inspect the services of %s: %w", s.Name, err)
	}
	tasks, err := s.Tasks(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	services := make([]Service, 0, len(raw))
	for _, r := range raw {
		spec := r.Spec.TaskTemplate.ContainerSpec
		svc := Service{Name: r.Spec.Name, Running: runningAsSpec(tasks, r.Spec.Name, spec.Image, spec.Env)}
		if r.Spec.Mode.Replicated != nil {
			svc.Replicas = r.Spec.Mode.Replicated.Replicas
		}
		if r.UpdateStatus != nil {
			svc.UpdateState, svc.UpdateReason = r.UpdateStatus.State, r.UpdateStatus.Message
		}
		services = append(services, svc)
	}
	return services, tasks, nil
}

// runningAsSpec counts the running tasks of a service that run its current
// spec (image and environment): right after a deploy, the old tasks still
// run, and only the new ones count.
func runningAsSpec(tasks []Task, service, image string, env []string) int {
	want := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	n := 0
	for _, t := range tasks {
		if t.Service == service && t.DesiredState == "running" && t.State == "running" &&
			t.Image == image && maps.Equal(t.Env, want) {
			n++
		}
	}
	return n
}

// Task is one task of a stack's service, on whichever node it runs.
type Task struct {
	ID, Service, Node, Image string
	DesiredState, State      string
	Error                    string
	Since                    time.Time
	ContainerID              string
	Addrs                    map[string]string // its address on each network, by network name
	Env                      map[string]string
}

// Tasks lists the tasks of the stack's service (its full name), or of
// every service of the stack when service is "".
func (s Stack) Tasks(ctx context.Context, service string) ([]Task, error) {
	args := []string{"stack", "ps", "-q", "--no-trunc", s.Name}
	if service != "" {
		args = []string{"service", "ps", "-q", "--no-trunc", service}
	}
	out, err := run(ctx, "docker", args...)
	if err != nil {
		if strings.Contains(err.Error(), "Nothing found in stack") || strings.Contains(err.Error(), "no such service") {
			return nil, nil
		}
		return nil, fmt.Errorf("list the tasks of %s: %w", s.Name, err)
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	out, err = run(ctx, "docker", append([]string{"inspect", "--type", "task"}, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("inspect the tasks of %s: %w", s.Name, err)
	}
	var raw []struct {
		ID           string
		ServiceID    string
		NodeID       string
		DesiredState string
		Spec         struct {
			ContainerSpec struct {
				Image string
				Env   []string
			}
		}
		Status struct {
			Timestamp       time.Time
			State, Err      string
			ContainerStatus *struct{ ContainerID string }
		}
		NetworksAttachments []struct {
			Network   struct{ Spec struct{ Name string } }
			Addresses []string
		}
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		return nil, fmt.Errorf("inspect the tasks of %s: %w", s.Name, err)
	}
	serviceIDs := make([]string, len(raw))
	for i, r := range raw {
		serviceIDs[i] = r.ServiceID
	}
	names, err := serviceNames(ctx, serviceIDs)
	if err != nil {
		return nil, err
	}
	tasks := make([]Task, 0, len(raw))
	for _, r := range raw {
		t := Task{ID: r.ID, Service: names[r.ServiceID], Node: r.NodeID, Image: r.Spec.ContainerSpec.Image,
			DesiredState: r.DesiredState, State: r.Status.State, Error: r.Status.Err, Since: r.Status.Timestamp, Addrs: map[string]string{}, Env: map[string]string{}}
		for _, kv := range r.Spec.ContainerSpec.Env {
			if k, v, ok := strings.Cut(kv, "="); ok {
				t.Env[k] = v
			}
		}
		if r.Status.ContainerStatus != nil {
			t.ContainerID = r.Status.ContainerStatus.ContainerID
		}
		for _, n := range r.NetworksAttachments {
			if len(n.Addresses) > 0 {
				ip, _, _ := strings.Cut(n.Addresses[0], "/")
				t.Addrs[n.Network.Spec.Name] = ip
			}
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// serviceNames maps the service IDs tasks name to the services' names.
func serviceNames(ctx context.Context, ids []string) (map[string]string, error) {
	out, err := run(ctx, "docker", "service", "ls", "--format", "{{.ID}}\t{{.Name}}")
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	names := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		id, name, ok := strings.Cut(line, "\t")
		if ok {
			names[id] = name
		}
	}
	// service ls prints short IDs; tasks carry full ones.
	full := map[string]string{}
	for _, id := range ids {
		for short, name := range names {
			if strings.HasPrefix(id, short) {
				full[id] = name
			}
		}
	}
	return full, nil
}

// StackContainers lists the containers on this node of the stack's tasks,
// optionally of one service (its full name).
func (s Stack) Containers(ctx context.Context, service string) ([]Container, error) {
	return labelled(ctx, stackLabel, s.Name, swarmServiceLabel, service)
}

// UpdateForce restarts every task of a service (its full name) with the
// same spec, as its update_config says.
func UpdateForce(ctx context.Context, service string) error {
	_, err := run(ctx, "docker", "service", "update", "--force", "--detach", service)
	return err
}

// GatewayAddrs maps the containers on this node's docker_gwbridge, the
// bridge swarm attaches every task to, by sandbox ID, to their address
// there: this node reaches a task's container on it.
func GatewayAddrs(ctx context.Context, containers []Container) (map[string]string, error) {
	out, err := run(ctx, "docker", "network", "inspect", "docker_gwbridge", "--format", "{{json .Containers}}")
	if err != nil {
		return nil, fmt.Errorf("inspect docker_gwbridge: %w", err)
	}
	var endpoints map[string]struct{ Name, IPv4Address string }
	if err := json.Unmarshal([]byte(out), &endpoints); err != nil {
		return nil, fmt.Errorf("inspect docker_gwbridge: %w", err)
	}
	byName := map[string]string{}
	for _, e := range endpoints {
		ip, _, _ := strings.Cut(e.IPv4Address, "/")
		byName[e.Name] = ip
	}
	addrs := map[string]string{}
	for _, c := range containers {
		if len(c.SandboxID) >= 12 {
			if ip := byName["gateway_"+c.SandboxID[:12]]; ip != "" {
				addrs[c.ID] = ip
			}
		}
	}
	return addrs, nil
}

// RemoveVolume removes a named volume; one that is not there is fine, and
// so is one a container still uses (a stack of another runtime with the
// same volume name), which is left for its owner.
func RemoveVolume(ctx context.Context, name string) (bool, error) {
	if _, err := run(ctx, "docker", "volume", "inspect", name); err != nil {
		return false, nil
	}
	users, err := run(ctx, "docker", "ps", "-aq", "--filter", "volume="+name)
	if err != nil {
		return false, fmt.Errorf("list the containers using the volume %s: %w", name, err)
	}
	if strings.TrimSpace(users) != "" {
		return false, nil
	}
	if _, err := run(ctx, "docker", "volume", "rm", "--force", name); err != nil {
		return false, fmt.Errorf("remove the volume %s: %w", name, err)
	}
	return true, nil
}

// RemoveService removes one of the stack's services (its full name) and
// waits until its containers on this node are gone: they drain for the
// service's stop grace period first.
func (s Stack) RemoveService(ctx context.Context, service string) error {
	if _, err := run(ctx, "docker", "service", "rm", service); err != nil && !strings.Contains(err.Error(), "not found") {
		return fmt.Errorf("remove the service %s: %w", service, err)
	}
	for {
		out, err := run(ctx, "docker", "ps", "-aq", "--filter", "label="+swarmServiceLabel+"="+service)
		if err == nil && strings.TrimSpace(out) == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the service %s is removed, but its containers are still here: %w", service, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ServiceLogs returns the last n lines a swarm task (or service) printed,
// on whichever node it runs.
func ServiceLogs(ctx context.Context, id string, n int) (string, error) {
	return run(ctx, "docker", "service", "logs", "--raw", "--tail", strconv.Itoa(n), id)
}
