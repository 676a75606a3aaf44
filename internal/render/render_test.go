package render

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/golden"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// templatesDir is the repository's own templates folder: the tests render what ships.
const templatesDir = "../../templates"

// manifests are the testdata/<name>.yaml inputs that have golden output.
var manifests = []string{"defaults", "custom", "canary"}

// load parses testdata/<name>.yaml.
func load(t *testing.T, name string) *manifest.Manifest {
	t.Helper()
	path := filepath.Join("testdata", name+".yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// renderAll renders m for project and returns the files by path.
func renderAll(t *testing.T, m *manifest.Manifest, project string) map[string][]byte {
	t.Helper()
	files, err := RenderWith(templatesDir, m, project, Options{EdgeSockets: "/var/lib/swiftdeploy/edge/run/sockets/" + project})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		if _, dup := out[f.Path]; dup {
			t.Fatalf("Render returned %s twice", f.Path)
		}
		out[f.Path] = f.Data
	}
	return out
}

// renderManifest renders testdata/<name>.yaml for the default project.
func renderManifest(t *testing.T, name string) map[string][]byte {
	t.Helper()
	return renderAll(t, load(t, name), DefaultProject)
}

func TestRenderMatchesGoldenFiles(t *testing.T) {
	for _, name := range manifests {
		t.Run(name, func(t *testing.T) {
			files := renderManifest(t, name)
			want := slices.Sorted(slices.Values([]string{ComposeFile, MountedNginxConf, NginxConf}))
			if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
				t.Fatalf("rendered %v, want %v", got, want)
			}
			for _, path := range []string{NginxConf, ComposeFile} {
				compareGolden(t, filepath.Join("testdata", name+"."+path+".golden"), files[path])
			}
			if !bytes.Equal(files[MountedNginxConf], files[NginxConf]) {
				t.Errorf("%s differs from %s", MountedNginxConf, NginxConf)
			}
		})
	}
}

// TestRenderEdgeMatchesGoldenFiles renders a stack behind the host's edge:
// nginx listens for the edge on its network as well, passes the edge's
// forwarded headers on, marks the cohort cookie Secure and adds HSTS there;
// its own port is on the host's loopback.
func TestRenderEdgeMatchesGoldenFiles(t *testing.T) {
	files := renderManifest(t, "edge")
	for _, path := range []string{NginxConf, ComposeFile} {
		compareGolden(t, filepath.Join("testdata", "edge."+path+".golden"), files[path])
	}
	m := load(t, "edge")
	if _, err := Render(templatesDir, m, DefaultProject); err == nil {
		t.Error("a manifest with an edge section rendered with no folder for the edge's socket")
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Check(t, path, got)
}

func TestRenderingTwiceGivesIdenticalBytes(t *testing.T) {
	for _, name := range manifests {
		t.Run(name, func(t *testing.T) {
			m := load(t, name)
			first, second := renderAll(t, m, DefaultProject), renderAll(t, m, DefaultProject)
			for path, data := range first {
				if !bytes.Equal(data, second[path]) {
					t.Errorf("%s differs between two renders of the same manifest", path)
				}
			}
		})
	}
}

func TestAnotherProjectNameChangesOnlyTheComposeNameLine(t *testing.T) {
	m := load(t, "custom")
	base, other := renderAll(t, m, "swiftdeploy"), renderAll(t, m, "swiftdeploy-e2e-1")
	for _, path := range []string{NginxConf, MountedNginxConf} {
		if !bytes.Equal(base[path], other[path]) {
			t.Errorf("%s depends on the project name", path)
		}
	}
	a, b := strings.Split(string(base[ComposeFile]), "\n"), strings.Split(string(other[ComposeFile]), "\n")
	if len(a) != len(b) {
		t.Fatalf("compose file has %d lines for one project and %d for another", len(a), len(b))
	}
	var changed []string
	for i := range a {
		if a[i] != b[i] {
			changed = append(changed, a[i]+" → "+b[i])
		}
	}
	want := []string{"name: swiftdeploy → name: swiftdeploy-e2e-1"}
	if !slices.Equal(changed, want) {
		t.Errorf("changed lines %q, want %q", changed, want)
	}
}

func TestRenderWithAMissingTemplateFailsAndReturnsNothing(t *testing.T) {
	for _, missing := range []string{"nginx.conf.tmpl", "docker-compose.yml.tmpl"} {
		t.Run(missing, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range []string{"nginx.conf.tmpl", "docker-compose.yml.tmpl"} {
				if name != missing {
					copyFile(t, filepath.Join(templatesDir, name), filepath.Join(dir, name))
				}
			}
			files, err := Render(dir, load(t, "defaults"), DefaultProject)
			if err == nil || !errors.Is(err, os.ErrNotExist) {
				t.Errorf("error %v, want one saying the template does not exist", err)
			}
			if files != nil {
				t.Errorf("returned %d files alongside the error", len(files))
			}
		})
	}
}

