package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// inspected is what docker inspect says about a container's privileges and ports.
type inspected struct {
	Name   string
	Config struct {
		User   string
		Labels map[string]string
	}
	HostConfig struct {
		CapDrop, CapAdd, SecurityOpt []string
		ReadonlyRootfs               bool
		Privileged                   bool
	}
	NetworkSettings struct {
		Ports map[string][]struct{ HostIp, HostPort string }
	}
}

func inspect(t *testing.T, id string) inspected {
	t.Helper()
	var got []inspected
	if err := json.Unmarshal([]byte(docker(t, "inspect", id)), &got); err != nil || len(got) != 1 {
		t.Fatalf("docker inspect %s: %v", id, err)
	}
	return got[0]
}

// checkLockedDown checks that a container runs as a non-root user, without any
// capability or privilege escalation, on a read-only root filesystem, and
// publishes on the host no more than its service should.
func checkLockedDown(t *testing.T, p *project, id string) {
	t.Helper()
	c := inspect(t, id)
	service := c.Config.Labels["com.docker.compose.service"]
	user, _, _ := strings.Cut(c.Config.User, ":")
	if user == "" || user == "0" || user == "root" {
		t.Errorf("%s (%s) runs as user %q, want a non-root user", c.Name, service, c.Config.User)
	}
	if !slices.Contains(c.HostConfig.CapDrop, "ALL") || len(c.HostConfig.CapAdd) != 0 || c.HostConfig.Privileged {
		t.Errorf("%s (%s): cap_drop %v, cap_add %v, privileged %v; want ALL dropped and none added",
			c.Name, service, c.HostConfig.CapDrop, c.HostConfig.CapAdd, c.HostConfig.Privileged)
	}
	if !slices.ContainsFunc(c.HostConfig.SecurityOpt, func(o string) bool {
		return o == "no-new-privileges" || o == "no-new-privileges:true"
	}) {
		t.Errorf("%s (%s): security_opt %v lacks no-new-privileges", c.Name, service, c.HostConfig.SecurityOpt)
	}
	if !c.HostConfig.ReadonlyRootfs {
		t.Errorf("%s (%s): the root filesystem is writable", c.Name, service)
	}
	var published []string
	for port, bindings := range c.NetworkSettings.Ports {
		for _, b := range bindings {
			published = append(published, b.HostIp+":"+b.HostPort+"->"+port)
		}
	}
	wantPort := strconv.Itoa(p.port)
	switch service {
	case "app", "resolver":
		if len(published) != 0 {
			t.Errorf("the %s %s publishes %v on the host, want nothing", service, c.Name, published)
		}
	case "nginx":
		// The manifest's port, and the admin listener on loopback only.
		public, admin := 0, 0
		for _, b := range published {
			switch {
			case strings.HasSuffix(b, ":"+wantPort+"->"+wantPort+"/tcp"):
				public++
			case strings.HasPrefix(b, "127.0.0.1:") && strings.HasSuffix(b, "->"+adminPort+"/tcp"):
				admin++
			default:
				t.Errorf("nginx %s publishes %s, want only the manifest port %s and the admin port on 127.0.0.1", c.Name, b, wantPort)
			}
		}
		if public == 0 || admin != 1 {
			t.Errorf("nginx %s publishes %v, want port %s and the admin listener on 127.0.0.1 once", c.Name, published, wantPort)
		}
	default:
		t.Errorf("unexpected container %s of service %q", c.Name, service)
	}
}

func TestEveryContainerIsUnprivilegedAndLockedDown(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	all := p.deployed("", 3) // app, nginx and the resolver
	for _, id := range all {
		checkLockedDown(t, p, id)
	}
	p.must("promote", "canary")
	apps := p.containers("app")
	if len(apps) != 1 || slices.Contains(all, apps[0]) {
		t.Fatalf("app containers after promote: %v, want one new one", apps)
	}
	checkLockedDown(t, p, apps[0])
}

// TestNothingOnTheNginxPortAnswersForPolicyEnginePaths asks nginx for the paths
// of OPA's REST API: the policies are evaluated in-process, and nothing behind
// nginx may answer as a policy engine. The paths reach the app, which knows
// none of them (an app's own /v1/ API is served, never blocked by nginx).
func TestNothingOnTheNginxPortAnswersForPolicyEnginePaths(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	p.must("deploy")
	for _, path := range []string{"/v1/data", "/v1/data/swiftdeploy", "/v1/data/swiftdeploy/canary/decision",
		"/v1/policies", "/v1/query", "/v0/data", "/v1/compile"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			resp, body := p.do(method, path, `{"input": {"action": "promote"}}`)
			if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "result") || !strings.Contains(body, `"path":"`+path+`"`) {
				t.Errorf("%s %s through nginx: %d %q, want the app's own 404, without a result", method, path, resp.StatusCode, body)
			}
		}
	}
}

