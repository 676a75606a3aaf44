package host

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

func TestComposeThatAnswersIsLeftAlone(t *testing.T) {
	dockertest.New(t).On("compose version --short", "2.29.1\n")
	if note, err := hostIn(t, new(bytes.Buffer)).Compose(within(t)); err != nil || note != "version 2.29.1" {
		t.Errorf("Compose() = %q, %v", note, err)
	}
}

// The plugin setup built earlier is asked directly when `docker compose`
// does not answer (the docker CLI may still be installing beside this step),
// and found, it is not built again.
func TestComposeBuiltEarlierIsFoundWithoutTheDockerCLI(t *testing.T) {
	f := dockertest.New(t).Fail("compose version --short", "docker: 'compose' is not a docker command.", 1)
	home := t.TempDir()
	t.Setenv("HOME", home)
	plugin := filepath.Join(home, ".docker", "cli-plugins", "docker-compose")
	if err := os.MkdirAll(filepath.Dir(plugin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plugin, []byte("#!/bin/sh\n[ \"$*\" = \"version --short\" ] && echo 5.6.0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	note, err := hostIn(t, &out).Compose(within(t))
	if err != nil || note != "version 5.6.0" {
		t.Errorf("Compose() = %q, %v", note, err)
	}
	if strings.Contains(out.String(), "building") || f.Count("compose version --short") != 1 {
		t.Errorf("the plugin was built again or docker asked more than once (calls %q): %s", f.Calls(), out.String())
	}
}

func TestFirstLineKeepsOneLineShortEnoughForTheOutput(t *testing.T) {
	long := strings.Repeat("x", 200)
	for in, want := range map[string]string{
		"pull access denied\nmore": "pull access denied",
		long:                       long[:160] + "…",
		"":                         "",
	} {
		if got := firstLine(in); got != want {
			t.Errorf("firstLine(%.20q…) = %q, want %q", in, got, want)
		}
	}
}

func TestSetupStepsAreTheSameOnBothRuntimesButSwarmAlsoNeedsAManager(t *testing.T) {
	names := func(runtime string) []string {
		m := &manifest.Manifest{Runtime: runtime}
		m.Services.Image, m.Nginx.Image = "app:2", "nginx:1.27"
		var names []string
		for _, s := range hostIn(t, new(bytes.Buffer)).Steps(m) {
			names = append(names, s.Name)
		}
		return names
	}
	common := []string{"Docker engine", "Docker Compose v2 plugin", "app image app:2", "resolver image swiftdeploy-resolver:latest", "renewer image swiftdeploy-renewer:latest", "nginx image nginx:1.27"}
	if got := names(manifest.RuntimeCompose); !slices.Equal(got, common) {
		t.Errorf("compose steps = %q, want %q", got, common)
	}
	if got, want := names(manifest.RuntimeSwarm), append(common, "Docker Swarm manager"); !slices.Equal(got, want) {
		t.Errorf("swarm steps = %q, want %q", got, want)
	}
}

func TestTheAppImageStepIsTheManifestsImage(t *testing.T) {
	f := dockertest.New(t).On(idOf+"shop:1", "sha256:1\n").On(labelOf+"shop:1", "<no value>\n")
	m := &manifest.Manifest{}
	m.Services.Image = "shop:1"
	steps := hostIn(t, new(bytes.Buffer)).Steps(m)
	if note, err := steps[2].Do(within(t)); err != nil || note != "present (your own image: left as it is)" || f.Count(idOf+"shop:1") != 1 {
		t.Errorf("%s: %q, %v (calls %q)", steps[2].Name, note, err, f.Calls())
	}
}
