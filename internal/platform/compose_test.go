package platform

import (
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

// composeIn is the compose runtime of the stack "sd" in a folder of the
// test's own.
func composeIn(t *testing.T) Compose {
	return Compose{Project: docker.Project{Name: "sd", Dir: t.TempDir(), File: "docker-compose.yml"},
		Network: "sd-net", LogVolume: "sd-logs", NginxImage: "nginx:1.27", AdminPort: 9180}
}

// configHashes is what `docker compose config --hash '*'` prints for the
// generated files.
const configHashes = "app hash-app\nnginx hash-nginx\nresolver hash-resolver\n"

func TestAComposeStackIsUpToDateOnlyWhenEachServiceRunsOneContainerOfItsConfiguration(t *testing.T) {
	for _, c := range []struct {
		name       string
		containers []string
		want       bool
	}{
		{"each service runs one container of its configuration", []string{"compose/app", "compose/nginx", "compose/resolver"}, true},
		{"a container runs an older configuration", []string{"compose/app-stale", "compose/nginx", "compose/resolver"}, false},
		{"a container has stopped", []string{"compose/app-exited", "compose/nginx", "compose/resolver"}, false},
		{"a service runs two containers", []string{"compose/app", "compose/app-2", "compose/nginx", "compose/resolver"}, false},
		{"a service runs no container", []string{"compose/app", "compose/nginx"}, false},
		{"nothing runs", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t)
			e.containers(composeAll, c.containers...)
			e.On("compose * config --hash *", configHashes)
			got, err := composeIn(t).UpToDate(within(t))
			if err != nil || got != c.want {
				t.Errorf("UpToDate() = %v, %v; want %v, nil", got, err, c.want)
			}
		})
	}
}

func TestAComposeStackWhoseConfigurationCannotBeReadIsNotUpToDateButAnError(t *testing.T) {
	e := newEngine(t)
	e.containers(composeAll, "compose/app")
	e.Fail("compose * config --hash *", "service \"app\" refers to undefined volume logs", 15)
	_, err := composeIn(t).UpToDate(within(t))
	if err == nil || !strings.Contains(err.Error(), "read the compose configuration: docker compose config: exit status 15: service \"app\" refers to undefined volume logs") {
		t.Errorf("UpToDate() error = %v, want it to say the configuration could not be read, and why", err)
	}
}

func TestAComposeRoleIsCurrentWhenEveryContainerOfItRunsItsConfiguration(t *testing.T) {
	for _, c := range []struct {
		name       string
		containers []string
		want       bool
	}{
		{"one current container", []string{"compose/app"}, true},
		{"two current containers, as during a switch", []string{"compose/app", "compose/app-2"}, true},
		{"one of them runs an older configuration", []string{"compose/app", "compose/app-stale"}, false},
		{"its container has stopped", []string{"compose/app-exited"}, false},
		{"it runs no container", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t)
			e.containers(composeRole(App), c.containers...)
			e.On("compose * config --hash *", configHashes)
			got, err := composeIn(t).Current(within(t), App)
			if err != nil || got != c.want {
				t.Errorf("Current(app) = %v, %v; want %v, nil", got, err, c.want)
			}
		})
	}
}

