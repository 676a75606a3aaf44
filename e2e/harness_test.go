// Package e2e drives SwiftDeploy end to end, as an operator would: the Mage
// targets, compiled once, run in a project folder of their own against the real
// Docker engine, the real Compose plugin and the real nginx image. Every test
// stack has its own compose project name, network, volume and free port, and is
// torn down (and checked gone) even when the test fails.
//
// These tests need what `go run magefile.go setup` provides (the test target runs
// it first); without a Docker engine they fail, they never skip.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	repoRoot string
	targets  string // the compiled Mage targets
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	flag.Parse()
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		// Only listing (the test target asks for the fuzz targets this
		// way): nothing runs, so neither the engine nor the targets are
		// needed.
		return m.Run()
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the Docker engine is not reachable (%v: %s): run `go run magefile.go setup` first (the test target does)\n", err, bytes.TrimSpace(out))
		return 1
	}
	dir, err := os.MkdirTemp("", "swiftdeploy-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	targets = filepath.Join(dir, "swiftdeploy-targets")
	compile := exec.Command("go", "run", "magefile.go", "-compile", targets)
	compile.Dir = repoRoot
	if out, err := compile.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: compile the Mage targets: %v\n%s\n", err, out)
		return 1
	}
	return m.Run()
}

// project is one SwiftDeploy project folder with its own stack.
type project struct {
	t        testing.TB
	dir      string
	name     string // compose project
	port     int    // nginx port on the host
	id       string
	manifest string
	// env is added to every target's environment (the edge's folder, say).
	env []string
}

// manifestOptions shape a test manifest.
type manifestOptions struct {
	image  string
	nginx  string // nginx.image; nginx:latest when empty
	mode   string
	policy string // extra YAML under policy:, indented two spaces
	// rollout is the rollout section, when the test sets one.
	rollout string
	// closeAdminPaths keeps the app's /chaos and /metrics off the public port.
	closeAdminPaths bool
	// swarmReplicas, when set, runs the stack on Docker Swarm with that many
	// app tasks (an overlay network, switch releases).
	swarmReplicas int
}

// defaultPolicy keeps test runs fast and independent of the machine's load: a
// 3 s canary window instead of 30 s, and a CPU limit that the test suite's own
// compilation on two cores cannot trip. Tests of the limits set their own.
const defaultPolicy = `  canary:
    window_seconds: 3
  infrastructure:
    max_cpu_load_1m: 1000
`

func newProject(t testing.TB, opt manifestOptions) *project {
	t.Helper()
	idBytes := make([]byte, 4)
	rand.Read(idBytes)
	id := hex.EncodeToString(idBytes)
	p := &project{t: t, dir: t.TempDir(), name: "swiftdeploy-e2e-" + id, port: freePort(t), id: id}
	for _, sub := range []string{"templates", "policies"} {
		copyDir(t, filepath.Join(repoRoot, sub), filepath.Join(p.dir, sub))
	}
	copyFile(t, filepath.Join(repoRoot, "docker-compose.override.yml"), filepath.Join(p.dir, "docker-compose.override.yml"))
	if opt.image == "" {
		opt.image = "swift-deploy-1-node:latest"
	}
	if opt.mode == "" {
		opt.mode = "stable"
	}
	if opt.nginx == "" {
		opt.nginx = "nginx:latest"
	}
	if opt.policy == "" {
		opt.policy = defaultPolicy
	}
	p.manifest = fmt.Sprintf(`# test manifest
services:
  image: %s
  port: 3000
  mode: %s   # stable | canary
  version: "2.0.0"
  restart_policy: unless-stopped
  log_volume: %s-logs
nginx:
  image: %s
  port: %d
  proxy_timeout: 30
  public_admin_paths: %t
network:
  name: %s-net
  driver_type: bridge
contact: "ops+e2e@example.com"
policy:
%s%s`, opt.image, opt.mode, p.name, opt.nginx, p.port, !opt.closeAdminPaths, p.name, opt.policy, opt.rollout)
	if opt.swarmReplicas > 0 {
		p.manifest = strings.Replace(p.manifest, "  driver_type: bridge\n", "  driver_type: overlay\n", 1)
		p.manifest = strings.Replace(p.manifest, "  restart_policy: unless-stopped\n", fmt.Sprintf("  restart_policy: unless-stopped\n  replicas: %d\n", opt.swarmReplicas), 1)
		p.manifest += "runtime: swarm\n"
	}
	p.write("manifest.yaml", p.manifest)
	t.Cleanup(p.teardownAndCheck)
	if keep := os.Getenv(keepHistoriesEnv); keep != "" {
		t.Cleanup(func() { p.keepHistory(keep) })
	}
	return p
}