func TestRenderRefusesATemplateUsingAnUnknownField(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, filepath.Join(templatesDir, "nginx.conf.tmpl"), filepath.Join(dir, "nginx.conf.tmpl"))
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml.tmpl"), []byte("name: {{ .Services.Shards }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := Render(dir, load(t, "defaults"), DefaultProject)
	if err == nil || !strings.Contains(err.Error(), "Shards") {
		t.Errorf("error %v, want one naming the unknown field", err)
	}
	if files != nil {
		t.Errorf("returned %d files alongside the error", len(files))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckProjectAcceptsOnlyNamesStartingWithSwiftdeploy(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"swiftdeploy", true},
		{"swiftdeploy-e2e-1", true},
		{"swiftdeploy_test", true},
		{"", false},
		{"other", false},
		{"SwiftDeploy", false},
		{"swiftdeploy x", false},
		{"swiftdeploy-E2E", false},
		{"my-swiftdeploy", false},
	}
	for _, c := range cases {
		err := CheckProject(c.name)
		if c.ok && err != nil {
			t.Errorf("CheckProject(%q) = %v, want nil", c.name, err)
		}
		if !c.ok && !errors.Is(err, fail.ErrInvalid) {
			t.Errorf("CheckProject(%q) = %v, want an error wrapping fail.ErrInvalid", c.name, err)
		}
	}
}

func TestRenderRefusesABadProjectName(t *testing.T) {
	files, err := Render(templatesDir, load(t, "defaults"), "other")
	if !errors.Is(err, fail.ErrInvalid) {
		t.Errorf("error %v, want one wrapping fail.ErrInvalid", err)
	}
	if files != nil {
		t.Errorf("returned %d files alongside the error", len(files))
	}
}

