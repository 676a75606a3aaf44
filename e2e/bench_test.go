package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
	bin := filepath.Join(b.TempDir(), "swiftdeploy-app")
	build := exec.Command("go", "build", "-o", bin, "./service")
	build.Dir, build.Env = repoRoot, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build the service: %v\n%s", err, out)
	}
	port := freePort(b)
	app := exec.Command(bin)
	app.Env = append(os.Environ(), "MODE=stable", "APP_VERSION=bench", "APP_PORT="+strconv.Itoa(port))
	if err := app.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		app.Process.Signal(syscall.SIGTERM) // it drains and exits
		app.Wait()
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitUntil(b, 10*time.Second, "the service to listen", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	loadFor(b, addr)
}

// BenchmarkThroughputThroughNginx loads a deployed stack through nginx.
func BenchmarkThroughputThroughNginx(b *testing.B) {
	p := newProject(b, manifestOptions{})
	p.must("deploy")
	loadFor(b, fmt.Sprintf("127.0.0.1:%d", p.port))
}

// BenchmarkDeployToHealthy times `deploy` from nothing running to /healthz ok
// through nginx, images present.
func BenchmarkDeployToHealthy(b *testing.B) {
	p := newProject(b, manifestOptions{})
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

var switchTime = regexp.MustCompile(`→ \w+ in ([0-9.]+)s;`)

// BenchmarkPromoteUnderLoad switches stable → canary (→ stable on the next
// iteration) while 20 clients load nginx, and reports the switch time (from
// the new app's start to the confirmed mode, the policy's measuring window
// excluded) and the requests that failed.
func BenchmarkPromoteUnderLoad(b *testing.B) {
	p := newProject(b, manifestOptions{})
	p.must("deploy")
	mode := "canary"
	var switched float64
	var failed, requests int64
	for b.Loop() {
		l := startLoad(b, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
		time.Sleep(time.Second)
		out := p.must("promote", mode)
		time.Sleep(time.Second)
		l.stop()
		m := switchTime.FindStringSubmatch(out)
		if m == nil {
			b.Fatalf("promote printed no switch time:\n%s", out)
		}
		s, _ := strconv.ParseFloat(m[1], 64)
		switched += s
		failed += l.errs.Load() + l.non2xx.Load()
		requests += l.ok.Load() + l.non2xx.Load()
		mode = other(mode)
	}
	b.ReportMetric(switched/float64(b.N), "switch-s")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(float64(requests), "requests")
}

// BenchmarkAuditCommandMillionEvents runs the audit command on a history of a
// million events and reports its wall time, peak memory (max RSS) and report size.
func BenchmarkAuditCommandMillionEvents(b *testing.B) {
	p := newProject(b, manifestOptions{})
	writeMillionEvents(b, filepath.Join(p.dir, "history.jsonl"))
	var wall time.Duration
	var peakKB int64
	for b.Loop() {
		cmd := exec.Command(targets, "audit")
		cmd.Dir, cmd.Env = p.dir, append(os.Environ(), "SWIFTDEPLOY_PROJECT="+p.name, "NO_COLOR=1")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("audit: %v\n%s", err, out)
		}
		wall += time.Since(start)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peakKB = max(peakKB, ru.Maxrss)
		}
	}
	info, err := os.Stat(filepath.Join(p.dir, "audit_report.md"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(wall.Seconds()/float64(b.N), "s")
	b.ReportMetric(float64(peakKB)/1024, "peak-rss-MB")
	b.ReportMetric(float64(info.Size())/1024, "report-KB")
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
