package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// Swarm runs a stack as a Docker Swarm stack, with this engine as a manager:
// the app's tasks on any node, nginx and the resolver on a manager (they
// read folders of this host).
type Swarm struct {
	Stack docker.Stack
	// Project is the folder and the compose project the generated files
	// belong to (for the volume SwiftDeploy prepares).
	Project docker.Project
	// Network is the stack's overlay network; tasks' addresses there are
	// what nginx uses.
	Network string
	// LogVolume is the named volume nginx and the app write logs to, and
	// NginxImage an image with chmod to prepare it with.
	LogVolume, NginxImage string
	// AdminPort is nginx's admin listener inside its container.
	AdminPort int
	// DeployedFile records a digest of the files last deployed.
	DeployedFile string
	// Images names each role's image, which every node that may run it
	// must be able to get.
	Images map[Role]string
	// Reads names, by role, files a role's instances read from this host
	// (nginx's configuration): a role runs as generated only when they are
	// unchanged too, and nginx reloads them after a deploy instead of
	// restarting.
	Reads map[Role][]string
}

var _ Runtime = Swarm{}
var _ Roller = Swarm{}
var _ Checker = Swarm{}

// CheckName names Ready's check in validate's list.
func (s Swarm) CheckName() string {
	return "swarm: this engine is a manager and every node can get the images"
}

// Ready checks what the stack needs of this engine on swarm: it is a
// manager of an active swarm, and every node that may run a task can get
// its image. An image built or loaded here exists on this node alone;
// another node can only pull one that a registry holds, or one loaded
// there by hand, which no node reports to a manager.
func (s Swarm) Ready(ctx context.Context) (string, error) {
	st, err := docker.Swarm(ctx)
	if err != nil {
		return "", err
	}
	if st.State != "active" || !st.Manager {
		return "", fmt.Errorf("this engine is not a swarm manager (swarm state %q): run `setup`, which makes it one", st.State)
	}
	nodes, err := docker.Nodes(ctx)
	if err != nil {
		return "", err
	}
	var others, otherManagers []string
	for _, n := range nodes {
		if n.ID == st.NodeID || n.Availability != "active" {
			continue
		}
		others = append(others, n.Hostname)
		if n.Role == "manager" {
			otherManagers = append(otherManagers, n.Hostname)
		}
	}
	if len(others) == 0 {
		return "a single-node swarm: this engine is its manager, and its images are here", nil
	}
	// The app runs on any node; nginx and the resolver on managers.
	need := map[string][]string{s.Images[App]: others}
	if len(otherManagers) > 0 {
		need[s.Images[Nginx]], need[s.Images[Resolver]] = otherManagers, otherManagers
	}
	var problems []string
	for image, on := range need {
		pullable, err := docker.FromRegistry(ctx, image)
		if err != nil {
			return "", fmt.Errorf("image %s: %w", image, err)
		}
		if !pullable {
			problems = append(problems, fmt.Sprintf("%s exists only on this node (it came from no registry), so %s cannot get it", image, strings.Join(on, ", ")))
		}
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("%w: %s: push the image to a registry every node reaches (Debian packages one: docker-registry) and name it so in the manifest, load it on each of those nodes (docker save IMAGE | ssh NODE docker load), or drain them (docker node update --availability drain NODE)", ErrImagesOnThisNode, strings.Join(problems, "; "))
	}
	return fmt.Sprintf("a swarm of %d nodes; every image comes from a registry", len(nodes)), nil
}

// service is the full name of a role's swarm service.
func (s Swarm) service(role Role) string { return s.Stack.Name + "_" + string(role) }

// convergeWait bounds how long Up and Roll wait for the stack to converge
// when the caller's context gives no deadline.
const convergeWait = 5 * time.Minute