func TestComposeInstancesAreTheProjectsContainersAsDockerInspectDescribesThem(t *testing.T) {
	e := newEngine(t)
	e.containers(composeAll, "compose/app", "compose/nginx", "compose/app-exited")
	got, err := composeIn(t).Instances(within(t), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Instance{
		{ID: "c0a1", Name: "sd-app-1", Role: App, Image: "swift-deploy-1-node:latest", State: "running", Health: "healthy",
			StartedAt: time.Date(2025, 5, 1, 10, 0, 0, 5e8, time.UTC), Addr: "172.20.0.3", Published: map[string]string{},
			Mode: "stable", Version: "1.0.0", Reach: "172.20.0.3"},
		{ID: "c0n1", Name: "sd-nginx-1", Role: Nginx, Image: "nginx:1.27", State: "running", Health: "healthy",
			StartedAt: time.Date(2025, 5, 1, 10, 0, 0, 5e8, time.UTC), Addr: "172.20.0.4",
			Published: map[string]string{"8080/tcp": "0.0.0.0:8080", "9180/tcp": "127.0.0.1:32768"}, Reach: "172.20.0.4"},
		{ID: "c0a4", Name: "sd-app-1", Role: App, Image: "swift-deploy-1-node:latest", State: "exited", ExitCode: 137,
			StartedAt: time.Date(2025, 5, 1, 10, 0, 0, 5e8, time.UTC), Published: map[string]string{}, Mode: "stable", Version: "1.0.0"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Instances() =\n%+v\nwant\n%+v", got, want)
	}
	if !got[0].Running() || got[2].Running() {
		t.Error("a running container must be a running instance, and an exited one not")
	}
	if b := got[0].Build(); b.Image != "swift-deploy-1-node:latest" || b.Version != "1.0.0" {
		t.Errorf("Build() = %+v, want the image and the APP_VERSION it was told", b)
	}
}

func TestAComposeInstanceIsReadAgainByItsID(t *testing.T) {
	e := newEngine(t)
	e.inspect("container", "compose/app-exited")
	e.Fail("inspect --type container gone", "Error: No such container: gone", 1)
	rt := composeIn(t)
	got, err := rt.Instance(within(t), "c0a4")
	if err != nil || got.State != "exited" || got.ExitCode != 137 {
		t.Errorf("Instance(c0a4) = %+v, %v; want the exited container with its exit code", got, err)
	}
	if _, err := rt.Instance(within(t), "gone"); err == nil || !strings.Contains(err.Error(), "No such container: gone") {
		t.Errorf("Instance(gone) error = %v, want docker's answer", err)
	}
}

// Compose counts stopped containers when it scales: one more than all of
// them starts a new container, never an old stopped one again.
// scalesToTwoApps makes the app's containers one, then two: before and
// after StartBeside's compose up.
func scalesToTwoApps(e engine) {
	e.inspect("container", "compose/app")
	e.inspect("container", "compose/app", "compose/app-2")
	e.On("ps -aq --no-trunc --filter "+composeRole(App), "c0a1\n", "c0a1\nc0a2\n")
}

func TestComposeStartsOneMoreInstanceBesideTheOthersAndReturnsOnlyTheNewOne(t *testing.T) {
	e := newEngine(t)
	scalesToTwoApps(e)
	e.On("compose * up --detach --no-deps --no-recreate --scale app=2 app")
	started, err := composeIn(t).StartBeside(within(t), App)
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 || started[0].ID != "c0a2" || started[0].Addr != "172.20.0.6" {
		t.Errorf("StartBeside(app) = %+v, want only the new container c0a2", started)
	}
}

func TestAFailedStartBesideStillReturnsWhatItStartedSoThatItCanBeRemoved(t *testing.T) {
	e := newEngine(t)
	scalesToTwoApps(e)
	e.Fail("compose * up *", "container sd-app-2 is unhealthy", 1)
	started, err := composeIn(t).StartBeside(within(t), App)
	if err == nil || !strings.Contains(err.Error(), "start another app: docker compose up") || !strings.Contains(err.Error(), "container sd-app-2 is unhealthy") {
		t.Errorf("StartBeside(app) error = %v, want what failed", err)
	}
	if len(started) != 1 || started[0].ID != "c0a2" {
		t.Errorf("StartBeside(app) = %+v, want the half-started c0a2", started)
	}
}

func TestComposeRetiresInstancesByStoppingThemWithTheGraceThenRemovingThem(t *testing.T) {
	e := newEngine(t)
	e.On("stop *").On("rm *")
	rt := composeIn(t)
	if err := rt.Retire(within(t), 15*time.Second, "c0a1", "c0a2"); err != nil {
		t.Fatal(err)
	}
	if err := rt.Remove(within(t), "c0a3"); err != nil {
		t.Fatal(err)
	}
	want := []string{"stop --time 15 c0a1 c0a2", "rm --force --volumes c0a1 c0a2", "rm --force --volumes c0a3"}
	if got := e.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

func TestAnInstanceThatWillNotStopIsNotRemovedWithoutItsDrain(t *testing.T) {
	e := newEngine(t)
	e.Fail("stop *", "Error response from daemon: cannot stop container: c0a1: permission denied", 1)
	err := composeIn(t).Retire(within(t), 15*time.Second, "c0a1")
	if err == nil || !strings.Contains(err.Error(), "stop containers:") {
		t.Errorf("Retire error = %v, want the failed stop", err)
	}
	if e.Count("rm ") != 0 {
		t.Errorf("calls = %q: a container that did not stop was removed", e.Calls())
	}
}

func TestComposeUpOpensTheLogVolumeToEveryUserBeforeComposeMountsIt(t *testing.T) {
	e := newEngine(t)
	e.Fail("volume inspect sd-logs", "Error: No such volume: sd-logs", 1)
	e.On("volume create *").On("run *").On("compose * up --detach --remove-orphans")
	if err := composeIn(t).Up(within(t)); err != nil {
		t.Fatal(err)
	}
	calls := e.Calls()
	want := []string{
		"volume inspect sd-logs",
		"volume create --label com.docker.compose.project=sd --label com.docker.compose.volume=logs sd-logs",
		"run --rm --user 0:0 --network none --entrypoint chmod -v sd-logs:/volume nginx:1.27 1777 /volume",
	}
	if len(calls) != 4 || !slices.Equal(calls[:3], want) || !strings.HasSuffix(calls[3], "--progress quiet up --detach --remove-orphans") {
		t.Errorf("calls = %q, want %q then compose up", calls, want)
	}
}

func TestComposeUpLeavesALogVolumeThatIsThereAlone(t *testing.T) {
	e := newEngine(t)
	e.On("volume inspect sd-logs", `[{"Name":"sd-logs"}]`).On("compose * up --detach --remove-orphans")
	if err := composeIn(t).Up(within(t)); err != nil {
		t.Fatal(err)
	}
	if e.Count("volume create") != 0 || e.Count("run ") != 0 {
		t.Errorf("calls = %q: an existing volume was prepared again", e.Calls())
	}
}

func TestComposeRecreatesOneRoleAndChecksTheFilesWithoutRunningAnything(t *testing.T) {
	e := newEngine(t)
	e.On("compose * up --detach --no-deps --force-recreate nginx")
	e.Fail("compose * config --quiet", "services.app.ports must be a list", 15)
	rt := composeIn(t)
	if err := rt.Recreate(within(t), Nginx); err != nil {
		t.Errorf("Recreate(nginx) = %v", err)
	}
	err := rt.Check(within(t))
	// The full command line, with every -f path, would bury the reason.
	if err == nil || !strings.HasPrefix(err.Error(), "docker compose config: exit status 15: services.app.ports must be a list") {
		t.Errorf("Check() error = %v, want compose's reason after the short command", err)
	}
}

func TestComposeDownRunsComposeDownThenRemovesByLabelWhatIsLeft(t *testing.T) {
	e := newEngine(t)
	rt := composeIn(t)
	write(t, filepath.Join(rt.Project.Dir, "docker-compose.yml"), "services: {}\n")
	e.On("compose * down --volumes --remove-orphans --timeout 15")
	e.On("ps -aq --filter "+composeAll, "c0a9\n").On("network ls -q --filter "+composeAll, "net1\n").On("volume ls -q --filter " + composeAll)
	e.On("rm --force --volumes c0a9").On("network rm net1")
	removed, err := rt.Down(within(t))
	if err != nil || !slices.Equal(removed, []string{"c0a9", "net1"}) {
		t.Errorf("Down() = %q, %v; want the container and network found left over", removed, err)
	}
	if e.Count("compose ") != 1 {
		t.Errorf("calls = %q, want one compose down", e.Calls())
	}
}

func TestComposeDownWithoutAComposeFileRemovesByLabelAlone(t *testing.T) {
	e := newEngine(t)
	e.On("ps -aq --filter "+composeAll).On("network ls -q --filter "+composeAll).On("volume ls -q --filter "+composeAll, "sd-logs\n")
	e.On("volume rm --force sd-logs")
	removed, err := composeIn(t).Down(within(t))
	if err != nil || !slices.Equal(removed, []string{"sd-logs"}) {
		t.Errorf("Down() = %q, %v; want the log volume", removed, err)
	}
	if e.Count("compose ") != 0 {
		t.Errorf("calls = %q: compose ran without its file", e.Calls())
	}
}

// A network still used by a container from outside the stack is not the
// stack's to disconnect: teardown says which container, and how.
func TestComposeDownNamesTheContainerThatKeepsTheStacksNetwork(t *testing.T) {
	e := newEngine(t)
	rt := composeIn(t)
	write(t, filepath.Join(rt.Project.Dir, "docker-compose.yml"), "services: {}\n")
	e.Fail("compose * down *", "network sd-net has active endpoints", 1)
	e.On("ps -aq --filter "+composeAll).On("network ls -q --filter "+composeAll, "net1\n")
	e.Fail("network rm net1", "Error response from daemon: error while removing network: network sd-net has active endpoints", 1)
	e.On("network inspect --format * net1", "sd-net debug-shell\n")
	_, err := rt.Down(within(t))
	for _, want := range []string{
		"network sd-net is still used by debug-shell, which this stack did not start",
		"docker network disconnect sd-net debug-shell",
		"(after docker compose down failed: docker compose down: exit status 1: network sd-net has active endpoints)",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Down() error = %v, want it to contain %q", err, want)
		}
	}
	if !errors.As(err, new(*docker.CommandError)) {
		t.Errorf("Down() error = %T, want the failed command inside", err)
	}
}

func TestComposeLogsAreTheContainersLastLines(t *testing.T) {
	e := newEngine(t)
	e.On("logs --tail 10 c0a1", "listening on :3000\n")
	out, err := composeIn(t).Logs(within(t), "c0a1", 10)
	if err != nil || out != "listening on :3000\n" {
		t.Errorf("Logs() = %q, %v", out, err)
	}
}

func TestComposeFilesAreTheGeneratedFileAndTheOverrideWhenThereIsOne(t *testing.T) {
	rt := composeIn(t)
	generated := filepath.Join(rt.Project.Dir, "docker-compose.yml")
	if got := rt.Files(); !slices.Equal(got, []string{generated}) {
		t.Errorf("Files() = %q, want only the generated file", got)
	}
	override := filepath.Join(rt.Project.Dir, docker.OverrideFile)
	if err := os.WriteFile(override, []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := rt.Files(); !slices.Equal(got, []string{generated, override}) {
		t.Errorf("Files() = %q, want the generated file and the override", got)
	}
}

// composeReading is composeIn whose nginx reads nginx.conf from its folder,
// with content conf.
func composeReading(t *testing.T, conf string) Compose {
	rt := composeIn(t)
	rt.LogVolume = ""
	rt.NginxConf, rt.ReadFile = filepath.Join(rt.Project.Dir, "nginx.conf"), filepath.Join(rt.Project.Dir, "nginx-read")
	if err := os.WriteFile(rt.NginxConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return rt
}

// A changed nginx.conf is read by a graceful reload of the nginx that runs
// (its connections stay open), once: nginx then runs as generated.
func TestComposeUpHasARunningNginxReadAChangedConfigurationByAReload(t *testing.T) {
	e := newEngine(t)
	e.containers(composeRole(Nginx), "compose/nginx")
	e.On("compose * up --detach --remove-orphans").On("compose * config --hash *", configHashes)
	e.On("exec c0n1 nginx -c /etc/swiftdeploy/nginx/nginx.conf -s reload")
	rt := composeReading(t, "events {}\n")
	if current, err := rt.Current(within(t), Nginx); err != nil || current {
		t.Errorf("Current(nginx) = %v, %v before nginx read the file; want false", current, err)
	}
	for range 2 {
		if err := rt.Up(within(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.Count("exec "); n != 1 {
		t.Errorf("nginx reloaded %d times, want once: %q", n, e.Calls())
	}
	if current, err := rt.Current(within(t), Nginx); err != nil || !current {
		t.Errorf("Current(nginx) = %v, %v after the reload; want true", current, err)
	}
	if err := os.WriteFile(rt.NginxConf, []byte("events { worker_connections 2048; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if current, _ := rt.Current(within(t), Nginx); current {
		t.Error("nginx is current although nginx.conf changed since it read it")
	}
	if err := rt.Up(within(t)); err != nil {
		t.Fatal(err)
	}
	if n := e.Count("exec "); n != 2 {
		t.Errorf("nginx reloaded %d times after a change, want twice in all: %q", n, e.Calls())
	}
}