// keepHistoriesEnv names a folder where each test project's history.jsonl
// is copied when its test ends (as <test>-<project id>.jsonl), to read a
// run's releases, or to make a fixture of one, after the project is gone.
const keepHistoriesEnv = "SWIFTDEPLOY_E2E_KEEP_HISTORIES"

func (p *project) keepHistory(dir string) {
	data, err := os.ReadFile(filepath.Join(p.dir, "history.jsonl"))
	if err != nil {
		return
	}
	name := strings.NewReplacer("/", "_").Replace(p.t.Name()) + "-" + p.id + ".jsonl"
	if err := os.MkdirAll(dir, 0o755); err == nil {
		err = os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	if err != nil {
		p.t.Logf("keep the history in %s: %v", dir, err)
	}
}

func (p *project) write(name, content string) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *project) read(name string) string {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		p.t.Fatal(err)
	}
	return string(b)
}

func (p *project) exists(name string) bool {
	_, err := os.Stat(filepath.Join(p.dir, name))
	return err == nil
}

// run runs one target as an operator would and returns its combined output and
// exit code.
func (p *project) run(args ...string) (string, int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, targets, args...)
	cmd.Dir = p.dir
	cmd.Env = append(append(os.Environ(), "SWIFTDEPLOY_PROJECT="+p.name, "NO_COLOR=1"), p.env...)
	out, err := cmd.CombinedOutput()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		p.t.Fatalf("run %v: %v", args, err)
	}
	p.t.Logf("$ swiftdeploy %s  (exit %d)\n%s", strings.Join(args, " "), code, out)
	return string(out), code
}

// must runs a target that has to succeed.
func (p *project) must(args ...string) string {
	p.t.Helper()
	out, code := p.run(args...)
	if code != 0 {
		p.t.Fatalf("swiftdeploy %s exited %d", strings.Join(args, " "), code)
	}
	return out
}

// expect runs a target that has to exit with code and print every one of want.
func (p *project) expect(code int, want []string, args ...string) string {
	p.t.Helper()
	out, got := p.run(args...)
	if got != code {
		p.t.Errorf("swiftdeploy %s exited %d, want %d", strings.Join(args, " "), got, code)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			p.t.Errorf("swiftdeploy %s: output lacks %q", strings.Join(args, " "), w)
		}
	}
	return out
}

func (p *project) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.port, path)
}

// get fetches path through nginx.
func (p *project) get(path string) (*http.Response, string) {
	p.t.Helper()
	return p.do(http.MethodGet, path, "")
}

func (p *project) do(method, path, body string) (*http.Response, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url(path), strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// docker runs the Docker CLI and returns its trimmed output.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// leftovers lists every container, network and volume labelled with the project.
func (p *project) leftovers() []string {
	filter := "label=com.docker.compose.project=" + p.name
	var left []string
	for _, list := range [][]string{
		{"ps", "-aq", "--filter", filter},
		{"network", "ls", "-q", "--filter", filter},
		{"volume", "ls", "-q", "--filter", filter},
		{"network", "ls", "-q", "--filter", "name=" + p.name},
		{"volume", "ls", "-q", "--filter", "name=" + p.name},
	} {
		left = append(left, strings.Fields(docker(p.t, list...))...)
	}
	return left
}

func (p *project) containers(service string) []string {
	args := []string{"ps", "-q", "--no-trunc", "--filter", "label=com.docker.compose.project=" + p.name}
	if service != "" {
		args = append(args, "--filter", "label=com.docker.compose.service="+service)
	}
	return strings.Fields(docker(p.t, args...))
}

func (p *project) teardownAndCheck() {
	if p.t.Failed() {
		p.logRouting()
	}
	if _, code := p.run("teardown"); code != 0 {
		p.t.Errorf("teardown exited %d", code)
	}
	if left := p.leftovers(); len(left) > 0 {
		p.t.Errorf("teardown left %v behind", left)
	}
}

// logRouting shows, for a failed test, how nginx was being steered: the
// resolver's routes and served files and the last lines the resolver and
// nginx logged, before teardown removes them.
func (p *project) logRouting() {
	for _, f := range []string{"routes.json", "served.json"} {
		data, _ := os.ReadFile(filepath.Join(p.dir, ".swiftdeploy", "resolver", f))
		p.t.Logf("%s: %s", f, data)
	}
	for _, service := range []string{"resolver", "nginx", "canary"} {
		for _, id := range p.containers(service) {
			out, _ := exec.Command("docker", "logs", "--tail", "30", id).CombinedOutput()
			p.t.Logf("the %s's last log lines:\n%s", service, out)
		}
	}
}

// freePort is a free port below the kernel's ephemeral range (freePorts).
func freePort(t testing.TB) int {
	t.Helper()
	return freePorts(t, 1)[0]
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			copyFile(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()))
		}
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond every 200ms until it holds or limit passes.
func waitUntil(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
