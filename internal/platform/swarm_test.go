package platform

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// swarmIn is the swarm runtime of the stack "sd" in a folder of the test's
// own, whose stack file names the app and nginx.
func swarmIn(t *testing.T) Swarm {
	dir := t.TempDir()
	stack, conf := filepath.Join(dir, "docker-compose.yml"), filepath.Join(dir, "nginx.conf")
	write(t, stack, "services:\n  app:\n    image: app:2\n  nginx:\n    image: nginx:1.27\n")
	write(t, conf, "steady")
	project := docker.Project{Name: "sd", Dir: dir, File: "docker-compose.yml"}
	return Swarm{Stack: docker.Stack{Name: "sd", Files: []string{stack}}, Project: project, Network: "sd-net",
		LogVolume: "sd-logs", NginxImage: "nginx:1.27", AdminPort: 9180, DeployedFile: filepath.Join(dir, "deployed"),
		Images: map[Role]string{App: "app:2", Nginx: "nginx:1.27", Resolver: "swiftdeploy-resolver:latest"},
		Reads:  map[Role][]string{Nginx: {conf}}}
}

// stackRuns makes the engine's swarm run services with tasks, as each poll
// of a convergence reads them.
func stackRuns(e engine, services []string, tasks ...string) {
	e.services(services...)
	e.tasks("stack ps -q --no-trunc sd", tasks...)
}

// The stack as deployed and converged: the app's two tasks (one on each
// node) and nginx's on this one.
var (
	convergedServices = []string{"swarm/services/app", "swarm/services/nginx"}
	convergedTasks    = []string{"swarm/tasks/app", "swarm/tasks/app-worker", "swarm/tasks/nginx"}
)

func TestASwarmStackHasConvergedWhenEveryServiceRunsItsTasksAndNoUpdateIsUnderWay(t *testing.T) {
	app := func(running int, state string) docker.Service {
		return docker.Service{Name: "s_app", Replicas: 2, Running: running, UpdateState: state, UpdateReason: "task unhealthy"}
	}
	nginx := docker.Service{Name: "s_nginx", Replicas: 1, Running: 1}
	for _, c := range []struct {
		name     string
		services []docker.Service
		only     string
		done     bool
		why      string
	}{
		{"nothing deployed yet", nil, "", false, "no service yet"},
		{"all tasks running", []docker.Service{app(2, ""), nginx}, "", true, ""},
		{"an update completed", []docker.Service{app(2, "completed"), nginx}, "", true, ""},
		{"a task still starting", []docker.Service{app(1, ""), nginx}, "", false, "s_app runs 1 of 2 tasks"},
		{"an update under way", []docker.Service{app(2, "updating"), nginx}, "", false, "s_app is updating"},
		{"an update swarm rolled back", []docker.Service{app(2, "rollback_completed"), nginx}, "", false, "rolled back: swarm undid the update of s_app (rollback_completed): task unhealthy"},
		{"an update swarm paused", []docker.Service{app(2, "paused"), nginx}, "", false, "rolled back: swarm undid the update of s_app (paused)"},
		{"another service is not asked about", []docker.Service{app(2, ""), {Name: "s_nginx", Replicas: 1}}, "s_app", true, ""},
		{"the service asked about is not deployed yet", []docker.Service{nginx}, "s_canary", false, "s_canary is not deployed yet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			done, why := converged(c.services, c.only)
			if done != c.done || !strings.HasPrefix(why, c.why) {
				t.Errorf("converged = %v, %q; want %v, %q", done, why, c.done, c.why)
			}
		})
	}
}

func TestTheTaskProblemReportedIsTheLatestErrorOfAnyTask(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2025, 5, 1, 10, 0, s, 0, time.UTC) }
	tasks := []docker.Task{
		{Service: "sd_app", Node: "n1", State: "failed", Error: "task: non-zero exit (1)", Since: at(1)},
		{Service: "sd_app", Node: "n2", State: "rejected", Error: "no suitable node", Since: at(3)},
		{Service: "sd_nginx", Node: "n1", State: "running", Since: at(5)},
	}
	if got, want := taskProblem(tasks), "a task of sd_app on node n2: rejected: no suitable node"; got != want {
		t.Errorf("taskProblem = %q, want %q", got, want)
	}
	if got := taskProblem(tasks[2:]); got != "" {
		t.Errorf("taskProblem of tasks without errors = %q, want none", got)
	}
}