func (s Swarm) Up(ctx context.Context) error {
	if s.LogVolume != "" {
		if err := s.Project.PrepareVolume(ctx, "logs", s.LogVolume, s.NginxImage); err != nil {
			return err
		}
	}
	if err := s.Stack.Deploy(ctx); err != nil {
		return err
	}
	if err := s.converge(ctx, ""); err != nil {
		return err
	}
	// nginx's service spec names no configuration content: a changed
	// nginx.conf is read by a graceful reload, not a new task.
	if err := reloadNginx(ctx, s); err != nil {
		return err
	}
	return s.recordDeployed()
}

// Roll deploys the generated configuration and waits until swarm has
// replaced every task of role, one at a time, each new task ready before
// an old one stops (the stack file's update_config). A failed update is
// rolled back by swarm, and reported.
func (s Swarm) Roll(ctx context.Context, role Role) error {
	if err := s.Stack.Deploy(ctx); err != nil {
		return err
	}
	if err := s.converge(ctx, s.service(role)); err != nil {
		return err
	}
	return s.recordDeployed()
}

// Settle waits until swarm has finished or undone any update of role.
func (s Swarm) Settle(ctx context.Context, role Role) error {
	if err := s.converge(ctx, s.service(role)); err != nil && !errors.Is(err, ErrRolledBack) {
		return err
	}
	return nil
}

