package e2e

import (
	"cmp"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// The stack beside other proxies, on the same app container in one run: the
// stack's public port; HAProxy, Caddy and a minimal nginx from Debian's
// packages, run here as host processes pointing at the app container's
// address; and that address itself, direct. The bench target installs the
// three (internal/host's PeerProxies); each runs with its own configuration in
// a folder of the benchmark's on a free port of 127.0.0.1, and is stopped when
// the benchmark ends.
//
// Besides, to say where the stack's cost comes from, the closed loop measures
// a ladder of nginx containers from the stack's own nginx image (the same
// nginx as the stack's, which the host's is not), each one step nearer the
// stack: a minimal configuration on the host's network; the same on the
// stack's bridge network behind a published port, as the stack's nginx is;
// plus the stack's forwarding headers; plus its two access logs. The stack
// itself is the last step: the rest of its configuration.

// proxyTarget is one way to the app that the benchmark loads.
type proxyTarget struct {
	name string
	addr string // host:port that clients connect to
	// peer is true for the peer proxies, the stack's competitors.
	peer bool
	// why, when set, says what went wrong with a target that does not answer.
	why func() string
}

func (t *proxyTarget) url() string { return "http://" + t.addr + "/" }

// The shape of BenchmarkProxies. Closed loop: proxiesRounds rounds, each
// target loaded for proxiesRound in each, in an order rotated from one round to
// the next so that no target always follows the same one, or always comes
// first; a target's figure is the median of its rounds, so that a burst of
// another process's work on the two cores outvotes no target. Open loop:
// proxiesOpenRounds rounds at each rate, each target loaded for proxiesOpenFor
// in each, proxiesSettle apart, in an order rotated from one round and one
// rate to the next; a target's figures are its better round's (betterRound).
const (
	proxiesClients    = 20
	proxiesRounds     = 5
	proxiesRound      = 1500 * time.Millisecond
	proxiesWarmUp     = 300 * time.Millisecond
	proxiesOpenFor    = 4 * time.Second
	proxiesOpenRounds = 2
	proxiesSettle     = time.Second
)

// The peers and the ladder's nginx take as many connections as the stack's
// nginx (templates/nginx.conf.tmpl): past saturation the open-loop generator
// opens up to openLoopMaxWorkers connections, and nginx needs two per
// proxied one.
const (
	proxiesConnections = 8192
	proxiesFiles       = 16384
)

// BenchmarkProxies measures the stack beside HAProxy, Caddy and a minimal
// nginx, and direct, all on the stack's own app container in one run.
//
// closed/<target>: 20 closed-loop clients that never retry (req/s, the median
// of the target's rounds; p50, p99 and failed over all of them; the ladder's
// steps are targets too). 1000rps/<target> and 5000rps/<target>: open-loop
// load at 1,000 and 5,000 req/s (the requests answered 2xx as ok, failed, p50,
// p99 and p99.9, the rate really sent; for the stack, the times its nginx ran
// out of connections). search: the highest rate the fastest peer of the
// closed loop keeps up with (keptUpRate), which held/<target> measures as the
// fixed rates, and one and a half times that, the rate past saturation that
// overload/<target> measures the same way.
// internal/benchreport sets the targets side by side and compares the stack
// with the best peer.
func BenchmarkProxies(b *testing.B) {
	programs := peerPrograms(b)
	p := newProject(b, manifestOptions{})
	p.must("deploy")
	app := appAddress(b, p)
	nginxImage := docker(b, "inspect", "--format", "{{.Config.Image}}", p.containers("nginx")[0])
	b.Logf("the app container at %s; peers: %s", app, peerVersions(b, programs))

	targets := []*proxyTarget{
		{name: "stack", addr: fmt.Sprintf("127.0.0.1:%d", p.port)},
		{name: "haproxy", addr: startHAProxy(b, programs["haproxy"], app), peer: true},
		{name: "caddy", addr: startCaddy(b, programs["caddy"], app), peer: true},
		{name: "nginx", addr: startHostNginx(b, programs["nginx"], app), peer: true},
		{name: "direct", addr: app},
	}
	ladder := startNginxLadder(b, p, nginxImage, app)
	for _, t := range slices.Concat(targets, ladder) {
		answers(b, t)
	}

	var best *proxyTarget // by closed-loop throughput
	b.Run("closed", func(b *testing.B) {
		figures := closedRounds(b, slices.Concat(targets, ladder))
		best = bestPeer(targets, func(t *proxyTarget) float64 { return figures[t.name].rate() })
		for _, t := range slices.Concat(targets, ladder) {
			b.Run(t.name, func(b *testing.B) {
				for b.Loop() {
				}
				figures[t.name].report(b)
				if t.name == "stack" {
					b.Logf("%.1f %% of the best peer, %s at %.0f req/s", figures["stack"].rate()/figures[best.name].rate()*100, best.name, figures[best.name].rate())
				}
			})
		}
	})
	stackNginx := p.containers("nginx")[0]
	openLoop := func(name string, offset int, rate func(b *testing.B) int) {
		b.Run(name, func(b *testing.B) {
			r := rate(b)
			shortBefore := connectionShortages(b, stackNginx)
			rounds := openRounds(b, targets, r, offset)
			short := connectionShortages(b, stackNginx) - shortBefore
			for _, t := range targets {
				b.Run(t.name, func(b *testing.B) {
					for b.Loop() {
					}
					o := betterRound(rounds[t.name])
					for i, round := range rounds[t.name] {
						b.Logf("round %d: %s", i+1, round)
					}
					reportOpenLoad(b, o)
					b.ReportMetric(float64(o.metrics.Requests-o.failed), "ok")
					b.ReportMetric(float64(r), "rate-req/s")
					if t.name == "stack" {
						b.Logf("the stack's nginx logged \"worker_connections are not enough\" %d times in these rounds", short)
						b.ReportMetric(float64(short), "conn-shortages")
					}
				})
			}
		})
	}
	fixed := func(rate int) func(*testing.B) int { return func(*testing.B) int { return rate } }
	openLoop("1000rps", 0, fixed(1000))
	openLoop("5000rps", 1, fixed(5000))

	keptUp, overload := 0, 0
	b.Run("search", func(b *testing.B) {
		if best == nil {
			b.Fatal("the rate past saturation comes from the best peer in the closed loop: run BenchmarkProxies/closed too")
		}
		for b.Loop() {
			keptUp = keptUpRate(b, best)
		}
		overload = max(keptUp, proxiesSearchFrom) * 3 / 2 / 100 * 100
		b.Logf("%s, the best peer in the closed loop, kept up with %d req/s (0: not even %d); past saturation: %d req/s", best.name, keptUp, proxiesSearchFrom, overload)
		b.ReportMetric(float64(keptUp), "best-peer-kept-up-req/s")
		b.ReportMetric(float64(overload), "overload-req/s")
	})
	openLoop("held", 3, func(b *testing.B) int {
		if keptUp == 0 {
			b.Fatal("the highest rate the best peer keeps up with comes from BenchmarkProxies/search: run it too")
		}
		return keptUp
	})
	openLoop("overload", 2, func(b *testing.B) int {
		if overload == 0 {
			b.Fatal("the rate past saturation comes from BenchmarkProxies/search: run it too")
		}
		return overload
	})
}

// connectionShortages counts the times the stack's nginx has logged that it
// ran out of connections: it then closes new ones at once, which clients see
// as failed requests. nginx's errors are the container's standard error.
func connectionShortages(b *testing.B, nginx string) int {
	b.Helper()
	var errors strings.Builder
	logs := exec.Command("docker", "logs", nginx)
	logs.Stderr = &errors
	if err := logs.Run(); err != nil {
		b.Fatalf("docker logs %s: %v", nginx, err)
	}
	return strings.Count(errors.String(), "worker_connections are not enough")
}

// The search for the rate past saturation: the highest rate the best peer
// keeps up with (no failure, the rate really sent, and p99 within
// proxiesKeptUpP99: past saturation queues grow by the second and p99 reaches
// the timeout, while a burst of another process's work on the two cores costs
// tens of milliseconds), in rates doubling from proxiesSearchFrom, then
// proxiesBisections halvings of the gap to the first rate it did not keep up
// with, proxiesSearchStep each, a step that fails tried once more. One and a
// half times that rate is past the first rate not kept up with (the gap left
// is at most a quarter), and not so far past that the generator's own limits
// decide every figure.
const (
	proxiesSearchFrom = 1000
	proxiesSearchTo   = 32000
	proxiesBisections = 2
	proxiesSearchStep = 2 * time.Second
	proxiesKeptUpP99  = 100 * time.Millisecond
)

// keptUpRate returns the highest rate t keeps up with, 0 if not even
// proxiesSearchFrom.
func keptUpRate(b *testing.B, t *proxyTarget) int {
	b.Helper()
	try := func(rate int) bool {
		for range 2 {
			time.Sleep(proxiesSettle)
			o := attackFor(b, t.url(), rate, proxiesSearchStep)
			keptUp := o.failed == 0 && o.metrics.Rate >= heldSentShare*float64(rate) && o.p99() <= proxiesKeptUpP99
			b.Logf("search on %s: kept up=%v %s", t.name, keptUp, o)
			if keptUp {
				return true
			}
		}
		return false
	}
	keptUp, notKeptUp := 0, 0
	for rate := proxiesSearchFrom; rate <= proxiesSearchTo; rate *= 2 {
		if !try(rate) {
			notKeptUp = rate
			break
		}
		keptUp = rate
	}
	if keptUp == 0 || notKeptUp == 0 {
		return keptUp
	}
	for range proxiesBisections {
		if mid := (keptUp + notKeptUp) / 2; try(mid) {
			keptUp = mid
		} else {
			notKeptUp = mid
		}
	}
	return keptUp
}

// peerPrograms finds the peer proxies' programs, which the bench target
// installs. Without them the benchmark fails: the comparison is its point.
func peerPrograms(b *testing.B) map[string]string {
	b.Helper()
	programs := map[string]string{}
	for name, path := range map[string]string{"haproxy": "/usr/sbin/haproxy", "caddy": "/usr/bin/caddy", "nginx": "/usr/sbin/nginx"} {
		if _, err := os.Stat(path); err != nil {
			b.Fatalf("%s is missing: `go run magefile.go bench` installs HAProxy, Caddy and nginx-light before it runs this benchmark (%v)", path, err)
		}
		programs[name] = path
	}
	return programs
}

// peerVersions names each peer's version, for the log.
func peerVersions(b *testing.B, programs map[string]string) string {
	var versions []string
	for _, v := range [][]string{{programs["haproxy"], "-v"}, {programs["caddy"], "version"}, {programs["nginx"], "-v"}} {
		out, err := exec.Command(v[0], v[1:]...).CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v: %s", strings.Join(v, " "), err, out)
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		versions = append(versions, line)
	}
	return strings.Join(versions, "; ")
}

// appAddress is the address of the stack's app container on its network,
// which the host reaches over the bridge.
func appAddress(b *testing.B, p *project) string {
	b.Helper()
	apps := p.containers("app")
	if len(apps) != 1 {
		b.Fatalf("want one app container, found %v", apps)
	}
	ip := docker(b, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", apps[0])
	if ip == "" {
		b.Fatalf("the app container %s has no address", apps[0])
	}
	return ip + ":3000"
}

// answers checks that t serves the app before it is measured; a target that
// does not has why say what it knows (a container's log).
func answers(b *testing.B, t *proxyTarget) {
	b.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	last := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get(t.url())
		if err != nil {
			last = err.Error()
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		last = resp.Status
	}
	why := ""
	if t.why != nil {
		why = t.why()
	}
	b.Fatalf("%s (%s) does not answer through to the app: %s\n%s", t.name, t.addr, last, why)
}

// bestPeer is the peer with the highest score.
func bestPeer(targets []*proxyTarget, score func(*proxyTarget) float64) *proxyTarget {
	var best *proxyTarget
	for _, t := range targets {
		if t.peer && (best == nil || score(t) > score(best)) {
			best = t
		}
	}
	return best
}

// closedFigures are one target's closed-loop rounds.
type closedFigures struct {
	rates     []float64
	failed    int64
	latencies []time.Duration
	firstErr  string
}

// rate is the median of the rounds' throughputs.
func (c *closedFigures) rate() float64 {
	sorted := slices.Clone(c.rates)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

func (c *closedFigures) quantile(q float64) time.Duration {
	if len(c.latencies) == 0 {
		return 0
	}
	return c.latencies[min(len(c.latencies)-1, int(q*float64(len(c.latencies))))]
}

func (c *closedFigures) report(b *testing.B) {
	b.ReportMetric(c.rate(), "req/s")
	b.ReportMetric(ms(c.quantile(0.50)), "p50-ms")
	b.ReportMetric(ms(c.quantile(0.99)), "p99-ms")
	b.ReportMetric(float64(c.failed), "failed")
	b.Logf("rounds %.0f req/s; %d failed (first: %q)", c.rates, c.failed, c.firstErr)
}

// closedRounds loads every target with proxiesClients closed-loop clients in
// proxiesRounds rounds, after a short warm-up of each (connections opened,
// pools filled, the app's and the proxies' code paths hot).
func closedRounds(b *testing.B, targets []*proxyTarget) map[string]*closedFigures {
	b.Helper()
	for _, t := range targets {
		l := startLoad(b, t.addr, "/", proxiesClients)
		time.Sleep(proxiesWarmUp)
		l.stop()
	}
	figures := map[string]*closedFigures{}
	for _, t := range targets {
		figures[t.name] = &closedFigures{}
	}
	n := len(targets)
	for r := range proxiesRounds {
		var order []string
		for i := range n {
			t := targets[(i+r*n/proxiesRounds)%n]
			order = append(order, t.name)
			l := startLoad(b, t.addr, "/", proxiesClients)
			time.Sleep(proxiesRound)
			l.stop()
			f := figures[t.name]
			f.rates = append(f.rates, l.rate())
			f.failed += l.errs.Load() + l.non2xx.Load()
			f.latencies = append(f.latencies, l.latencies...)
			if f.firstErr == "" {
				f.firstErr = l.firstErr
			}
		}
		b.Logf("closed loop, round %d: %s", r+1, strings.Join(order, ", "))
	}
	for _, f := range figures {
		slices.Sort(f.latencies)
	}
	return figures
}

// openRounds sends open-loop load at rate to each target in turn, in
// proxiesOpenRounds rounds, the first starting with the target at offset and
// each next one rotated on, and returns each target's attacks.
func openRounds(b *testing.B, targets []*proxyTarget, rate, offset int) map[string][]*openLoad {
	b.Helper()
	rounds := map[string][]*openLoad{}
	n := len(targets)
	for r := range proxiesOpenRounds {
		for i := range n {
			t := targets[(i+offset+r*n/proxiesOpenRounds)%n]
			time.Sleep(proxiesSettle)
			o := attackFor(b, t.url(), rate, proxiesOpenFor)
			rounds[t.name] = append(rounds[t.name], o)
			if o.failed > 0 || o.metrics.Rate < heldSentShare*float64(rate) {
				time.Sleep(proxiesSettle) // an overloaded target leaves queues behind
			}
		}
	}
	return rounds
}

// betterRound is the round with the fewest failures, then the lowest p99:
// another process's burst on the two cores only ever makes a round worse.
func betterRound(rounds []*openLoad) *openLoad {
	return slices.MinFunc(rounds, func(x, y *openLoad) int {
		if x.failed != y.failed {
			return cmp.Compare(x.failed, y.failed)
		}
		return cmp.Compare(x.p99(), y.p99())
	})
}

// peerCommand runs a peer proxy, which the kernel asks to stop (SIGTERM)
// should this process die before it stops the peer itself: a benchmark
// killed half way leaves no proxy on the host.
func peerCommand(program string, args ...string) *exec.Cmd {
	cmd := exec.Command(program, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return cmd
}

// peerDir is a folder for one peer's configuration and files, which the peer's
// unprivileged processes may read.
func peerDir(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

func writeConfig(b *testing.B, path, text string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		b.Fatal(err)
	}
}

// startHAProxy runs HAProxy in the foreground with a minimal HTTP proxy to
// app, keeping its connections to the app alive (as by default), and returns
// its address.
func startHAProxy(b *testing.B, program, app string) string {
	b.Helper()
	dir := peerDir(b)
	port := freePort(b)
	config := filepath.Join(dir, "haproxy.cfg")
	writeConfig(b, config, haproxyConfig("", fmt.Sprintf("127.0.0.1:%d", port), app))
	return startServer(b, peerCommand(program, "-db", "-f", config), port)
}

// haproxyConfig is a minimal HTTP proxy from bind to server, keeping its
// connections to server alive (as by default), with global's lines added.
func haproxyConfig(global, bind, server string) string {
	return fmt.Sprintf(`global
    maxconn %[1]d
%[2]s
defaults
    mode http
    maxconn %[1]d
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 65s

frontend bench
    bind %[3]s
    default_backend upstream

backend upstream
    server upstream %[4]s
`, proxiesConnections, global, bind, server)
}

// startCaddy runs Caddy with a reverse proxy to app and nothing else (no
// admin endpoint, no certificates), and returns its address.
func startCaddy(b *testing.B, program, app string) string {
	b.Helper()
	dir := peerDir(b)
	port := freePort(b)
	config := filepath.Join(dir, "Caddyfile")
	writeConfig(b, config, fmt.Sprintf(`{
	admin off
	auto_https off
}

http://127.0.0.1:%d {
	bind 127.0.0.1
	reverse_proxy %s
}
`, port, app))
	caddy := peerCommand(program, "run", "--config", config, "--adapter", "caddyfile")
	// What Caddy keeps (its autosaved configuration, its CA's folder) goes
	// to the benchmark's folder, removed afterwards.
	caddy.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	return startServer(b, caddy, port)
}

// ladderNginx shapes an nginx configuration for the host's nginx and the
// ladder's containers: a minimal proxy with a pool of keep-alive connections
// to the app, and the stack's forwarding headers and access logs when asked.
type ladderNginx struct {
	Listen, App, Run   string // Run holds the pid and temp files
	ErrorLog, LogDir   string
	Headers, Logs      bool
	Connections, Files int
}

var ladderNginxConf = template.Must(template.New("nginx.conf").Parse(`worker_processes auto;
worker_rlimit_nofile {{ .Files }};
pid {{ .Run }}/nginx.pid;
error_log {{ .ErrorLog }} warn;

events {
    worker_connections {{ .Connections }};
}

http {
    default_type application/json;
    client_body_temp_path {{ .Run }}/client_body;
    proxy_temp_path       {{ .Run }}/proxy;
    fastcgi_temp_path     {{ .Run }}/fastcgi;
    uwsgi_temp_path       {{ .Run }}/uwsgi;
    scgi_temp_path        {{ .Run }}/scgi;
{{- if .Logs }}
    log_format swiftdeploy '$time_iso8601 | $status | ${request_time}s | $upstream_addr | $request';
    access_log /dev/stdout swiftdeploy buffer=32k flush=1s;
    access_log {{ .LogDir }}/nginx-access.log swiftdeploy buffer=64k flush=1s;
{{- else }}
    access_log off;
{{- end }}
    keepalive_timeout 65s;
    keepalive_requests 10000;
{{- if .Headers }}
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ""      "";
    }
{{- end }}

    upstream app {
        server {{ .App }};
        keepalive 64;
        keepalive_requests 10000;
        keepalive_timeout 4s;
    }

    server {
        listen {{ .Listen }};
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
{{- if .Headers }}
            proxy_hide_header X-Deployed-By;
            add_header X-Deployed-By swiftdeploy always;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
{{- else }}
            proxy_set_header Connection "";
{{- end }}
        }
    }
}
`))

func (n ladderNginx) render(b *testing.B, path string) {
	b.Helper()
	n.Connections, n.Files = proxiesConnections, proxiesFiles
	var text strings.Builder
	if err := ladderNginxConf.Execute(&text, n); err != nil {
		b.Fatal(err)
	}
	writeConfig(b, path, text.String())
}

// startHostNginx runs the host's nginx (Debian's nginx-light) in the
// foreground with the minimal configuration, and returns its address.
func startHostNginx(b *testing.B, program, app string) string {
	b.Helper()
	dir := peerDir(b)
	port := freePort(b)
	config := filepath.Join(dir, "nginx.conf")
	ladderNginx{Listen: fmt.Sprintf("127.0.0.1:%d", port), App: app, Run: dir, ErrorLog: "stderr"}.render(b, config)
	return startServer(b, peerCommand(program, "-p", dir, "-e", "stderr", "-c", config, "-g", "daemon off;"), port)
}

// startNginxLadder starts the ladder's nginx containers from image, each run
// as the stack runs its nginx (unprivileged, read-only, no capabilities),
// and returns them as targets.
func startNginxLadder(b *testing.B, p *project, image, app string) []*proxyTarget {
	b.Helper()
	label := "swiftdeploy-e2e-bench=" + p.name
	b.Cleanup(func() {
		if left := docker(b, "ps", "-aq", "--filter", "label="+label); left != "" {
			b.Errorf("the ladder's containers were left behind: %s", left)
		}
	})
	steps := []struct {
		name            string
		hostNetwork     bool
		headers, logged bool
	}{
		{name: "ladder-host-network", hostNetwork: true},
		{name: "ladder-published-port"},
		{name: "ladder-headers", headers: true},
		{name: "ladder-access-logs", headers: true, logged: true},
	}
	var ladder []*proxyTarget
	for _, step := range steps {
		dir := peerDir(b)
		logs := filepath.Join(dir, "logs")
		if err := os.Mkdir(logs, 0o777); err != nil {
			b.Fatal(err)
		}
		if err := os.Chmod(logs, 0o777); err != nil { // past the umask
			b.Fatal(err)
		}
		port := freePort(b)
		conf := ladderNginx{App: app, Run: "/tmp", ErrorLog: "stderr", LogDir: "/var/log/bench-nginx", Headers: step.headers, Logs: step.logged}
		name := fmt.Sprintf("%s-%s", p.name, step.name)
		args := []string{"run", "-d", "--name", name, "--label", label,
			"--user", "65534:65534", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
			"--tmpfs", "/tmp:mode=1777,size=16m",
			"-v", dir + ":/etc/bench-nginx:ro", "-v", logs + ":/var/log/bench-nginx"}
		if step.hostNetwork {
			conf.Listen = fmt.Sprintf("127.0.0.1:%d", port)
			args = append(args, "--network", "host")
		} else {
			conf.Listen = strconv.Itoa(port)
			args = append(args, "--network", p.name+"-net", "-p", fmt.Sprintf("127.0.0.1:%d:%d", port, port),
				"--sysctl", "net.ipv4.tcp_tw_reuse=1", "--sysctl", "net.ipv4.ip_local_port_range=1024 65000")
		}
		conf.render(b, filepath.Join(dir, "nginx.conf"))
		args = append(args, image, "nginx", "-e", "stderr", "-c", "/etc/bench-nginx/nginx.conf", "-g", "daemon off;")
		docker(b, args...)
		b.Cleanup(func() { docker(b, "rm", "-f", "-v", name) })
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ladder = append(ladder, &proxyTarget{name: step.name, addr: addr, why: func() string {
			out, _ := exec.Command("docker", "logs", "--tail", "20", name).CombinedOutput()
			return string(out)
		}})
	}
	return ladder
}