// Swarm retries a task whose node lacks its image for ever: waiting on is
// pointless, and the operator needs to know which node.
func TestATaskThatANodeCannotStartForWantOfItsImageIsNamed(t *testing.T) {
	tasks := []docker.Task{
		{Service: "sd_app", Node: "n2", DesiredState: "shutdown", Error: "No such image: app:1"},
		{Service: "sd_app", Node: "n3", DesiredState: "running", Error: "No such image: app:2"},
	}
	want := "node n3 cannot run sd_app: No such image: app:2 (push the image to a registry every node reaches, or load it on that node)"
	if got := missingImage(tasks); got != want {
		t.Errorf("missingImage = %q, want %q", got, want)
	}
	if got := missingImage(tasks[:1]); got != "" {
		t.Errorf("missingImage of a task swarm no longer runs = %q, want none", got)
	}
}

func TestSwarmIsReadyWhenThisEngineManagesItAndEveryNodeCanGetTheImages(t *testing.T) {
	const (
		single   = managerNode + "\tmanager-1\tReady\tActive\tLeader\n"
		drained  = single + workerNode + "\tworker-1\tReady\tDrain\t\n"
		managers = single + "n0manager200000000000000c\tmanager-2\tReady\tActive\tReachable\n"
	)
	for _, c := range []struct {
		name     string
		info     string
		nodes    string
		local    []string // images that came from no registry
		note     string
		problem  string
		notAsked []string // images whose origin does not matter
	}{
		{name: "in no swarm", info: `{"LocalNodeState":"inactive"}`,
			problem: "this engine is not a swarm manager (swarm state \"inactive\"): run `setup`, which makes it one"},
		{name: "a worker", info: `{"NodeID":"` + workerNode + `","LocalNodeState":"active","ControlAvailable":false}`,
			problem: "this engine is not a swarm manager (swarm state \"active\"): run `setup`, which makes it one"},
		{name: "a single node", nodes: single, local: []string{"app:2", "nginx:1.27"},
			note: "a single-node swarm: this engine is its manager, and its images are here"},
		{name: "a drained node runs nothing", nodes: drained, local: []string{"app:2"},
			note: "a single-node swarm: this engine is its manager, and its images are here"},
		{name: "a worker node gets every image from a registry", nodes: twoNodes,
			note: "a swarm of 2 nodes; every image comes from a registry", notAsked: []string{"nginx:1.27"}},
		{name: "a worker node cannot get the app's image", nodes: twoNodes, local: []string{"app:2", "nginx:1.27"},
			problem:  "images on this node only: app:2 exists only on this node (it came from no registry), so worker-1 cannot get it: push the image",
			notAsked: []string{"nginx:1.27", "swiftdeploy-resolver:latest"}},
		{name: "another manager cannot get nginx's image", nodes: managers, local: []string{"nginx:1.27"},
			problem: "images on this node only: nginx:1.27 exists only on this node (it came from no registry), so manager-2 cannot get it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := swarmEngine(t)
			if c.info != "" {
				e.On("info --format {{json .Swarm}}", c.info)
			}
			e.On("node ls --format *", c.nodes)
			for _, image := range c.local {
				e.On("image inspect --format {{len .RepoDigests}} "+image, "0\n")
			}
			e.On("image inspect --format {{len .RepoDigests}} *", "1\n")
			note, err := swarmIn(t).Ready(within(t))
			if c.problem != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.problem) {
					t.Errorf("Ready() = %q, %v; want the problem %q", note, err, c.problem)
				}
				if strings.HasPrefix(c.problem, "images on this node only") && !errors.Is(err, ErrImagesOnThisNode) {
					t.Errorf("Ready() error = %v, want it to wrap ErrImagesOnThisNode", err)
				}
			} else if err != nil || note != c.note {
				t.Errorf("Ready() = %q, %v; want %q", note, err, c.note)
			}
			for _, image := range c.notAsked {
				if n := e.Count("image inspect --format {{len .RepoDigests}} " + image); n != 0 {
					t.Errorf("asked where %s came from, which no other node needs", image)
				}
			}
		})
	}
}

