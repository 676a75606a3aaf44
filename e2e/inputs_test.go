package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// severalMistakes has five problems; all must be reported at once.
const severalMistakes = `services:
  image: swift-deploy-1-node:latest
  port: 70000
  mode: production
  colour: blue
nginx:
  image: nginx:latest
  port: "eighty"
  proxy_timeout: 0
network:
  name: swiftdeploy-net
`

func TestABadManifestIsReportedWholeAndGeneratesNothing(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	p.write("manifest.yaml", severalMistakes)
	for _, target := range []string{"init", "deploy"} {
		out := p.expect(2, []string{
			"manifest.yaml:3:9: services.port",
			"manifest.yaml:4:9: services.mode",
			"manifest.yaml:5:3: services.colour",
			"manifest.yaml:8:9: nginx.port",
			"manifest.yaml:9:18: nginx.proxy_timeout",
			"network.driver_type",
		}, target)
		if strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
			t.Errorf("%s printed a stack trace", target)
		}
	}
	for _, f := range []string{"nginx.conf", "docker-compose.yml", ".swiftdeploy"} {
		if p.exists(f) {
			t.Errorf("a bad manifest generated %s", f)
		}
	}
	if left := p.leftovers(); len(left) > 0 {
		t.Errorf("a bad manifest started %v", left)
	}
}

func TestBadArgumentsExitTwoAndAreRecorded(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	p := newProject(t, manifestOptions{})
	p.expect(2, []string{`unknown mode "foo"`}, "promote", "foo")
	p.expect(2, []string{`unknown chaos mode "boom"`}, "chaos", "boom")
	p.expect(2, []string{"needs -duration"}, "chaos", "slow")
	p.expect(2, []string{"must be a number"}, "chaos", "error", "-rate=lots")
	p.expect(2, []string{"takes no value"}, "chaos", "recover", "-rate=1")
	p.expect(2, []string{"-timeout"}, "deploy", "-timeout=soon")
	p.expect(2, []string{"-interval"}, "status", "-interval=never")
	history := p.read("history.jsonl")
	for _, want := range []string{`"event":"promote"`, `"result":"invalid"`, `"event":"chaos"`} {
		if !strings.Contains(history, want) {
			t.Errorf("history.jsonl lacks %s", want)
		}
	}
}

func TestTheWalkthroughWrapperKeepsExitCodes(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	wrapper := filepath.Join(repoRoot, "swiftdeploy")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"promote", "foo"}, 2, `unknown mode "foo"`},
		{[]string{"chaos", "boom"}, 2, `unknown chaos mode "boom"`},
		{[]string{"chaos", "slow", "abc"}, 2, `duration must be a number, got "abc"`},
		{[]string{"-l"}, 0, "teardown"},
	} {
		cmd := exec.Command(wrapper, c.args...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "SWIFTDEPLOY_PROJECT=swiftdeploy-e2e-wrapper")
		out, err := cmd.CombinedOutput()
		code := 0
		if exitErr, ok := err.(*exec.ExitError); ok {
			code = exitErr.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("./swiftdeploy %s: exit %d, want %d; output %q lacks %q", strings.Join(c.args, " "), code, c.code, out, c.want)
		}
	}
}

// TestValidateNamesEachFailingCheck breaks each check in turn and expects
// validate to mark exactly that one with ✘ and exit non-zero.
func TestValidateNamesEachFailingCheck(t *testing.T) {
	t.Parallel() // no load on it: it may share the machine with the others like it (the harness)
	cases := []struct {
		name  string
		code  int
		check string
		want  string
		setup func(p *project)
	}{
		{"no manifest", 2, "✘ 1.", "manifest.yaml", func(p *project) { os.Remove(filepath.Join(p.dir, "manifest.yaml")) }},
		{"invalid YAML", 2, "✘ 1.", "yaml", func(p *project) { p.write("manifest.yaml", "services: [unclosed\n") }},
		{"fields out of range", 2, "✘ 2.", "services.port", func(p *project) {
			p.write("manifest.yaml", strings.Replace(p.manifest, "port: 3000", "port: 0", 1))
		}},
		{"missing image", 1, "✘ 3.", "swiftdeploy-e2e-missing:never", func(p *project) {
			p.write("manifest.yaml", strings.Replace(p.manifest, "swift-deploy-1-node:latest", "swiftdeploy-e2e-missing:never", 1))
		}},
		{"port in use", 1, "✘ 4.", "in use", func(p *project) {
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", p.port))
			if err != nil {
				p.t.Fatal(err)
			}
			p.t.Cleanup(func() { l.Close() })
		}},
		{"nginx -t rejects the config", 1, "✘ 5.", "unknown directive", func(p *project) {
			tmpl := p.read("templates/nginx.conf.tmpl")
			p.write("templates/nginx.conf.tmpl", strings.Replace(tmpl, "server_tokens off;", "server_tokens off;\n    no_such_directive on;", 1))
		}},
		// nginx's own image cannot run on the read-only root the stack gives the app.
		{"an image that cannot run hardened", 1, "✘ 6.", "services.read_only: false", func(p *project) {
			p.write("manifest.yaml", strings.Replace(p.manifest, "swift-deploy-1-node:latest", "nginx:latest", 1))
		}},
		{"compose rejects the override", 1, "✘ docker compose config", "", func(p *project) {
			p.write("docker-compose.override.yml", "services:\n  app:\n    ports: 12\n")
		}},
		{"a policy does not compile", 1, "✘ policies compile", "broken.rego", func(p *project) {
			p.write("policies/broken.rego", "package swiftdeploy.broken\n\ndecision := {\n")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newProject(t, manifestOptions{})
			c.setup(p)
			out := p.expect(c.code, []string{c.check, c.want}, "validate")
			if n := strings.Count(out, "✘"); n != 1 {
				t.Errorf("%d checks failed, want only %q", n, c.check)
			}
		})
	}
}
