package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLifecycleFromInitToTeardown walks the whole life of a stack the way an
// operator would, checking what nginx serves at each step, that no request
// fails while the app is switched between modes, and that the gates block what
// they must.
func TestLifecycleFromInitToTeardown(t *testing.T) {
	p := newProject(t, manifestOptions{})

	// init is deterministic and regenerates deleted files byte for byte.
	p.must("init")
	nginxConf, compose := p.read("nginx.conf"), p.read("docker-compose.yml")
	for _, f := range []string{"nginx.conf", "docker-compose.yml", ".swiftdeploy"} {
		if err := os.RemoveAll(filepath.Join(p.dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	p.must("init")
	if p.read("nginx.conf") != nginxConf || p.read("docker-compose.yml") != compose {
		t.Fatal("init after deleting the generated files did not give byte-identical files")
	}

	p.expect(0, []string{"✔ 1.", "✔ 2.", "✔ 3.", "✔ 4.", "✔ 5.", "docker compose config", "policies compile"}, "validate")

	out := p.expect(0, []string{"policy infrastructure: PASS", "deployed in"}, "deploy")
	t.Logf("deploy: %s", lastLine(out))
	p.expect(0, []string{"already running and healthy"}, "deploy")
	p.expect(0, []string{"held by this stack's own nginx"}, "validate")

	t.Run("nginx serves the app with its headers", func(t *testing.T) { checkServing(t, p, "stable") })
	t.Run("the app port is not reachable from the host", func(t *testing.T) { checkAppUnpublished(t, p) })
	t.Run("chaos is refused in stable mode", func(t *testing.T) {
		resp, body := p.do(http.MethodPost, "/chaos", `{"mode":"error","rate":1}`)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST /chaos in stable: %d %s, want 403", resp.StatusCode, body)
		}
		p.expect(2, []string{"promote canary"}, "chaos", "error", "-rate=1")
	})

	nginxStarted := docker(t, "inspect", "-f", "{{.State.StartedAt}}", p.containers("nginx")[0])
	switchUnderLoad(t, p, "canary")
	t.Run("canary answers with X-Mode on every response", func(t *testing.T) { checkServing(t, p, "canary") })

	t.Run("slow chaos delays / but never /healthz", func(t *testing.T) { checkSlowChaos(t, p) })
	t.Run("error chaos answers 500 that still carry X-Mode", func(t *testing.T) {
		p.expect(0, []string{"chaos error injected"}, "chaos", "error", "-rate=1")
		resp, body := p.get("/")
		if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("X-Mode") != "canary" {
			t.Errorf("GET / under error chaos: %d X-Mode=%q %s", resp.StatusCode, resp.Header.Get("X-Mode"), body)
		}
		checkHeaderOnce(t, resp, "X-Deployed-By", "swiftdeploy")
		if resp, _ := p.get("/healthz"); resp.StatusCode != http.StatusOK {
			t.Errorf("/healthz under error chaos: %d, want 200", resp.StatusCode)
		}
	})
	t.Run("bad chaos values are refused", func(t *testing.T) {
		p.expect(2, []string{"30"}, "chaos", "slow", "-duration=99")
		p.expect(2, []string{"rate"}, "chaos", "error", "-rate=1.5")
		p.expect(2, []string{"number"}, "chaos", "slow", "-duration=abc")
		p.expect(2, []string{"unknown chaos mode"}, "chaos", "boom")
	})

	t.Run("the policy blocks a promotion while errors run high", func(t *testing.T) {
		p.must("chaos", "error", "-rate=0.5")
		l := checkDenied(t, p, "error_rate", "error rate")
		defer l.stop()
		// status measures from the promotion's last sample to now, with traffic going on.
		time.Sleep(time.Second)
		p.expect(0, []string{"FAIL", "error_rate"}, "status", "-once")
		var doc struct {
			Mode     string
			Chaos    string
			Policies map[string]struct {
				Status     string
				Violations []struct{ Rule string }
			}
		}
		jsonOut := p.must("status", "-once", "-json")
		if err := json.Unmarshal([]byte(jsonOut), &doc); err != nil {
			t.Fatalf("status -json is not one JSON document: %v\n%s", err, jsonOut)
		}
		canary := doc.Policies["canary"]
		if doc.Mode != "canary" || doc.Chaos != "error" || canary.Status != "FAIL" || len(canary.Violations) == 0 || canary.Violations[0].Rule != "error_rate" {
			t.Errorf("status -json: %+v", doc)
		}
	})
	t.Run("the policy blocks a promotion while P99 runs high", func(t *testing.T) {
		p.must("chaos", "slow", "-duration=1")
		// Samples recorded under error chaos must age out of reach (over two windows).
		time.Sleep(7 * time.Second)
		checkDenied(t, p, "p99_latency", "P99 latency").stop()
	})

	t.Run("nginx answers a JSON 502 while the app is stopped", func(t *testing.T) {
		p.must("chaos", "recover")
		app := p.containers("app")
		docker(t, append([]string{"stop"}, app...)...)
		defer restartApp(t, p, app)
		// nginx drops the stopped app from its pool when it next resolves the
		// name (within 3 s); until then its address may swallow connects.
		time.Sleep(4 * time.Second)
		resp, body := p.get("/")
		var doc map[string]any
		if err := json.Unmarshal([]byte(body), &doc); err != nil || resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("GET / with the app stopped: %d %q (%v)", resp.StatusCode, body, err)
		}
		if doc["code"] != 502.0 || doc["service"] != "app" || doc["contact"] != "ops+e2e@example.com" || doc["error"] == "" {
			t.Errorf("502 body: %v", doc)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("502 Content-Type %q", ct)
		}
		checkHeaderOnce(t, resp, "X-Deployed-By", "swiftdeploy")
	})

	// Let the chaos leave the measuring window, then the promotion goes through.
	time.Sleep(7 * time.Second)
	switchUnderLoad(t, p, "stable")
	if got := docker(t, "inspect", "-f", "{{.State.StartedAt}}", p.containers("nginx")[0]); got != nginxStarted {
		t.Errorf("nginx restarted during the promotions: started %s, then %s", nginxStarted, got)
	}
	p.expect(0, []string{"already in stable mode"}, "promote", "stable")

	t.Run("rollback returns to stable and is recorded", func(t *testing.T) {
		p.must("promote", "canary")
		out := switchUnderLoad(t, p, "stable", "rollback")
		for _, want := range []string{"rollback: canary → stable", "policy canary: PASS"} {
			if !strings.Contains(out, want) {
				t.Errorf("rollback output lacks %q", want)
			}
		}
		if !strings.Contains(p.read("manifest.yaml"), "  mode: stable   # stable | canary\n") {
			t.Errorf("manifest after rollback:\n%s", p.read("manifest.yaml"))
		}
		history := p.read("history.jsonl")
		if !strings.Contains(history, `"event":"rollback"`) || !strings.Contains(history, `"action":"rollback"`) {
			t.Error("history.jsonl records no rollback and its decision")
		}
	})

	t.Run("audit tells the story", func(t *testing.T) {
		p.expect(0, []string{"audit_report.md"}, "audit")
		report := p.read("audit_report.md")
		for _, want := range []string{"## Timeline", "rollback", "canary → stable", "chaos", "## Policy violations",
			"exceeds the 1.00% limit", "exceeds the 500.00 ms limit", "```mermaid", "xychart-beta"} {
			if !strings.Contains(report, want) {
				t.Errorf("audit_report.md lacks %q", want)
			}
		}
		if t.Failed() {
			t.Log(report)
		}
	})

	p.expect(0, []string{"no container, network or volume left"}, "teardown", "-clean")
	if left := p.leftovers(); len(left) > 0 {
		t.Errorf("teardown left %v", left)
	}
	for _, f := range []string{"nginx.conf", "docker-compose.yml", ".swiftdeploy"} {
		if p.exists(f) {
			t.Errorf("teardown -clean left %s", f)
		}
	}
	p.expect(0, []string{"no container, network or volume left"}, "teardown")
}

// restartApp starts stopped app containers again and waits until nginx reaches
// them, at whatever new address they got.
func restartApp(t *testing.T, p *project, app []string) {
	t.Helper()
	docker(t, append([]string{"start"}, app...)...)
	waitUntil(t, 60*time.Second, "the restarted app through nginx", func() bool {
		resp, err := http.Get(p.url("/healthz"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// switchUnderLoad promotes to mode while 20 clients hammer nginx, and requires
// that not one request failed.
func switchUnderLoad(t *testing.T, p *project, mode string, command ...string) string {
	t.Helper()
	if len(command) == 0 {
		command = []string{"promote", mode}
	}
	before := p.read("manifest.yaml")
	l := startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	time.Sleep(time.Second)
	out := p.expect(0, []string{command[0] + ": ", "confirms mode " + mode}, command...)
	time.Sleep(time.Second)
	l.stop()
	t.Logf("switch to %s: %s; load: %s", mode, lastLine(out), l)
	if l.non2xx.Load() != 0 || l.errs.Load() != 0 || l.ok.Load() == 0 {
		t.Errorf("switch to %s under load: %s", mode, l)
		p.logNginxTrouble()
	}
	after := p.read("manifest.yaml")
	if want := strings.Replace(before, "mode: "+other(mode), "mode: "+mode, 1); after != want {
		t.Errorf("%s changed more of the manifest than the mode:\n%s", command[0], after)
	}
	return out
}

// logNginxTrouble logs what nginx said besides successful requests, to show
// why a request failed.
func (p *project) logNginxTrouble() {
	for _, id := range p.containers("nginx") {
		var trouble []string
		for _, line := range nginxLog(p.t, id) {
			if line != "" && !strings.Contains(line, " | 200 | ") {
				trouble = append(trouble, line)
			}
		}
		p.t.Logf("nginx log, all but the 200s (last %d lines):\n%s", min(len(trouble), 60), strings.Join(trouble[max(0, len(trouble)-60):], "\n"))
	}
}

// nginxLog is what an nginx container wrote (docker logs): its access log
// and its errors, a line each.
func nginxLog(t testing.TB, id string) []string {
	return strings.Split(docker(t, "logs", id), "\n")
}

func other(mode string) string {
	if mode == "stable" {
		return "canary"
	}
	return "stable"
}

// checkDenied asks for a promotion to stable under traffic and expects the
// policy to refuse it naming rule, changing nothing. The traffic goes on: the
// caller stops it.
func checkDenied(t *testing.T, p *project, rule, message string) *load {
	t.Helper()
	manifest := p.read("manifest.yaml")
	apps := p.containers("app")
	l := startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	time.Sleep(time.Second)
	p.expect(3, []string{"policy canary: FAIL", rule, message, "nothing was changed"}, "promote", "stable")
	if p.read("manifest.yaml") != manifest {
		t.Error("a denied promotion changed the manifest")
	}
	if got := p.containers("app"); strings.Join(got, ",") != strings.Join(apps, ",") {
		t.Errorf("a denied promotion changed the app containers: %v → %v", apps, got)
	}
	if !strings.Contains(p.read("history.jsonl"), `"event":"promote_blocked"`) {
		t.Error("history.jsonl has no promote_blocked event")
	}
	return l
}

func checkServing(t *testing.T, p *project, mode string) {
	t.Helper()
	resp, body := p.get("/")
	var root struct{ Message, Mode, Version, Timestamp string }
	if err := json.Unmarshal([]byte(body), &root); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /: %d %q", resp.StatusCode, body)
	}
	if root.Mode != mode || root.Version != "2.0.0" || root.Message == "" {
		t.Errorf("GET / body %+v", root)
	}
	if _, err := time.Parse(time.RFC3339, root.Timestamp); err != nil || !strings.HasSuffix(root.Timestamp, "Z") {
		t.Errorf("timestamp %q is not RFC 3339 UTC", root.Timestamp)
	}
	checkHeaderOnce(t, resp, "X-Deployed-By", "swiftdeploy")
	resp, body = p.get("/healthz")
	var health struct {
		Status, Mode  string
		UptimeSeconds *float64 `json:"uptime_seconds"`
	}
	if err := json.Unmarshal([]byte(body), &health); err != nil || health.Status != "ok" || health.Mode != mode || health.UptimeSeconds == nil {
		t.Errorf("GET /healthz: %d %q", resp.StatusCode, body)
	}
	checkHeaderOnce(t, resp, "X-Deployed-By", "swiftdeploy")
	nf, _ := p.get("/no/such/path")
	if nf.StatusCode != 404 || !strings.HasPrefix(nf.Header.Get("Content-Type"), "application/json") {
		t.Errorf("unknown path: %d %s", nf.StatusCode, nf.Header.Get("Content-Type"))
	}
	for _, r := range []*http.Response{resp, nf} {
		if mode == "canary" {
			checkHeaderOnce(t, r, "X-Mode", "canary")
		} else if len(r.Header.Values("X-Mode")) != 0 {
			t.Errorf("stable response carries X-Mode %v", r.Header.Values("X-Mode"))
		}
	}
	if policy, _ := p.get("/v1/data"); policy.StatusCode != 404 {
		t.Errorf("GET /v1/data through nginx: %d, want 404 (no policy engine behind nginx)", policy.StatusCode)
	}
}

func checkHeaderOnce(t *testing.T, resp *http.Response, name, want string) {
	t.Helper()
	if got := resp.Header.Values(name); len(got) != 1 || got[0] != want {
		t.Errorf("%s %s: header %s = %q, want exactly one %q", resp.Request.Method, resp.Request.URL.Path, name, got, want)
	}
}

func checkAppUnpublished(t *testing.T, p *project) {
	for _, id := range p.containers("app") {
		if ports := docker(t, "port", id); ports != "" {
			t.Errorf("the app publishes %q on the host", ports)
		}
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:3000", time.Second); err == nil {
		c.Close()
		t.Error("something answers on the app port 3000 on the host")
	}
}

func checkSlowChaos(t *testing.T, p *project) {
	p.expect(0, []string{"chaos slow injected"}, "chaos", "slow", "-duration=2")
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		resp, err := http.Get(p.url("/"))
		if err == nil {
			resp.Body.Close()
		}
		done <- time.Since(start)
	}()
	time.Sleep(300 * time.Millisecond)
	if resp, _ := p.get("/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz during slow chaos: %d", resp.StatusCode)
	}
	select {
	case d := <-done:
		t.Errorf("GET / finished after %s, before /healthz: slow chaos did not delay it", d)
	default:
	}
	if d := <-done; d < 2*time.Second {
		t.Errorf("GET / under slow chaos took %s, want at least 2s", d)
	}
	p.must("chaos", "recover")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