// Instances on this node come from their containers (with their health and
// the gateway address this node reaches them on); those on other nodes from
// the swarm's tasks. A container of a task swarm replaced is not an instance.
func TestSwarmInstancesAreTheRolesTasksOnEveryNodeWithWhereThisNodeReachesThem(t *testing.T) {
	e := swarmEngine(t)
	e.tasks("service ps -q --no-trunc sd_app", "swarm/tasks/app", "swarm/tasks/app-worker", "swarm/tasks/app-old")
	e.containers(swarmRole(App), "swarm/containers/app", "swarm/containers/app-old")
	e.inspect("container", "swarm/containers/app")
	got, err := swarmIn(t).Instances(within(t), App)
	if err != nil {
		t.Fatal(err)
	}
	want := []Instance{
		{ID: "d0app1", Name: "sd_app.1.t0app1000000000000000000a", Role: App, Image: "app:2", State: "running", Health: "healthy",
			StartedAt: time.Date(2025, 5, 1, 10, 0, 0, 5e8, time.UTC), Addr: "10.0.1.5", Published: map[string]string{},
			Mode: "stable", Version: "2.0.0", Node: "manager-1", Reach: "172.18.0.3"},
		{ID: "t0app2000000000000000000b", Name: "sd_app.t0app2000000", Role: App, Image: "app:2", State: "running",
			StartedAt: time.Date(2025, 5, 1, 10, 0, 2, 0, time.UTC), Addr: "10.0.1.7", Mode: "stable", Version: "2.0.0", Node: "worker-1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Instances(app) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestASwarmInstanceOnAnotherNodeIsReadAgainFromTheTaskList(t *testing.T) {
	e := swarmEngine(t)
	e.Fail("inspect --type container t0app2000000000000000000b", "Error: No such container: t0app2000000000000000000b", 1)
	e.tasks("stack ps -q --no-trunc sd", convergedTasks...)
	e.containers(swarmAll, "swarm/containers/app", "swarm/containers/nginx")
	rt := swarmIn(t)
	got, err := rt.Instance(within(t), "t0app2000000000000000000b")
	if err != nil || got.Node != "worker-1" || got.Addr != "10.0.1.7" {
		t.Errorf("Instance(remote task) = %+v, %v; want the task on worker-1", got, err)
	}
	_, err = rt.Instance(within(t), "gone")
	if err == nil || !strings.Contains(err.Error(), "no answer for: inspect --type container gone") {
		t.Errorf("Instance(gone) error = %v, want the failed inspection", err)
	}
}

func TestSwarmsAdminAddressIsNginxsGatewayAddressOnThisNode(t *testing.T) {
	e := swarmEngine(t)
	e.tasks("service ps -q --no-trunc sd_nginx", "swarm/tasks/nginx")
	e.containers(swarmRole(Nginx), "swarm/containers/nginx")
	got, err := swarmIn(t).AdminAddr(within(t))
	if err != nil || got != "172.18.0.4:9180" {
		t.Errorf("AdminAddr() = %q, %v; want nginx's docker_gwbridge address and its admin port", got, err)
	}
}

func TestWithoutAnNginxTaskOnThisNodeSwarmHasNoAdminAddress(t *testing.T) {
	e := swarmEngine(t)
	e.tasks("service ps -q --no-trunc sd_nginx")
	e.containers(swarmRole(Nginx))
	_, err := swarmIn(t).AdminAddr(within(t))
	if err == nil || err.Error() != "no nginx task of the stack runs on this node (is the stack deployed?)" {
		t.Errorf("AdminAddr() error = %v", err)
	}
}

// canaryRuns makes the canary's service run one task, on this node.
func canaryRuns(e engine) {
	e.tasks("service ps -q --no-trunc sd_canary", "swarm/tasks/canary")
	e.containers(swarmRole(Canary), "swarm/containers/canary")
}

func TestSwarmRetiresTheCanaryByRemovingItsServiceAndStopsTheOthers(t *testing.T) {
	e := swarmEngine(t)
	canaryRuns(e)
	e.On("service rm sd_canary").On("ps -aq --filter label=com.docker.swarm.service.name=sd_canary").On("stop *")
	if err := swarmIn(t).Retire(within(t), 15*time.Second, "d0can", "d0app1"); err != nil {
		t.Fatal(err)
	}
	if e.Count("service rm sd_canary") != 1 || e.Count("stop --time 15 d0app1") != 1 || e.Count("stop --time 15 d0can") != 0 {
		t.Errorf("calls = %q, want the canary's service removed and the app's task stopped", e.Calls())
	}
}

func TestSwarmRetiringTheCanaryAloneStopsNothingElse(t *testing.T) {
	e := swarmEngine(t)
	canaryRuns(e)
	e.On("service rm sd_canary", "sd_canary\n")
	// Its container drains for the stop grace period, then goes.
	e.On("ps -aq --filter label=com.docker.swarm.service.name=sd_canary", "d0can\n", "")
	if err := swarmIn(t).Retire(within(t), 15*time.Second, "d0can"); err != nil {
		t.Fatal(err)
	}
	if e.Count("stop ") != 0 || e.Count("ps -aq --filter label=com.docker.swarm.service.name=sd_canary") != 2 {
		t.Errorf("calls = %q, want no stop, and a wait until the canary's container is gone", e.Calls())
	}
}

func TestSwarmStartsNoAppTaskBesideTheOthersBecauseAServiceRunsOneSpec(t *testing.T) {
	newEngine(t)
	_, err := swarmIn(t).StartBeside(within(t), App)
	if err == nil || err.Error() != "swarm: a app task cannot start beside the others with another configuration; swarm rolls the service instead" {
		t.Errorf("StartBeside(app) error = %v", err)
	}
}

func TestSwarmStartsTheCanaryByDeployingItsServiceAndReturnsItsNewTask(t *testing.T) {
	e := swarmEngine(t)
	e.inspect("task", "swarm/tasks/canary")
	e.inspect("container", "swarm/containers/canary")
	e.On("service ps -q --no-trunc sd_canary", "", "t0can0000000000000000000a\n")
	e.On("ps -aq --no-trunc --filter "+swarmRole(Canary), "", "d0can\n")
	e.On("stack deploy --prune --resolve-image never -c *")
	stackRuns(e, append(convergedServices, "swarm/services/canary"), append(convergedTasks, "swarm/tasks/canary")...)
	rt := swarmIn(t)
	write(t, rt.Stack.Files[0], "services:\n  app:\n    image: app:2\n  canary:\n    image: app:3\n  nginx:\n    image: nginx:1.27\n")
	started, err := rt.StartBeside(within(t), Canary)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 || started[0].ID != "d0can" || started[0].Reach != "172.18.0.9" {
		t.Errorf("StartBeside(canary) = %+v, want the canary's task on this node", started)
	}
	if !rt.deployedCurrent(Canary) {
		t.Error("the canary's service is not recorded as deployed")
	}
}

func TestSwarmReadsATaskOnAnotherNodesLogsThroughSwarm(t *testing.T) {
	e := swarmEngine(t)
	e.Fail("logs --tail 10 t0app2000000000000000000b", "Error: No such container: t0app2000000000000000000b", 1)
	e.On("service logs --raw --tail 10 t0app2000000000000000000b", "listening on :3000\n")
	e.On("logs --tail 10 d0app1", "here\n")
	rt := swarmIn(t)
	if got, err := rt.Logs(within(t), "t0app2000000000000000000b", 10); err != nil || got != "listening on :3000\n" {
		t.Errorf("Logs(remote task) = %q, %v", got, err)
	}
	if got, err := rt.Logs(within(t), "d0app1", 10); err != nil || got != "here\n" || e.Count("service logs") != 1 {
		t.Errorf("Logs(local container) = %q, %v; want the container's own lines, without asking swarm", got, err)
	}
}

func TestWhenNeitherTheContainerNorSwarmHasLogsTheContainersErrorIsReported(t *testing.T) {
	e := swarmEngine(t)
	e.Fail("logs *", "Error: No such container: x", 1)
	e.Fail("service logs *", "no such task or service: x", 1)
	if _, err := swarmIn(t).Logs(within(t), "x", 10); err == nil || !strings.Contains(err.Error(), "No such container: x") {
		t.Errorf("Logs() error = %v, want the container's", err)
	}
}

func TestSwarmDownRemovesTheStackThenItsLogVolumeAndForgetsWhatWasDeployed(t *testing.T) {
	e := swarmEngine(t)
	rt := swarmIn(t)
	write(t, rt.DeployedFile, "{}\n")
	e.On("stack rm sd", "Removing service sd_app\n")
	// The stack's services, containers and network take a moment to go.
	e.On("service ls -q --filter "+swarmAll, "s0app0000000\n", "")
	e.On("ps -aq --filter "+swarmAll).On("network ls -q --filter "+swarmAll, "ov1\n", "")
	e.On("volume ls -q --filter "+swarmAll, "sd_data\n")
	e.On("volume inspect sd-logs", `[{"Name":"sd-logs"}]`).On("ps -aq --filter volume=sd-logs").On("volume rm --force *")
	removed, err := rt.Down(within(t))
	if err != nil || !slices.Equal(removed, []string{"sd_data", "sd-logs"}) {
		t.Errorf("Down() = %q, %v; want the stack's volume and the log volume", removed, err)
	}
	if _, err := os.Stat(rt.DeployedFile); !os.IsNotExist(err) {
		t.Errorf("the record of what was deployed is still there (%v)", err)
	}
}

// A compose stack of the same project may run beside (the manifest moved to
// swarm after a compose deploy): its log volume is its own to remove.
func TestSwarmDownLeavesALogVolumeARunningContainerUses(t *testing.T) {
	e := swarmEngine(t)
	e.Fail("stack rm sd", "Nothing found in stack: sd", 1)
	e.On("service ls -q --filter " + swarmAll).On("ps -aq --filter " + swarmAll).On("network ls -q --filter " + swarmAll).On("volume ls -q --filter " + swarmAll)
	e.On("volume inspect sd-logs", `[{"Name":"sd-logs"}]`).On("ps -aq --filter volume=sd-logs", "c0a1\n")
	removed, err := swarmIn(t).Down(within(t))
	if err != nil || len(removed) != 0 {
		t.Errorf("Down() = %q, %v; want nothing removed", removed, err)
	}
	if e.Count("volume rm") != 0 {
		t.Errorf("calls = %q: a volume in use was removed", e.Calls())
	}
}

func TestSwarmUpDeploysWaitsForConvergenceReloadsNginxAndRecordsTheDeploy(t *testing.T) {
	e := swarmEngine(t)
	e.On("volume inspect sd-logs", `[{"Name":"sd-logs"}]`)
	e.On("stack deploy --prune --resolve-image never -c *")
	stackRuns(e, convergedServices, convergedTasks...)
	e.tasks("service ps -q --no-trunc sd_nginx", "swarm/tasks/nginx")
	e.containers(swarmRole(Nginx), "swarm/containers/nginx")
	e.On("exec d0nginx nginx -c /etc/swiftdeploy/nginx/nginx.conf -s reload")
	rt := swarmIn(t)
	if err := rt.Up(within(t)); err != nil {
		t.Fatal(err)
	}
	want := "stack deploy --prune --resolve-image never -c " + rt.Stack.Files[0] + " sd"
	if calls := e.Calls(); !slices.Contains(calls, want) || e.Count("exec d0nginx") != 1 {
		t.Errorf("calls = %q, want %q and a reload of nginx", calls, want)
	}
	if up, err := rt.UpToDate(within(t)); err != nil || !up {
		t.Errorf("UpToDate() after Up = %v, %v; want true", up, err)
	}
}

func TestASwarmStackIsUpToDateOnlyWhenDeployedAsTheFilesSayAndConverged(t *testing.T) {
	e := swarmEngine(t)
	rt := swarmIn(t)
	if up, err := rt.UpToDate(within(t)); err != nil || up || e.Count("service ") != 0 {
		t.Errorf("UpToDate() before any deploy = %v, %v (calls %q); want false without asking the engine", up, err, e.Calls())
	}
	if err := rt.recordDeployed(); err != nil {
		t.Fatal(err)
	}
	stackRuns(e, convergedServices, convergedTasks...)
	if up, err := rt.UpToDate(within(t)); err != nil || !up {
		t.Errorf("UpToDate() deployed and converged = %v, %v; want true", up, err)
	}
	stackRuns(e, []string{"swarm/services/app-updating", "swarm/services/nginx"}, convergedTasks...)
	if up, _ := rt.UpToDate(within(t)); up {
		t.Error("UpToDate() during an update = true")
	}
	// The files name a service the swarm does not run.
	write(t, rt.Stack.Files[0], "services:\n  app:\n    image: app:2\n  nginx:\n    image: nginx:1.27\n  resolver:\n    image: r\n")
	if err := rt.recordDeployed(); err != nil {
		t.Fatal(err)
	}
	stackRuns(e, convergedServices, convergedTasks...)
	if up, _ := rt.UpToDate(within(t)); up {
		t.Error("UpToDate() with a service not running = true")
	}
}

func TestASwarmRoleIsCurrentWhenItsServiceWasDeployedAsTheFilesSayAndRunsItsTasks(t *testing.T) {
	e := swarmEngine(t)
	rt := swarmIn(t)
	if err := rt.recordDeployed(); err != nil {
		t.Fatal(err)
	}
	stackRuns(e, convergedServices, "swarm/tasks/app", "swarm/tasks/app-failing", "swarm/tasks/nginx")
	for role, want := range map[Role]bool{App: false, Nginx: true, Canary: false} {
		if got, err := rt.Current(within(t), role); err != nil || got != want {
			t.Errorf("Current(%s) = %v, %v; want %v", role, got, err, want)
		}
	}
}

func TestASwarmRollDeploysAndWaitsUntilSwarmHasReplacedTheRolesTasks(t *testing.T) {
	e := swarmEngine(t)
	e.On("stack deploy *")
	e.tasks("stack ps -q --no-trunc sd", convergedTasks...)
	e.inspect("service", "swarm/services/app-updating", "swarm/services/nginx")
	_, done := e.fixtures("swarm/services/app", "swarm/services/nginx")
	_, updating := e.fixtures("swarm/services/app-updating", "swarm/services/nginx")
	e.On("service ls -q --filter "+swarmAll, "s0app00000000000000000000\ns0nginx000000000000000000\n")
	e.On("service inspect *", updating, done)
	rt := swarmIn(t)
	if err := rt.Roll(within(t), App); err != nil {
		t.Fatal(err)
	}
	if e.Count("service inspect") != 2 || !rt.deployedCurrent(App) {
		t.Errorf("calls = %q, want a wait through the update and the deploy recorded", e.Calls())
	}
}

func TestASwarmRollThatSwarmRolledBackIsAnErrorAndNotRecorded(t *testing.T) {
	e := swarmEngine(t)
	e.On("stack deploy *")
	stackRuns(e, []string{"swarm/services/app-rolled-back", "swarm/services/nginx"}, convergedTasks...)
	rt := swarmIn(t)
	err := rt.Roll(within(t), App)
	if !errors.Is(err, ErrRolledBack) || err.Error() != "rolled back: swarm undid the update of sd_app (rollback_completed): rollback completed: task unhealthy" {
		t.Errorf("Roll() error = %v, want ErrRolledBack saying which service and why", err)
	}
	if rt.record() != nil {
		t.Error("a rolled back update was recorded as deployed")
	}
}

// A roll a killed command started goes on without it: the next command
// waits for swarm to finish it or undo it, and either way the roll is over.
func TestSwarmSettlesOnceAnUpdateIsFinishedOrUndone(t *testing.T) {
	for _, c := range []struct {
		name string
		app  string
	}{
		{"finished", "swarm/services/app"},
		{"undone", "swarm/services/app-rolled-back"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := swarmEngine(t)
			stackRuns(e, []string{c.app, "swarm/services/nginx"}, convergedTasks...)
			if err := swarmIn(t).Settle(within(t), App); err != nil {
				t.Errorf("Settle(app) = %v, want nil", err)
			}
			if e.Count("stack deploy") != 0 {
				t.Errorf("calls = %q: settling deployed something", e.Calls())
			}
		})
	}
}

func TestSwarmSettleThatOutlivesItsDeadlineSaysWhatItWaitedFor(t *testing.T) {
	e := swarmEngine(t)
	stackRuns(e, []string{"swarm/services/app-updating", "swarm/services/nginx"}, convergedTasks...)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err := swarmIn(t).Settle(ctx, App)
	if err == nil || err.Error() != "the swarm stack sd did not converge: sd_app is updating" {
		t.Errorf("Settle(app) = %v, want the update still under way", err)
	}
}

func TestASwarmConvergenceStopsAtATaskANodeCannotGetTheImageFor(t *testing.T) {
	e := swarmEngine(t)
	e.On("stack deploy *")
	stackRuns(e, convergedServices, "swarm/tasks/app", "swarm/tasks/app-no-image", "swarm/tasks/nginx")
	err := swarmIn(t).Roll(within(t), App)
	if err == nil || !strings.HasPrefix(err.Error(), "node "+workerNode+" cannot run sd_app: No such image: app:2") {
		t.Errorf("Roll() error = %v, want the node that lacks the image", err)
	}
}

func TestASwarmConvergenceThatOutlivesItsDeadlineSaysWhatItWaitedForAndTheLatestTaskError(t *testing.T) {
	e := swarmEngine(t)
	e.On("service update --force --detach sd_app")
	stackRuns(e, convergedServices, "swarm/tasks/app", "swarm/tasks/app-failing", "swarm/tasks/nginx")
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err := swarmIn(t).Recreate(ctx, App)
	want := "the swarm stack sd did not converge: sd_app runs 1 of 2 tasks as its service says; a task of sd_app on node " + workerNode + ": failed: task: non-zero exit (1)"
	if err == nil || err.Error() != want {
		t.Errorf("Recreate() error = %v, want %q", err, want)
	}
}

// A role runs as generated when its service's definition is the one
// deployed and, for nginx, when the configuration it read is the one on
// disk: a reload (Reroute) reads it again without deploying anything.
func TestWhatSwarmRunsIsCurrentPerServiceAndPerFileItRead(t *testing.T) {
	s := swarmIn(t)
	stack, conf := s.Stack.Files[0], s.Reads[Nginx][0]
	if s.deployedCurrent(App) {
		t.Fatal("current before anything was deployed")
	}
	if err := s.recordDeployed(); err != nil {
		t.Fatal(err)
	}
	if !s.deployedCurrent("") || !s.deployedCurrent(App) || !s.deployedCurrent(Nginx) {
		t.Fatal("not current right after a deploy")
	}
	write(t, conf, "canary at 50%")
	if s.deployedCurrent(Nginx) || !s.deployedCurrent(App) {
		t.Error("a rewritten nginx.conf must leave nginx alone not current, and the app current")
	}
	if err := s.recordRead(Nginx); err != nil {
		t.Fatal(err)
	}
	if !s.deployedCurrent(Nginx) || !s.deployedCurrent("") {
		t.Error("nginx is not current after reading its configuration again")
	}
	write(t, stack, "services:\n  app:\n    image: app:3\n  nginx:\n    image: nginx:1.27\n")
	if s.deployedCurrent(App) || !s.deployedCurrent(Nginx) {
		t.Error("a new app image must leave the app alone not current")
	}
}

func TestSwarmRerouteReloadsNginxAndNotesThatItReadItsConfigurationAgain(t *testing.T) {
	e := swarmEngine(t)
	e.tasks("service ps -q --no-trunc sd_nginx", "swarm/tasks/nginx")
	e.containers(swarmRole(Nginx), "swarm/containers/nginx")
	e.On("exec d0nginx nginx -c /etc/swiftdeploy/nginx/nginx.conf -s reload")
	rt := swarmIn(t)
	if err := rt.recordDeployed(); err != nil {
		t.Fatal(err)
	}
	write(t, rt.Reads[Nginx][0], "canary at 50%")
	if err := rt.Reroute(within(t)); err != nil {
		t.Fatal(err)
	}
	if !rt.deployedCurrent(Nginx) {
		t.Error("nginx is not current after a reroute")
	}
}

func TestASwarmStackFileThatIsNotYAMLIsNamed(t *testing.T) {
	rt := swarmIn(t)
	write(t, rt.Stack.Files[0], "services: [\n")
	if err := rt.recordDeployed(); err == nil || !strings.HasPrefix(err.Error(), "read docker-compose.yml: ") {
		t.Errorf("recordDeployed() error = %v, want the file named", err)
	}
}
