package stack

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
	"github.com/swiftdeploy/swiftdeploy/internal/edge"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

// tornDown is a stack wired as the commands wire it, in a folder of the
// test's own without a manifest, on a fake engine that answers, printing to
// out.
func tornDown(t *testing.T, out *bytes.Buffer) (*Stack, *dockertest.Fake) {
	f := dockertest.New(t).On("info --format {{.ServerVersion}}", "24.0.7\n")
	t.Setenv(ProjectEnv, "swiftdeploy-unit")
	s, err := New(t.TempDir(), ui.New(out))
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

// composeLeft answers compose's lookups by label: one container and the
// network are left of the project.
func composeLeft(f *dockertest.Fake) {
	const filter = " --filter label=com.docker.compose.project=swiftdeploy-unit"
	f.On("ps -aq"+filter, "c1\n").On("network ls -q"+filter, "n1\n").On("volume ls -q" + filter)
	f.On("rm --force --volumes c1").On("network rm n1")
}

func TestTeardownRemovesASwarmStackLeftBehindThenWhatComposesLabelsFind(t *testing.T) {
	var out bytes.Buffer
	s, f := tornDown(t, &out)
	f.On("info --format {{json .Swarm}}", `{"NodeID":"n","LocalNodeState":"active","ControlAvailable":true,"Nodes":1}`)
	const filter = " --filter label=com.docker.stack.namespace=swiftdeploy-unit"
	f.On("stack rm swiftdeploy-unit").On("service ls -q" + filter).On("ps -aq" + filter).On("network ls -q" + filter)
	f.On("volume ls -q"+filter, "swiftdeploy-unit_data\n").On("volume rm --force swiftdeploy-unit_data")
	composeLeft(f)
	if err := s.Teardown(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if i, j := slices.Index(calls, "stack rm swiftdeploy-unit"), slices.Index(calls, "network rm n1"); i < 0 || j < i {
		t.Errorf("calls = %q, want the swarm stack removed, then the compose network", calls)
	}
	for _, want := range []string{
		"✔ removed 3 leftover containers, networks or volumes of swiftdeploy-unit\n",
		"✔ the stack swiftdeploy-unit is down: no container, network or volume left\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed %q, want %q", out.String(), want)
		}
	}
}

func TestTeardownCleanAlsoRemovesTheGeneratedFiles(t *testing.T) {
	var out bytes.Buffer
	s, f := tornDown(t, &out)
	f.On("info --format {{json .Swarm}}", `{"LocalNodeState":"inactive"}`)
	composeLeft(f)
	generated := []string{render.NginxConf, render.ComposeFile, render.MountedNginxConf, render.RoutesFile, render.ReleaseLog}
	for _, name := range generated {
		if err := os.MkdirAll(filepath.Dir(s.path(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.path(name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Teardown(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{render.NginxConf, render.ComposeFile, render.MountedNginxDir, render.ResolverDir, render.ReleaseLogDir} {
		if _, err := os.Stat(s.path(name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (%v)", name, err)
		}
	}
	if f.Count("stack ") != 0 {
		t.Errorf("calls = %q: a swarm stack was removed from an engine in no swarm", f.Calls())
	}
	if !strings.Contains(out.String(), "✔ removed the generated files (nginx.conf, docker-compose.yml, .swiftdeploy/nginx/, .swiftdeploy/resolver/, .swiftdeploy/release/)\n") {
		t.Errorf("printed %q, want the generated files named", out.String())
	}
}

func TestTeardownWithoutAnEngineSaysHowToStartOne(t *testing.T) {
	var out bytes.Buffer
	s, f := tornDown(t, &out)
	f.Fail("info --format {{.ServerVersion}}", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?", 1)
	err := s.Teardown(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), "the Docker engine is not reachable") || !strings.HasSuffix(err.Error(), "; start it with `setup` (or `dockerd &`)") {
		t.Errorf("Teardown() error = %v, want the unreachable engine and how to start it", err)
	}
	if len(f.Calls()) != 1 {
		t.Errorf("calls = %q, want nothing asked of an engine that does not answer", f.Calls())
	}
}

func TestTeardownBehindTheEdgeWarnsButFinishesWhenTheRenewerCannotBeRecreated(t *testing.T) {
	var out bytes.Buffer
	s, f := tornDown(t, &out)
	t.Setenv(edge.DirEnv, t.TempDir())
	e, err := edge.Open()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []edge.Claim{
		{Project: s.Project, Folder: s.Root, Hosts: []string{"shop.test"}, HTTPPort: 80, HTTPSPort: 443, TLS: "acme"},
		{Project: "other", Folder: "/srv/other", Hosts: []string{"blog.test"}, HTTPPort: 80, HTTPSPort: 443, TLS: "acme"},
	} {
		if err := e.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(e.Dir, "settings.json"), []byte(`{"image": "nginx:latest", "http_port": 80, "https_port": 443}`), 0o644)
	composeLeft(f)
	f.On("ps -aq --no-trunc *", "").Fail("compose * up *", "Error response from daemon: No such image: swiftdeploy-renewer:latest", 1)
	if err := s.Teardown(context.Background(), false); err != nil {
		t.Fatalf("teardown failed because the renewer could not be recreated: %v", err)
	}
	if f.Count("compose") != 1 {
		t.Errorf("calls = %q, want one try to recreate the renewer", f.Calls())
	}
	for _, want := range []string{"✔ the host's edge no longer serves shop.test", "! the edge's renewer: ", "No such image: swiftdeploy-renewer:latest",
		"✔ the stack swiftdeploy-unit is down"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed %q, want %q", out.String(), want)
		}
	}
	if claims, _ := e.Claims(); len(claims) != 1 || claims[0].Project != "other" {
		t.Errorf("claims left: %+v, want the other stack's alone", claims)
	}
}
