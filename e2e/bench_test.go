package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The system benchmarks measure the real stack; run them with
// `go run magefile.go bench` (or go test -run '^$' -bench . -benchtime=1x ./e2e/).
// Each reports its figures as custom units; ns/op is the wall time of one run.

// loadDuration is how long the throughput benchmarks keep 20 clients busy.
const loadDuration = 10 * time.Second

// loadFor keeps 20 clients on addr for loadDuration per iteration and reports
// their throughput, latency and failures.
func loadFor(b *testing.B, addr string) {
	for b.Loop() {
		l := startLoad(b, addr, "/", 20)
		time.Sleep(loadDuration)
		l.stop()
		reportLoad(b, l)
	}
}

func reportLoad(b *testing.B, l *load) {
	b.ReportMetric(l.rate(), "req/s")
	b.ReportMetric(float64(l.quantile(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(l.quantile(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(l.errs.Load()+l.non2xx.Load()), "failed")
	b.Logf("%s", l)
}

// BenchmarkThroughputDirect loads the service binary itself on loopback, without
// nginx or Docker, as the baseline for the figures through nginx.
func BenchmarkThroughputDirect(b *testing.B) {
	addr, _ := startService(b, buildService(b, ""))
	loadFor(b, addr)
}

// BenchmarkThroughputThroughNginx loads a deployed stack through nginx.
func BenchmarkThroughputThroughNginx(b *testing.B) {
	p := newProject(b, manifestOptions{})
	p.must("deploy")
	loadFor(b, fmt.Sprintf("127.0.0.1:%d", p.port))
}

// BenchmarkThroughputSeedPython loads a reconstruction of the seed's Python
// service (bench/seed_service.py: single-threaded http.server, a new connection
// per request as HTTP/1.0 has it) exactly as BenchmarkThroughputDirect loads
// ours, so the two compare in the same run. It fails without python3: the
// comparison is one of the targets.
func BenchmarkThroughputSeedPython(b *testing.B) {
	python, err := exec.LookPath("python3")
	if err != nil {
		b.Fatalf("python3 is needed to run the seed's service for comparison (apt-get install python3): %v", err)
	}
	port := freePort(b)
	seed := exec.Command(python, filepath.Join(repoRoot, "bench", "seed_service.py"))
	seed.Env = append(os.Environ(), "MODE=stable", "APP_VERSION=bench", "APP_PORT="+strconv.Itoa(port))
	loadFor(b, startServer(b, seed, port))
}

// middlewarePairs and middlewareRound shape BenchmarkMetricsMiddlewareCost: the
// two binaries take turns in pairs of short rounds, in alternating order, and
// the median pair is the figure, so that drift and bursts on this shared
// machine (another process waking up, the other core busy) fall on both alike
// or are outvoted.
const (
	middlewarePairs = 15
	middlewareRound = time.Second
)

// BenchmarkMetricsMiddlewareCost measures what the metrics middleware costs end
// to end: the service built as shipped and built with -tags nometrics, each on
// loopback under the same 20 clients. It reports both throughputs over all
// rounds; as cost-% the median over the pairs of the throughput lost with the
// middleware, in percent of the throughput without it; and as cpu-cost-% the
// extra CPU time the service spent per request, which other processes on the
// machine disturb far less than throughput.
func BenchmarkMetricsMiddlewareCost(b *testing.B) {
	with := &servedRounds{}
	with.addr, with.pid = startService(b, buildService(b, ""))
	without := &servedRounds{}
	without.addr, without.pid = startService(b, buildService(b, "nometrics"))
	for b.Loop() {
		costs := make([]float64, middlewarePairs)
		for i := range costs {
			var rateWith, rateWithout float64
			if i%2 == 0 {
				rateWith, rateWithout = with.round(b), without.round(b)
			} else {
				rateWithout, rateWith = without.round(b), with.round(b)
			}
			costs[i] = (rateWithout - rateWith) / rateWithout * 100
		}
		slices.Sort(costs)
		b.ReportMetric(with.rate(), "with-req/s")
		b.ReportMetric(without.rate(), "without-req/s")
		b.ReportMetric(costs[middlewarePairs/2], "cost-%")
		b.ReportMetric((float64(with.cpuPerRequest())/float64(without.cpuPerRequest())-1)*100, "cpu-cost-%")
		b.Logf("throughput cost per pair of rounds, sorted: %.1f %%", costs)
		b.Logf("CPU per request: %v with the middleware, %v without", with.cpuPerRequest(), without.cpuPerRequest())
	}
}

// servedRounds is one service process under rounds of closed-loop load, and
// what the rounds added up to.
type servedRounds struct {
	addr string
	pid  int
	ok   int64
	took time.Duration
	cpu  time.Duration // the process's user and system time during the rounds
}

// round loads the service for middlewareRound and returns its throughput.
func (s *servedRounds) round(b *testing.B) float64 {
	cpu := processCPU(b, s.pid)
	l := startLoad(b, s.addr, "/", 20)
	time.Sleep(middlewareRound)
	l.stop()
	if failed := l.errs.Load() + l.non2xx.Load(); failed > 0 {
		b.Fatalf("%s under load: %s", s.addr, l)
	}
	took := l.stopped.Sub(l.started)
	s.ok, s.took, s.cpu = s.ok+l.ok.Load(), s.took+took, s.cpu+processCPU(b, s.pid)-cpu
	return float64(l.ok.Load()) / took.Seconds()
}

func (s *servedRounds) rate() float64 { return float64(s.ok) / s.took.Seconds() }

func (s *servedRounds) cpuPerRequest() time.Duration { return s.cpu / time.Duration(s.ok) }

// processCPU reads the user and system time a process has used so far from
// /proc (fields 14 and 15 of its stat, in clock ticks of 10 ms: USER_HZ is 100
// on Linux).
func processCPU(b *testing.B, pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name, field 2, may hold spaces: count from its closing parenthesis.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// buildService compiles the service for the host with the given build tags.
func buildService(b *testing.B, tags string) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "swiftdeploy-app")
	build := exec.Command("go", "build", "-tags", tags, "-o", bin, "./service")
	build.Dir, build.Env = repoRoot, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build the service (tags %q): %v\n%s", tags, err, out)
	}
	return bin
}

// startService runs a service binary on a free port, in stable mode, and
// returns its address on 127.0.0.1 and its process id.
func startService(b *testing.B, bin string) (addr string, pid int) {
	b.Helper()
	port := freePort(b)
	app := exec.Command(bin)
	app.Env = append(os.Environ(), "MODE=stable", "APP_VERSION=bench", "APP_PORT="+strconv.Itoa(port))
	return startServer(b, app, port), app.Process.Pid
}

// startServer starts a server that will listen on port, waits until it accepts
// connections on 127.0.0.1 and returns that address. The server gets SIGTERM
// (and, if it has not exited 15 s later, SIGKILL) when the benchmark ends.
func startServer(b *testing.B, server *exec.Cmd, port int) string {
	b.Helper()
	var output bytes.Buffer
	server.Stdout, server.Stderr = &output, &output
	if err := server.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		server.Wait()
		close(exited)
	}()
	b.Cleanup(func() {
		server.Process.Signal(syscall.SIGTERM) // both servers stop on it; ours drains first
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			server.Process.Kill()
			<-exited
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitUntil(b, 10*time.Second, addr+" to listen", func() bool {
		select {
		case <-exited:
			b.Fatalf("%s exited before it listened: %s\n%s", server.Path, server.ProcessState, output.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// BenchmarkDeployToHealthy times `deploy` from nothing running to /healthz ok
// through nginx, images present.
func BenchmarkDeployToHealthy(b *testing.B) {
	p := newProject(b, manifestOptions{})
	deployToHealthy(b, p)
}

// deployToHealthy times p's deploy from nothing running, tearing it down
// between rounds.
func deployToHealthy(b *testing.B, p *project) {
	b.Helper()
	p.must("init")
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		p.must("deploy")
		total += time.Since(start)
		b.StopTimer()
		p.must("teardown")
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s")
}

var (
	switchTime     = regexp.MustCompile(`→ \w+ in ([0-9.]+)s;`)
	healthyToMoved = regexp.MustCompile(`nginx moved to the new app ([0-9.]+)s after it turned healthy`)
)

// BenchmarkPromoteUnderLoad switches stable → canary (→ stable on the next
// iteration) while 20 clients that never retry load nginx, and reports the
// switch time (from the new app's start to the confirmed mode, the policy's
// measuring window excluded) and the requests that failed.
func BenchmarkPromoteUnderLoad(b *testing.B) {
	p := newProject(b, manifestOptions{})
	p.must("deploy")
	promoteUnderLoad(b, p)
}

// promoteUnderLoad switches p's mode under 20 clients that never retry and
// reports the switch time and the requests that failed.
func promoteUnderLoad(b *testing.B, p *project) {
	b.Helper()
	var failed, requests int64
	switched, moved := promoteWhile(b, p, func() (stop func()) {
		l := startLoad(b, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
		return func() {
			l.stop()
			failed += l.errs.Load() + l.non2xx.Load()
			requests += l.ok.Load() + l.non2xx.Load()
		}
	})
	b.ReportMetric(switched, "switch-s")
	b.ReportMetric(moved, "healthy-to-moved-s")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(float64(requests), "requests")
}

// promoteWhile switches p, deployed stable, to canary (to stable on the next
// iteration, and so on) with the load that start begins running from a second
// before until a second after, and returns the mean switch time that promote
// printed, and the mean time from the new app turning healthy to nginx moved
// to it (0 where promote did not say: swarm's rolling update).
func promoteWhile(b *testing.B, p *project, start func() (stop func())) (switchSeconds, movedSeconds float64) {
	b.Helper()
	mode := "canary"
	var total, moved float64
	for b.Loop() {
		stop := start()
		time.Sleep(time.Second)
		out := p.must("promote", mode)
		time.Sleep(time.Second)
		stop()
		m := switchTime.FindStringSubmatch(out)
		if m == nil {
			b.Fatalf("promote printed no switch time:\n%s", out)
		}
		s, _ := strconv.ParseFloat(m[1], 64)
		total += s
		if m := healthyToMoved.FindStringSubmatch(out); m != nil {
			s, _ := strconv.ParseFloat(m[1], 64)
			moved += s
		}
		mode = other(mode)
	}
	return total / float64(b.N), moved / float64(b.N)
}

// BenchmarkAuditCommandMillionEvents runs the audit command on a history of a
// million events and reports its wall time, peak memory (max RSS) and report size.
func BenchmarkAuditCommandMillionEvents(b *testing.B) {
	p := newProject(b, manifestOptions{})
	writeMillionEvents(b, filepath.Join(p.dir, "history.jsonl"))
	var wall time.Duration
	var peakKB int64
	for b.Loop() {
		took, kb, _ := p.measured(b, "audit")
		wall += took
		peakKB = max(peakKB, kb)
	}
	info, err := os.Stat(filepath.Join(p.dir, "audit_report.md"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(wall.Seconds()/float64(b.N), "s")
	b.ReportMetric(float64(peakKB)/1024, "peak-rss-MB")
	b.ReportMetric(float64(info.Size())/1024, "report-KB")
}

// measured runs target as an operator would and returns its wall time, its
// peak resident memory in KB and its output; a failure ends the benchmark.
func (p *project) measured(b *testing.B, target string) (time.Duration, int64, string) {
	b.Helper()
	cmd := p.command(context.Background(), target)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("%s: %v\n%s", target, err, lastLinesOf(out.String(), 20))
	}
	return time.Since(start), <-peak, out.String()
}

// watchPeakRSS follows the peak resident memory of process pid (VmHWM in
// /proc/PID/status, in KB) until it exits, and sends the last value seen. The
// wait4 rusage is no measure here: a child's ru_maxrss counts the memory of
// the process it was forked from, up to its exec, and this benchmark process
// holds a hundred MB or more once the load benchmarks have run.
func watchPeakRSS(pid int) <-chan int64 {
	peak := make(chan int64, 1)
	go func() {
		var kb int64
		for {
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil || !bytes.Contains(status, []byte("VmHWM:")) { // gone, or a zombie
				peak <- kb
				return
			}
			for _, line := range strings.Split(string(status), "\n") {
				if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var v int64
					fmt.Sscan(rest, &v)
					kb = max(kb, v)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return peak
}

// command is a target run as an operator would, in the project's folder.
func (p *project) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, targets, args...)
	cmd.Dir, cmd.Env = p.dir, append(os.Environ(), "SWIFTDEPLOY_PROJECT="+p.name, "NO_COLOR=1")
	return cmd
}

// writeMillionEvents writes a long, realistic history: status scrapes every 5 s
// with, now and then, chaos, blocked promotions, promotions and rollbacks.
func writeMillionEvents(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1_000_000 {
		ts := at.Add(time.Duration(i) * 5 * time.Second).Format(time.RFC3339)
		switch {
		case i%10000 == 1:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"chaos","mode":"error","rate":0.5,"result":"ok"}`+"\n", ts)
		case i%10000 == 2:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"promote_blocked","action":"promote","domain":"canary","from":"canary","to":"stable","violations":[{"limit":1,"message":"error rate 48.90%% exceeds the 1.00%% limit","observed":48.9,"rule":"error_rate"}]}`+"\n", ts)
		case i%10000 == 3:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"promote","elapsed_seconds":3.1,"from":"stable","overridden":false,"result":"ok","to":"canary"}`+"\n", ts)
		case i%10000 == 4:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"rollback","elapsed_seconds":3.4,"from":"canary","overridden":false,"result":"ok","to":"stable"}`+"\n", ts)
		default:
			rate := float64(i%7) * 0.3
			fmt.Fprintf(w, `{"timestamp":%q,"event":"status_scrape","chaos":"none","mode":"canary","req_per_sec":41.2,"sample":{"at":%q,"buckets":[{"le":"0.005","count":%d},{"le":"+Inf","count":%d}],"chaos":0,"errors":%d,"mode":1,"requests":%d,"uptime_seconds":%d},"window":{"counter_reset":false,"error_rate_percent":%.2f,"errors":1,"no_traffic":false,"p99_latency_ms":%.1f,"requests":206,"window_seconds":5}}`+"\n",
				ts, ts, i, i, i/100, i, i*5, rate, 4.9+float64(i%11))
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