func TestRenderReleaseMatchesGoldenFiles(t *testing.T) {
	m := load(t, "custom")
	files, err := RenderRelease(templatesDir, m, DefaultProject, &Release{Canary: manifest.Build{Image: "team/app:1.1", Version: "1.1.0"}, Weight: 25, Sticky: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == ComposeFile {
			compareGolden(t, filepath.Join("testdata", "release."+f.Path+".golden"), f.Data)
		}
	}
}

func TestRenderReleaseRefusesAWeightThatIsNotAPercentage(t *testing.T) {
	m := load(t, "custom")
	if _, err := RenderRelease(templatesDir, m, DefaultProject, &Release{Weight: 101}); err == nil {
		t.Error("a weight of 101% rendered")
	}
}

// nginx is steered through the resolver, never reloaded: its configuration
// is the same at every weight, and only the compose file gains the canary.
func TestAReleaseLeavesNginxConfAsItIs(t *testing.T) {
	m := load(t, "custom")
	steady := renderAll(t, m, DefaultProject)
	for _, weight := range []int{0, 10, 100} {
		files, err := RenderRelease(templatesDir, m, DefaultProject, &Release{Canary: manifest.Build{Image: "team/app:1.1", Version: "1.1.0"}, Weight: weight, Sticky: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			switch f.Path {
			case NginxConf, MountedNginxConf:
				if !bytes.Equal(f.Data, steady[f.Path]) {
					t.Errorf("%s at weight %d differs from the steady one", f.Path, weight)
				}
			case ComposeFile:
				if !strings.Contains(string(f.Data), "\n  canary:\n") {
					t.Errorf("the compose file at weight %d has no canary service:\n%s", weight, f.Data)
				}
			}
		}
	}
}

func TestAnImageWithoutSwiftDeploysHealthcheckIsProbedFromOutside(t *testing.T) {
	m := load(t, "custom")
	files, err := RenderWith(templatesDir, m, DefaultProject, Options{Healthchecked: func(string) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	compose := string(files[2].Data)
	if files[2].Path != ComposeFile || strings.Contains(compose, "healthcheck:") || strings.Contains(compose, "/swiftdeploy-app") {
		t.Errorf("the compose file runs a healthcheck command the image does not have:\n%s", compose)
	}
	if !strings.Contains(compose, "condition: service_started") || strings.Contains(compose, "service_healthy") {
		t.Errorf("nginx waits for a Docker health the app cannot report:\n%s", compose)
	}
}

func TestTheAppsHardeningAndEnvFileComeFromTheManifest(t *testing.T) {
	m := load(t, "custom")
	m.Services.User, m.Services.ReadOnly, m.Services.EnvFile = "www-data", false, "config/app.env"
	files, err := RenderRelease(templatesDir, m, DefaultProject, &Release{Canary: manifest.Build{Image: "team/app:1.1", Version: "1.1.0"}, Weight: 10})
	if err != nil {
		t.Fatal(err)
	}
	compose := string(files[2].Data)
	for _, want := range []string{`user: "www-data"`, "read_only: false", `- "config/app.env"`} {
		if n := strings.Count(compose, want); n != 2 {
			t.Errorf("%q appears %d times, want once for the app and once for the canary:\n%s", want, n, compose)
		}
	}
}

// On swarm the same template renders a stack file: replicas, per-task DNS,
// start-first updates that roll back, nginx on a manager publishing its port
// there, and bind mounts by absolute path.
func TestRenderSwarmMatchesGoldenFiles(t *testing.T) {
	m := load(t, "swarm")
	files, err := RenderWith(templatesDir, m, DefaultProject, Options{Root: "/srv/shop"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == ComposeFile {
			compareGolden(t, filepath.Join("testdata", "swarm."+f.Path+".golden"), f.Data)
		}
	}
	if _, err := RenderWith(templatesDir, m, DefaultProject, Options{Root: "shop"}); err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Errorf("a relative root: error %v, want one asking for an absolute path", err)
	}
}

// During a release on swarm the canary is a service of one task, never
// restarted, on a manager beside nginx.
func TestRenderSwarmReleaseMatchesGoldenFiles(t *testing.T) {
	m := load(t, "swarm")
	files, err := RenderWith(templatesDir, m, DefaultProject, Options{Root: "/srv/shop",
		Release: &Release{Canary: manifest.Build{Image: "swift-deploy-1-node:latest", Version: "1.1.0"}, Weight: 50, Sticky: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == ComposeFile {
			compareGolden(t, filepath.Join("testdata", "swarm-release."+f.Path+".golden"), f.Data)
		}
	}
}

// TestASwarmStackBehindTheEdgeRunsNginxOnTheEdgesNode: nginx mounts its
// socket folder as a bind and is placed on the node the edge runs on.
func TestASwarmStackBehindTheEdgeRunsNginxOnTheEdgesNode(t *testing.T) {
	m := load(t, "swarm")
	m.Edge = &manifest.Edge{Hosts: []string{"shop.example.com"}, HTTPPort: 80, HTTPSPort: 443, TLS: manifest.EdgeTLS{Mode: manifest.TLSOff}}
	opt := Options{Root: "/srv/shop", EdgeSockets: "/var/lib/swiftdeploy/edge/run/sockets/swiftdeploy"}
	if _, err := RenderWith(templatesDir, m, DefaultProject, opt); err == nil {
		t.Error("a swarm stack behind the edge rendered without the edge's node")
	}
	opt.EdgeNode = "node-abc"
	files, err := RenderWith(templatesDir, m, DefaultProject, opt)
	if err != nil {
		t.Fatal(err)
	}
	compose := string(files[2].Data)
	for _, want := range []string{"constraints: [node.role == manager, node.id == node-abc]", "source: \"/var/lib/swiftdeploy/edge/run/sockets/swiftdeploy\"\n        target: /run/swiftdeploy-edge"} {
		if !strings.Contains(compose, want) {
			t.Errorf("the stack file lacks %q", want)
		}
	}
}
