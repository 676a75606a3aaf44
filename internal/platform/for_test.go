package platform

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

func configIn(t *testing.T) Config {
	dir := t.TempDir()
	return Config{Project: "sd", Dir: dir, ComposeFile: "docker-compose.yml",
		NginxConf: filepath.Join(dir, "nginx", "nginx.conf"), DeployedFile: filepath.Join(dir, "deployed"), NginxReadFile: filepath.Join(dir, "nginx-read")}
}

func manifestFor(runtime string, nginxPort int) *manifest.Manifest {
	m := &manifest.Manifest{Runtime: runtime}
	m.Services.Image, m.Services.LogVolume = "app:2", "sd-logs"
	m.Nginx.Image, m.Nginx.Port = "nginx:1.27", nginxPort
	m.Network.Name = "sd-net"
	return m
}

func TestForRunsAComposeManifestAsAComposeProjectOfTheConfiguredFolder(t *testing.T) {
	c := configIn(t)
	got := For(manifestFor(manifest.RuntimeCompose, 8080), c)
	want := Compose{Project: docker.Project{Name: "sd", Dir: c.Dir, File: "docker-compose.yml"},
		Network: "sd-net", LogVolume: "sd-logs", NginxImage: "nginx:1.27", AdminPort: 9180, NginxConf: c.NginxConf, ReadFile: c.NginxReadFile}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("For(compose) = %+v, want %+v", got, want)
	}
}

func TestForWithoutAManifestIsTheComposeProjectAlone(t *testing.T) {
	c := configIn(t)
	got := For(nil, c)
	if want := (Compose{Project: docker.Project{Name: "sd", Dir: c.Dir, File: "docker-compose.yml"}, NginxConf: c.NginxConf, ReadFile: c.NginxReadFile}); !reflect.DeepEqual(got, want) {
		t.Errorf("For(nil) = %+v, want %+v", got, want)
	}
}

// nginx's admin listener moves aside when the manifest's public port is
// the one it would take.
func TestForRunsASwarmManifestAsAStackThatKnowsItsImagesAndWhatNginxReads(t *testing.T) {
	c := configIn(t)
	got, ok := For(manifestFor(manifest.RuntimeSwarm, 9180), c).(Swarm)
	if !ok {
		t.Fatalf("For(swarm) is not the swarm runtime")
	}
	project := docker.Project{Name: "sd", Dir: c.Dir, File: "docker-compose.yml"}
	want := Swarm{Stack: docker.Stack{Name: "sd", Files: project.Files()}, Project: project, Network: "sd-net",
		LogVolume: "sd-logs", NginxImage: "nginx:1.27", AdminPort: 9181, DeployedFile: c.DeployedFile,
		Images: map[Role]string{App: "app:2", Nginx: "nginx:1.27", Resolver: "swiftdeploy-resolver:latest"},
		Reads:  map[Role][]string{Nginx: {c.NginxConf}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("For(swarm) =\n%+v\nwant\n%+v", got, want)
	}
}

// composeLeftovers answers compose's lookups by label: nothing of the
// project is left but its network.
func composeLeftovers(e engine) {
	e.On("ps -aq --filter "+composeAll).On("network ls -q --filter "+composeAll, "net1\n").On("volume ls -q --filter " + composeAll)
	e.On("network rm net1")
}

func TestDownEverywhereRemovesASwarmStackFirstThenWhatComposesLabelsFind(t *testing.T) {
	e := swarmEngine(t)
	composeLeftovers(e)
	e.On("stack rm sd")
	e.On("service ls -q --filter " + swarmAll).On("ps -aq --filter " + swarmAll).On("network ls -q --filter " + swarmAll)
	e.On("volume ls -q --filter "+swarmAll, "sd_data\n").On("volume rm --force sd_data")
	m := manifestFor(manifest.RuntimeCompose, 8080)
	m.Services.LogVolume = ""
	removed, err := DownEverywhere(within(t), m, configIn(t))
	if err != nil || !slices.Equal(removed, []string{"sd_data", "net1"}) {
		t.Errorf("DownEverywhere() = %q, %v; want the swarm stack's volume, then the compose network", removed, err)
	}
	calls := e.Calls()
	stackRm := slices.Index(calls, "stack rm sd")
	composePs := slices.Index(calls, "ps -aq --filter "+composeAll)
	if stackRm < 0 || composePs < stackRm {
		t.Errorf("calls = %q, want the swarm stack removed before compose's labels are looked up", calls)
	}
}

func TestDownEverywhereOnAnEngineThatManagesNoSwarmRemovesTheComposeProjectAlone(t *testing.T) {
	for _, c := range []struct{ name, info string }{
		{"in no swarm", `{"LocalNodeState":"inactive","ControlAvailable":false}`},
		{"a worker", `{"NodeID":"n1","LocalNodeState":"active","ControlAvailable":false,"Nodes":2}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t)
			e.On("info --format {{json .Swarm}}", c.info)
			composeLeftovers(e)
			removed, err := DownEverywhere(within(t), nil, configIn(t))
			if err != nil || !slices.Equal(removed, []string{"net1"}) {
				t.Errorf("DownEverywhere() = %q, %v; want the compose network", removed, err)
			}
			if e.Count("stack ") != 0 {
				t.Errorf("calls = %q: a swarm stack was removed from an engine that cannot", e.Calls())
			}
		})
	}
}

func TestDownEverywhereStopsWhenTheSwarmStackCannotBeRemoved(t *testing.T) {
	e := swarmEngine(t)
	e.Fail("stack rm sd", "Error response from daemon: rpc error: code = Unavailable", 1)
	_, err := DownEverywhere(within(t), nil, configIn(t))
	if err == nil || !strings.HasPrefix(err.Error(), "docker stack rm sd: ") {
		t.Errorf("DownEverywhere() error = %v, want the failed stack rm", err)
	}
	if e.Count("ps ") != 0 {
		t.Errorf("calls = %q: compose's leftovers were removed beside a swarm stack still there", e.Calls())
	}
}

// Compose prints its warnings (swarm-only keys in a stack file, say) on the
// same stream, before the document.
func TestRunsAsReadsTheRolesUserAndReadOnlyRootFromTheMergedComposeFiles(t *testing.T) {
	e := newEngine(t)
	e.On("compose * config --format json", "WARN[0000] services.app.deploy: swarm-only\n"+
		`{"name":"sd","services":{"app":{"image":"app:2","user":"10001:10001","read_only":true},"nginx":{"image":"nginx:1.27"}}}`+"\n")
	user, readOnly, err := RunsAs(within(t), configIn(t), App)
	if err != nil || user != "10001:10001" || !readOnly {
		t.Errorf("RunsAs(app) = %q, %v, %v; want 10001:10001 on a read-only root", user, readOnly, err)
	}
	if _, _, err := RunsAs(within(t), configIn(t), Canary); err == nil || err.Error() != "the compose configuration has no service canary" {
		t.Errorf("RunsAs(canary) error = %v", err)
	}
}
