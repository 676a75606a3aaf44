package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"
)

// accessLogPairs and accessLogRound shape BenchmarkAccessLogCost, like the
// middleware benchmark: pairs of short rounds in alternating order, the median
// pair as the figure.
const (
	accessLogPairs = 7
	accessLogRound = 2 * time.Second
)

var accessLogLine = regexp.MustCompile(`(?m)^(\s*)access_log .*;$`)

// BenchmarkAccessLogCost measures what nginx's two access logs (the buffered
// pipe to docker logs and the buffered file in the log volume) cost per
// request: a deployed stack under 20 closed-loop clients takes turns with its
// logs on, as generated, and off (the same nginx.conf with `access_log off`,
// loaded by a reload between rounds). It reports the throughput with and
// without the logs over all rounds and, from the median pair, the cost in
// microseconds of one request and in percent of the throughput.
func BenchmarkAccessLogCost(b *testing.B) {
	p := newProject(b, manifestOptions{})
	p.must("deploy")
	conf := ".swiftdeploy/nginx/nginx.conf"
	logged := p.read(conf)
	unlogged := accessLogLine.ReplaceAllString(logged, "${1}access_log off;")
	if unlogged == logged {
		b.Fatal("nginx.conf has no access_log line to turn off")
	}
	nginx := p.containers("nginx")[0]
	use := func(config string) {
		p.write(conf, config)
		docker(b, "exec", nginx, "nginx", "-c", "/etc/swiftdeploy/nginx/nginx.conf", "-s", "reload")
		time.Sleep(time.Second) // the old workers finish and leave
	}
	defer use(logged)
	addr := fmt.Sprintf("127.0.0.1:%d", p.port)
	round := func(config string) float64 {
		use(config)
		l := startLoad(b, addr, "/", 20)
		time.Sleep(accessLogRound)
		l.stop()
		if failed := l.errs.Load() + l.non2xx.Load(); failed > 0 {
			b.Fatalf("%d requests failed: %s", failed, l)
		}
		return l.rate()
	}
	for b.Loop() {
		var on, off []float64
		costs := make([]float64, accessLogPairs)
		for i := range costs {
			var rOn, rOff float64
			if i%2 == 0 {
				rOn, rOff = round(logged), round(unlogged)
			} else {
				rOff, rOn = round(unlogged), round(logged)
			}
			on, off = append(on, rOn), append(off, rOff)
			costs[i] = (1/rOn - 1/rOff) * 1e6
		}
		slices.Sort(costs)
		median := costs[accessLogPairs/2]
		b.ReportMetric(mean(on), "with-req/s")
		b.ReportMetric(mean(off), "without-req/s")
		b.ReportMetric(median, "cost-us")
		b.ReportMetric(median*mean(off)/1e6*100, "cost-%")
		b.Logf("cost per request per pair of rounds, sorted: %.2f µs", costs)
	}
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