// adminPort is nginx's admin listener inside its container.
const adminPort = "9180"

// adminAddr is where this host reaches the stack's admin listener: the
// port Docker published on 127.0.0.1 (compose), or the nginx task's address
// on this host's docker_gwbridge (swarm).
func (p *project) adminAddr() string {
	p.t.Helper()
	swarmNginx := strings.Fields(docker(p.t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+p.name+"_nginx"))
	if len(swarmNginx) == 1 {
		sandbox := docker(p.t, "inspect", "--format", "{{.NetworkSettings.SandboxID}}", swarmNginx[0])
		ip := docker(p.t, "network", "inspect", "docker_gwbridge", "--format",
			`{{range .Containers}}{{if eq .Name "gateway_`+sandbox[:12]+`"}}{{.IPv4Address}}{{end}}{{end}}`)
		ip, _, _ = strings.Cut(ip, "/")
		return ip + ":" + adminPort
	}
	if len(swarmNginx) > 1 || exec.Command("docker", "service", "inspect", p.name+"_nginx").Run() == nil {
		out, _ := exec.Command("docker", "service", "ps", "--no-trunc", p.name+"_nginx").CombinedOutput()
		p.t.Fatalf("%d running nginx containers of the swarm stack, want 1:\n%s", len(swarmNginx), out)
	}
	out := strings.TrimSpace(docker(p.t, "port", p.name+"-nginx-1", adminPort))
	if !strings.HasPrefix(out, "127.0.0.1:") || strings.Contains(out, "\n") {
		p.t.Fatalf("docker port nginx %s = %q, want one address on 127.0.0.1", adminPort, out)
	}
	return out
}

// With nginx.public_admin_paths false, the public port serves the app but not
// its /chaos and /metrics; SwiftDeploy's chaos and status still work, through
// the admin listener on loopback, and SwiftDeploy's own probe paths were
// never on the public port.
func TestTheAdminPathsLeaveThePublicPortWhenTheManifestSaysSo(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{mode: "canary", closeAdminPaths: true})
	out := p.must("validate")
	if !strings.Contains(out, "serves the app without /chaos and /metrics") {
		t.Errorf("validate does not say what the public port serves:\n%s", out)
	}
	p.must("deploy")
	for _, path := range []string{"/chaos", "/metrics"} {
		resp, body := p.do(http.MethodPost, path, `{"mode":"error","rate":1}`)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "admin listener") {
			t.Errorf("POST %s on the public port: %d %q, want nginx's 404 naming the admin listener", path, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/.well-known/swiftdeploy/probe", "/.well-known/swiftdeploy/routing"} {
		if resp, body := p.get(path); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"path":"`+path+`"`) {
			t.Errorf("GET %s on the public port: %d %q, want the app's own 404", path, resp.StatusCode, body)
		}
	}
	p.must("chaos", "error", "-rate=1")
	if resp, _ := p.get("/"); resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("GET / after chaos through the admin listener: %d, want 500", resp.StatusCode)
	}
	resp, err := http.Get("http://" + p.adminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics on the admin listener: %d, want 200", resp.StatusCode)
	}
	if out := p.must("status", "-once", "-json"); !strings.Contains(out, `"chaos": "error"`) && !strings.Contains(out, `"chaos":"error"`) {
		t.Errorf("status does not show the chaos it scraped from the admin listener:\n%s", out)
	}
	p.must("chaos", "recover")
}

// TestChaosRefusesOversizedBodies posts chaos bodies over the service's small
// limit: whoever refuses them, nginx or the app, nothing may be injected.
func TestChaosRefusesOversizedBodies(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{mode: "canary"})
	p.must("deploy")
	for _, size := range []int{2 << 10, 64 << 10} {
		body := `{"mode":"error","rate":1,"pad":"` + strings.Repeat("x", size) + `"}`
		resp, answer := p.do(http.MethodPost, "/chaos", body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("POST /chaos with %d bytes: %d %.200q, want 413", len(body), resp.StatusCode, answer)
		}
		if size == 2<<10 {
			var doc struct{ Error string }
			if err := json.Unmarshal([]byte(answer), &doc); err != nil || doc.Error == "" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("413 for %d bytes is not JSON naming the problem: %s %q", len(body), resp.Header.Get("Content-Type"), answer)
			}
		}
	}
	if resp, body := p.get("/"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET / after the refused chaos: %d %s, want 200 (no chaos injected)", resp.StatusCode, body)
	}
}