// converge waits until every service of the stack (or the one named) runs
// its desired number of tasks and no update is under way; an update swarm
// rolled back is an error.
func (s Swarm) converge(ctx context.Context, only string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, convergeWait)
		defer cancel()
	}
	last := "no service yet"
	for {
		services, tasks, err := s.Stack.Services(ctx)
		if err == nil {
			done, why := converged(services, only)
			if done {
				return nil
			}
			if rest, ok := strings.CutPrefix(why, ErrRolledBack.Error()); ok {
				return fmt.Errorf("%w%s", ErrRolledBack, rest)
			}
			last = why
			if only != "" {
				tasks = slices.DeleteFunc(tasks, func(t docker.Task) bool { return t.Service != only })
			}
			if problem := missingImage(tasks); problem != "" {
				return errors.New(problem)
			}
			if problem := taskProblem(tasks); problem != "" {
				last += "; " + problem
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the swarm stack %s did not converge: %s", s.Stack.Name, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// missingImage names a task that a node cannot start for want of its image:
// swarm would retry it for ever.
func missingImage(tasks []docker.Task) string {
	for _, t := range tasks {
		if t.DesiredState == "running" && strings.Contains(t.Error, "No such image") {
			return fmt.Sprintf("node %s cannot run %s: %s (push the image to a registry every node reaches, or load it on that node)", t.Node, t.Service, t.Error)
		}
	}
	return ""
}

// taskProblem is the latest error a task of the stack reported, "" when none.
func taskProblem(tasks []docker.Task) string {
	var latest docker.Task
	for _, t := range tasks {
		if t.Error != "" && t.Since.After(latest.Since) {
			latest = t
		}
	}
	if latest.Error == "" {
		return ""
	}
	return fmt.Sprintf("a task of %s on node %s: %s: %s", latest.Service, latest.Node, latest.State, latest.Error)
}

// converged says whether services run as desired, or what they wait for.
func converged(services []docker.Service, only string) (bool, string) {
	if len(services) == 0 {
		return false, "no service yet"
	}
	if only != "" && !slices.ContainsFunc(services, func(svc docker.Service) bool { return svc.Name == only }) {
		return false, only + " is not deployed yet"
	}
	for _, svc := range services {
		if only != "" && svc.Name != only {
			continue
		}
		switch svc.UpdateState {
		case "rollback_completed", "rollback_paused", "paused":
			return false, fmt.Sprintf("rolled back: swarm undid the update of %s (%s): %s", svc.Name, svc.UpdateState, svc.UpdateReason)
		case "updating", "rollback_started":
			return false, fmt.Sprintf("%s is %s", svc.Name, svc.UpdateState)
		}
		if svc.Running != svc.Replicas {
			return false, fmt.Sprintf("%s runs %d of %d tasks as its service says", svc.Name, svc.Running, svc.Replicas)
		}
	}
	return true, ""
}

// digests names, for each service, the content of its definition in the
// files deployed, and for each role in Reads, under "ROLE reads", the
// content of the files it reads: a role whose digests are unchanged runs as
// the files say.
func (s Swarm) digests() (map[string]string, error) {
	sums := map[string]hash.Hash{}
	add := func(key string, data []byte) {
		if sums[key] == nil {
			sums[key] = sha256.New()
		}
		sums[key].Write(data)
	}
	for _, f := range s.Stack.Files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Services map[string]yaml.Node `yaml:"services"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Base(f), err)
		}
		for name, node := range doc.Services {
			out, err := yaml.Marshal(&node)
			if err != nil {
				return nil, err
			}
			add(name, out)
		}
	}
	for role, files := range s.Reads {
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			add(readsKey(role), data)
		}
	}
	digests := make(map[string]string, len(sums))
	for name, h := range sums {
		digests[name] = hex.EncodeToString(h.Sum(nil))
	}
	return digests, nil
}

func readsKey(role Role) string { return string(role) + " reads" }

// recordDeployed notes that every service runs as the files say, and
// every role in Reads has read its files.
func (s Swarm) recordDeployed() error {
	d, err := s.digests()
	if err != nil {
		return err
	}
	return s.writeRecord(d)
}

// recordRead notes that role's instances have read their files again (a
// reload), its service left as it was.
func (s Swarm) recordRead(role Role) error {
	want, err := s.digests()
	if err != nil {
		return err
	}
	got := s.record()
	if got == nil {
		return nil // nothing deployed is known yet
	}
	got[readsKey(role)] = want[readsKey(role)]
	return s.writeRecord(got)
}

func (s Swarm) writeRecord(d map[string]string) error {
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return atomicfile.Write(s.DeployedFile, append(data, '\n'), 0o644)
}

// record reads what recordDeployed wrote; nil when there is none.
func (s Swarm) record() map[string]string {
	data, err := os.ReadFile(s.DeployedFile)
	if err != nil {
		return nil
	}
	var got map[string]string
	if json.Unmarshal(data, &got) != nil {
		return nil
	}
	return got
}

// deployedCurrent says whether role (every role, for "") was deployed last
// as the files now say.
func (s Swarm) deployedCurrent(role Role) bool {
	want, err := s.digests()
	got := s.record()
	if err != nil || got == nil {
		return false
	}
	if role == "" {
		return maps.Equal(want, got)
	}
	for _, key := range []string{string(role), readsKey(role)} {
		if want[key] != got[key] {
			return false
		}
	}
	return want[string(role)] != ""
}

func (s Swarm) UpToDate(ctx context.Context) (bool, error) {
	if !s.deployedCurrent("") {
		return false, nil
	}
	services, _, err := s.Stack.Services(ctx)
	if err != nil {
		return false, err
	}
	want, err := s.digests()
	if err != nil {
		return false, err
	}
	named := 0
	for key := range want {
		if !strings.HasSuffix(key, " reads") {
			named++
		}
	}
	done, _ := converged(services, "")
	return done && len(services) == named, nil
}

func (s Swarm) Current(ctx context.Context, role Role) (bool, error) {
	if !s.deployedCurrent(role) {
		return false, nil
	}
	services, _, err := s.Stack.Services(ctx)
	if err != nil {
		return false, err
	}
	for _, svc := range services {
		if svc.Name == s.service(role) {
			done, _ := converged(services, svc.Name)
			return done, nil
		}
	}
	return false, nil
}

// Check loads the stack file as Compose reads it: the same format, without
// anything running.
func (s Swarm) Check(ctx context.Context) error { return s.Project.Check(ctx) }

// Instances lists the role's tasks on every node: those on this node as
// their containers say, the others as the swarm's task list says (a task
// there shows its state, not its health). The containers of tasks swarm
// has replaced are left out: a role's instances are those it runs now.
func (s Swarm) Instances(ctx context.Context, role Role) ([]Instance, error) {
	service := ""
	if role != "" {
		service = s.service(role)
	}
	tasks, err := s.Stack.Tasks(ctx, service)
	if err != nil {
		return nil, err
	}
	current := map[string]bool{}
	for _, t := range tasks {
		if t.DesiredState == "running" && t.ContainerID != "" {
			current[t.ContainerID] = true
		}
	}
	all, err := s.Stack.Containers(ctx, service)
	if err != nil {
		return nil, err
	}
	var containers []docker.Container
	for _, ct := range all {
		if current[ct.ID] || ct.Running() {
			containers = append(containers, ct)
		}
	}
	instances := s.instances(ctx, containers)
	nodes := map[string]string{}
	if list, err := docker.Nodes(ctx); err == nil {
		for _, n := range list {
			nodes[n.ID] = n.Hostname
		}
	}
	local := map[string]bool{}
	for _, ct := range all {
		local[ct.ID] = true
	}
	for _, t := range tasks {
		if local[t.ContainerID] || t.DesiredState != "running" {
			continue
		}
		instances = append(instances, Instance{
			ID: t.ID, Name: t.Service + "." + t.ID[:min(12, len(t.ID))], Role: Role(strings.TrimPrefix(t.Service, s.Stack.Name+"_")),
			Image: t.Image, State: t.State, StartedAt: t.Since, Addr: t.Addrs[s.Network], Node: t.Node,
			Mode: t.Env["MODE"], Version: t.Env["APP_VERSION"],
		})
	}
	for i := range instances {
		if name := nodes[instances[i].Node]; name != "" {
			instances[i].Node = name
		}
	}
	return instances, nil
}

// Instance reads one instance again: its container on this node, or its
// task on another.
func (s Swarm) Instance(ctx context.Context, id string) (Instance, error) {
	got, err := docker.Inspect(ctx, id)
	if err != nil {
		all, lerr := s.Instances(ctx, "")
		if lerr == nil {
			for _, i := range all {
				if i.ID == id {
					return i, nil
				}
			}
		}
		return Instance{}, err
	}
	if len(got) != 1 {
		return Instance{}, fmt.Errorf("instance %s: found %d containers", id, len(got))
	}
	return s.instances(ctx, got)[0], nil
}

// instances describes containers of the stack's tasks on this node, with
// where this node reaches each.
func (s Swarm) instances(ctx context.Context, containers []docker.Container) []Instance {
	gateways, _ := docker.GatewayAddrs(ctx, containers)
	out := make([]Instance, len(containers))
	for i, ct := range containers {
		out[i] = Instance{
			ID: ct.ID, Name: ct.Name, Role: Role(strings.TrimPrefix(ct.SwarmService, s.Stack.Name+"_")), Image: ct.Image,
			State: ct.State, Health: ct.Health, ExitCode: ct.ExitCode, StartedAt: ct.StartedAt, Addr: ct.IPs[s.Network],
			Mode: ct.Env["MODE"], Version: ct.Env["APP_VERSION"], Published: ct.Published, Node: ct.SwarmNode,
			Reach: gateways[ct.ID],
		}
	}
	return out
}

// StartBeside starts the canary's service, which the generated stack file
// names beside the app's during a release, and returns its new tasks. The
// app's own tasks cannot start beside the others with another
// configuration (a service runs one spec): swarm rolls them instead (Roll).
func (s Swarm) StartBeside(ctx context.Context, role Role) ([]Instance, error) {
	if role != Canary {
		return nil, fmt.Errorf("swarm: a %s task cannot start beside the others with another configuration; swarm rolls the service instead", role)
	}
	before, err := s.Instances(ctx, role)
	if err != nil {
		return nil, err
	}
	deployErr := s.Stack.Deploy(ctx)
	if deployErr == nil {
		deployErr = s.converge(ctx, s.service(role))
	}
	after, err := s.Instances(context.WithoutCancel(ctx), role)
	if err != nil {
		return nil, err
	}
	var started []Instance
	for _, i := range after {
		if !slices.ContainsFunc(before, func(b Instance) bool { return b.ID == i.ID }) {
			started = append(started, i)
		}
	}
	if deployErr != nil {
		return started, fmt.Errorf("start the %s: %w", role, deployErr)
	}
	return started, s.recordDeployed()
}

// Recreate makes swarm replace every task of role, as its update_config says.
func (s Swarm) Recreate(ctx context.Context, role Role) error {
	if err := docker.UpdateForce(ctx, s.service(role)); err != nil {
		return err
	}
	return s.converge(ctx, s.service(role))
}

func (s Swarm) Reroute(ctx context.Context) error {
	if err := reloadNginx(ctx, s); err != nil {
		return err
	}
	return s.recordRead(Nginx)
}

// Retire removes the canary's service when its tasks are among ids (its
// tasks drain for the service's stop grace period), and stops the other
// instances, which swarm replaces as their service's restart policy says.
func (s Swarm) Retire(ctx context.Context, grace time.Duration, ids ...string) error {
	canaries, err := s.Instances(ctx, Canary)
	if err != nil {
		return err
	}
	var others []string
	removeCanary := false
	for _, id := range ids {
		if slices.ContainsFunc(canaries, func(c Instance) bool { return c.ID == id }) {
			removeCanary = true
		} else {
			others = append(others, id)
		}
	}
	if removeCanary {
		if err := s.Stack.RemoveService(ctx, s.service(Canary)); err != nil {
			return err
		}
	}
	if len(others) == 0 {
		return nil
	}
	return docker.Stop(ctx, grace, others...)
}

func (s Swarm) Remove(ctx context.Context, ids ...string) error {
	return docker.Remove(ctx, ids...)
}

func (s Swarm) RouterLog(ctx context.Context, since time.Time) (string, error) {
	return nginxLogs(ctx, s, since)
}

// AdminAddr is nginx's admin listener on the address of its container on
// this node's docker_gwbridge: swarm publishes no port on loopback, and the
// bridge is this node's alone.
func (s Swarm) AdminAddr(ctx context.Context) (string, error) {
	nginx, err := s.Instances(ctx, Nginx)
	if err != nil {
		return "", err
	}
	for _, n := range nginx {
		if n.Running() && n.Reach != "" {
			return fmt.Sprintf("%s:%d", n.Reach, s.AdminPort), nil
		}
	}
	return "", fmt.Errorf("no nginx task of the stack runs on this node (is the stack deployed?)")
}

// Logs reads a container's last lines on this node, or a task's on another
// through swarm (`docker service logs` takes a task ID too).
func (s Swarm) Logs(ctx context.Context, id string, n int) (string, error) {
	out, err := docker.Logs(ctx, id, n)
	if err != nil {
		if task, terr := docker.ServiceLogs(ctx, id, n); terr == nil {
			return task, nil
		}
	}
	return out, err
}

// Down removes the stack, waits until its network is gone, then removes the
// log volume, which `docker stack rm` keeps.
func (s Swarm) Down(ctx context.Context) ([]string, error) {
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	removed, err := s.Stack.Remove(waitCtx)
	if err != nil {
		return nil, err
	}
	if s.LogVolume != "" {
		gone, err := docker.RemoveVolume(ctx, s.LogVolume)
		if err != nil {
			return nil, err
		}
		if gone {
			removed = append(removed, s.LogVolume)
		}
	}
	os.Remove(s.DeployedFile)
	return removed, nil
}

func (s Swarm) Files() []string { return s.Stack.Files }
