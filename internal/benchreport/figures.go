package benchreport

import (
	"fmt"
	"slices"
	"strconv"
)

// Figure is one row of the report: a value, where it came from and how it compares
// with its target.
type Figure struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	// Met is nil for a figure without a target.
	Met *bool `json:"met,omitempty"`
	// Source names the benchmark and unit the value was taken from.
	Source string `json:"source"`
}

// row specifies one figure of the report; rows lists them in the order they are shown.
type row struct {
	name   string
	unit   string
	target *limit
	value  func(byName map[string]Result) (value float64, source string, ok bool)
}

const (
	direct     = "BenchmarkThroughputDirect"
	throughNgx = "BenchmarkThroughputThroughNginx"
	seedPython = "BenchmarkThroughputSeedPython"
	middleware = "BenchmarkMetricsMiddlewareCost"
	openLoop   = "BenchmarkOpenLoop/"
	gate       = "BenchmarkPromoteGate"
	edgeCost   = "BenchmarkEdgeCost"
)

// rows are the figures the issue asks for. Adding a figure is adding a line.
var rows = slices.Concat([]row{
	{"Service throughput, direct (20 conns, closed loop)", "req/s", nil, metric(direct, "req/s").value},
	{"Throughput through nginx (20 conns, closed loop)", "req/s", nil, metric(throughNgx, "req/s").value},
	{"Throughput through nginx / direct", "%", atLeast(50, "%"), ratio(metric(throughNgx, "req/s"), metric(direct, "req/s"), 100)},
	{"Failed requests under load through nginx (closed loop)", "requests", atMost(0, ""), metric(throughNgx, "failed").value},
	{"Seed's Python service throughput (20 conns, closed loop)", "req/s", nil, metric(seedPython, "req/s").value},
	{"Service direct / seed's Python service", "x", atLeast(10, "x"), ratio(metric(direct, "req/s"), metric(seedPython, "req/s"), 1)},
	{"Metrics middleware cost, throughput end to end", "%", atMost(3, "%"), metric(middleware, "cost-%").value},
	{"Metrics middleware cost, CPU per request end to end", "%", atMost(3, "%"), metric(middleware, "cpu-cost-%").value},
	{"Metrics middleware alone, in process", "ns", nil, metric("BenchmarkMetricsMiddleware", "ns/op").value},
	{"Access logs (pipe and file, buffered), cost per request through nginx", "µs", nil, metric("BenchmarkAccessLogCost", "cost-us").value},
	{"Access logs, share of throughput through nginx", "%", nil, metric("BenchmarkAccessLogCost", "cost-%").value},
},
	openLoopRows("1,000 req/s", "1000rps", atMost(5, "ms")),
	openLoopRows("5,000 req/s", "5000rps", atMost(10, "ms")),
	[]row{{"Highest rate held through nginx (open loop)", "req/s", nil, metric(openLoop+"search", "held-req/s").value}},
	openLoopRows("the highest rate held", "held", nil),
	[]row{
		{"Promote at the highest rate held (open loop): rate", "req/s", nil, metric(openLoop+"switch", "rate-req/s").value},
		{"Promote at the highest rate held (open loop): switch time", "s", atMost(5, "s"), metric(openLoop+"switch", "switch-s").value},
		{"Promote at the highest rate held (open loop): requests", "requests", nil, metric(openLoop+"switch", "requests").value},
		{"Promote at the highest rate held (open loop): failed", "requests", atMost(0, ""), metric(openLoop+"switch", "failed").value},
		{"Release of a good build at half the highest rate held (open loop, 4 steps of 4 s): wall time", "s", nil, metric(openLoop+"release", "release-s").value},
		{"Release of a good build at half the highest rate held (open loop): requests", "requests", nil, metric(openLoop+"release", "requests").value},
		{"Release of a good build at half the highest rate held (open loop): failed", "requests", atMost(0, ""), metric(openLoop+"release", "failed").value},
		{"Release step: a new weight set to nginx routing by it (no reload)", "s", nil, metric(openLoop+"release", "step-change-s").value},
		{"Release abort, canary at 50 % errors: first bad request to its weight 0 (10 % step of 30 s)", "s", atMost(3, "s"), metric("BenchmarkReleaseAbort/rate-50pct", "bad-to-zero-s").value},
		{"Release abort, canary at 50 % errors: share of all requests answered badly over the step", "%", atMost(1, "%"), metric("BenchmarkReleaseAbort/rate-50pct", "bad-share-%").value},
		{"Release abort, canary at 10 % errors: first bad request to its weight 0", "s", nil, metric("BenchmarkReleaseAbort/rate-10pct", "bad-to-zero-s").value},
		{"Release abort, canary at 10 % errors: share of all requests answered badly over the step", "%", nil, metric("BenchmarkReleaseAbort/rate-10pct", "bad-share-%").value},
		{"Release abort, canary at 2 % errors: releases aborted", "%", nil, metric("BenchmarkReleaseAbort/rate-2pct", "aborted-%").value},
		{"Release abort, canary at 2 % errors: first bad request to its weight 0", "s", nil, metric("BenchmarkReleaseAbort/rate-2pct", "bad-to-zero-s").value},
		{"Release abort, canary at 2 % errors: share of all requests answered badly over the step", "%", nil, metric("BenchmarkReleaseAbort/rate-2pct", "bad-share-%").value},
		{"Good releases aborted by the judge (20 releases under 20 clients)", "releases", atMost(0, ""), metric("BenchmarkReleaseFalseAborts", "false-aborts").value},
		{"Good releases: failed requests (20 releases under 20 clients)", "requests", atMost(0, ""), metric("BenchmarkReleaseFalseAborts", "failed").value},
		{"Good releases: resets and non-2xx seen by 20 clients that never retry, per release", "requests", atMost(0, ""), metric("BenchmarkReleaseFalseAborts", "never-retrying-failed/release").value},
		{"Promote under 20 clients that never retry: switch time", "s", atMost(5, "s"), metric("BenchmarkPromoteUnderLoad", "switch-s").value},
		{"Promote under 20 clients that never retry: new app healthy to nginx moved", "s", atMost(3, "s"), metric("BenchmarkPromoteUnderLoad", "healthy-to-moved-s").value},
		{"Promote under 20 clients that never retry: failed", "requests", atMost(0, ""), metric("BenchmarkPromoteUnderLoad", "failed").value},
		{"Promote gate, window measured by promote (3 s window)", "s", nil, metric(gate, "gate-s").value},
		{"Promote gate beyond its window wait", "s", atMost(1, "s"), metric(gate, "beyond-window-s").value},
		{"Promote gate, window from a status scrape", "s", atMost(1, "s"), metric(gate, "gate-reused-s").value},
		{"Beside peer proxies: highest open-loop rate the fastest peer kept up with", "req/s", nil, metric(proxies+"search", "best-peer-kept-up-req/s").value},
		{"Closed loop, the stack's nginx image with a minimal config, on the host's network", "req/s", nil, metric(proxies+"closed/ladder-host-network", "req/s").value},
		{"Closed loop, the same on the stack's bridge network behind a published port", "req/s", nil, metric(proxies+"closed/ladder-published-port", "req/s").value},
		{"Closed loop, the same plus the stack's forwarding headers", "req/s", nil, metric(proxies+"closed/ladder-headers", "req/s").value},
		{"Closed loop, the same plus the stack's two access logs", "req/s", nil, metric(proxies+"closed/ladder-access-logs", "req/s").value},
		{"Deploy to healthy", "s", atMost(5, "s"), metric("BenchmarkDeployToHealthy", "s").value},
		{"Deploy to healthy on swarm (one node, 2 app tasks)", "s", nil, metric("BenchmarkSwarmDeployToHealthy", "s").value},
		{"Promote on swarm under 20 clients that never retry: switch time (2 tasks, one at a time)", "s", nil, metric("BenchmarkSwarmPromoteUnderLoad", "switch-s").value},
		{"Promote on swarm under 20 clients that never retry: failed", "requests", atMost(0, ""), metric("BenchmarkSwarmPromoteUnderLoad", "failed").value},
		{"Policy decision p50 (canary)", "µs", nil, metric("BenchmarkDecideLatency/canary", "p50-ns").per(1e3).value},
		{"Policy decision p99 (canary)", "µs", nil, metric("BenchmarkDecideLatency/canary", "p99-ns").per(1e3).value},
		{"Policy decision p50 (infrastructure)", "µs", nil, metric("BenchmarkDecideLatency/infrastructure", "p50-ns").per(1e3).value},
		{"Policy decision p99 (infrastructure)", "µs", nil, metric("BenchmarkDecideLatency/infrastructure", "p99-ns").per(1e3).value},
		{"Scrape parse + window", "µs", nil, metric("BenchmarkParseAndCompute", "ns/op").per(1e3).value},
		{"Audit of 1,000,000 events, wall time", "s", atMost(2, "s"), metric("BenchmarkAuditCommandMillionEvents", "s").or(metric("BenchmarkAuditMillionEvents", "ns/op").per(1e9)).value},
		{"Audit of 1,000,000 events, peak memory", "MB", atMost(64, "MB"), metric("BenchmarkAuditCommandMillionEvents", "peak-rss-MB").value},
		{"Audit report size", "KB", nil, metric("BenchmarkAuditCommandMillionEvents", "report-KB").or(metric("BenchmarkAuditMillionEvents", "report-KB")).value},
		{"Replay of a 100,000-event history (release steps re-judged look by look), wall time", "s", nil, metric("BenchmarkReplayCommand", "s").value},
		{"Replay of a 100,000-event history, peak memory", "MB", nil, metric("BenchmarkReplayCommand", "peak-rss-MB").value},
		{"Replay of a 100,000-event history: release steps re-judged", "steps", nil, metric("BenchmarkReplayCommand", "steps").value},
	},
	edgeRows)

// edgeRows are BenchmarkEdgeCost's figures: the same app straight to its
// stack's nginx, through the host's edge over HTTP, and over HTTPS.
var edgeRows = []row{
	{"Edge: straight to the stack's nginx (20 conns, closed loop)", "req/s", nil, metric(edgeCost, "direct-req/s").value},
	{"Edge: through the edge, HTTP (20 conns, closed loop)", "req/s", nil, metric(edgeCost, "edge-http-req/s").value},
	{"Edge: through the edge, HTTPS (20 conns, closed loop, TLS 1.3 keep-alive)", "req/s", nil, metric(edgeCost, "edge-https-req/s").value},
	{"Edge: p99 straight to the stack's nginx", "ms", nil, metric(edgeCost, "direct-p99-ms").value},
	{"Edge: p99 through the edge, HTTPS", "ms", nil, metric(edgeCost, "edge-https-p99-ms").value},
	{"Edge: the second hop's share of throughput", "%", nil, metric(edgeCost, "hop-cost-%").value},
	{"Edge: TLS's share of throughput on top", "%", nil, metric(edgeCost, "tls-cost-%").value},
	{"Edge: peer HAProxy terminating TLS in front of the same nginx, HTTPS (20 conns, closed loop)", "req/s", nil, metric(edgeCost, "haproxy-https-req/s").value},
	{"Edge: peer Caddy terminating TLS in front of the same nginx, HTTPS (20 conns, closed loop)", "req/s", nil, metric(edgeCost, "caddy-https-req/s").value},
	{"Edge: p99 through peer HAProxy, HTTPS", "ms", nil, metric(edgeCost, "haproxy-https-p99-ms").value},
	{"Edge: p99 through peer Caddy, HTTPS", "ms", nil, metric(edgeCost, "caddy-https-p99-ms").value},
	{"Edge: new TLS connections per second (20 clients, a full handshake per request)", "conn/s", nil, metric(edgeCost, "edge-new-handshakes/s").value},
	{"Edge: peer HAProxy, new TLS connections per second", "conn/s", nil, metric(edgeCost, "haproxy-new-handshakes/s").value},
	{"Edge: peer Caddy, new TLS connections per second", "conn/s", nil, metric(edgeCost, "caddy-new-handshakes/s").value},
	{"Edge: p99 of a first request on a new connection (dial, handshake, answer)", "ms", nil, metric(edgeCost, "edge-new-first-p99-ms").value},
	{"Edge: peer HAProxy, p99 of a first request on a new connection", "ms", nil, metric(edgeCost, "haproxy-new-first-p99-ms").value},
	{"Edge: peer Caddy, p99 of a first request on a new connection", "ms", nil, metric(edgeCost, "caddy-new-first-p99-ms").value},
	{"Edge: failed requests", "requests", atMost(0, ""), metric(edgeCost, "failed").value},
}

// openLoopRows are the figures of one BenchmarkOpenLoop rate: p50, p99 and
// p99.9 through nginx and direct side by side, and the failed requests; p99
// through nginx has the target p99.
func openLoopRows(rate, sub string, p99 *limit) []row {
	var rs []row
	for _, q := range []struct {
		name, unit string
		target     *limit
	}{{"p50", "p50-ms", nil}, {"p99", "p99-ms", p99}, {"p99.9", "p99.9-ms", nil}} {
		rs = append(rs,
			row{fmt.Sprintf("Open loop at %s: %s through nginx", rate, q.name), "ms", q.target, metric(openLoop+sub+"/nginx", q.unit).value},
			row{fmt.Sprintf("Open loop at %s: %s direct", rate, q.name), "ms", nil, metric(openLoop+sub+"/direct", q.unit).value})
	}
	return append(rs,
		row{fmt.Sprintf("Open loop at %s: failed through nginx", rate), "requests", atMost(0, ""), metric(openLoop+sub+"/nginx", "failed").value},
		row{fmt.Sprintf("Open loop at %s: failed direct", rate), "requests", atMost(0, ""), metric(openLoop+sub+"/direct", "failed").value})
}

// Figures maps benchmark results to the report's rows, deriving values (µs from ns, one
// throughput as a share of another) and comparing them with their targets. A row whose benchmark
// or unit is missing is left out rather than shown as zero. With repeated runs (-count)
// the first result of a benchmark is used.
func Figures(results []Result) []Figure {
	byName := map[string]Result{}
	for _, r := range results {
		if _, seen := byName[r.Name]; !seen {
			byName[r.Name] = r
		}
	}
	var figures []Figure
	for _, spec := range rows {
		v, source, ok := spec.value(byName)
		if !ok {
			continue
		}
		f := Figure{Name: spec.name, Value: v, Unit: spec.unit, Source: source}
		if spec.target != nil {
			met := spec.target.met(v)
			f.Target, f.Met = spec.target.String(), &met
		}
		figures = append(figures, f)
	}
	return figures
}

// limit is a target: a bound a figure must not exceed, or with atLeast one it
// must reach.
type limit struct {
	bound   float64
	atLeast bool
	unit    string
}

func atMost(bound float64, unit string) *limit { return &limit{bound: bound, unit: unit} }
func atLeast(bound float64, unit string) *limit {
	return &limit{bound: bound, atLeast: true, unit: unit}
}

func (l limit) met(v float64) bool {
	if l.atLeast {
		return v >= l.bound
	}
	return v <= l.bound
}

func (l limit) String() string {
	switch {
	case l.atLeast:
		return "≥ " + formatNumber(l.bound) + " " + l.unit
	case l.bound == 0:
		return "0"
	default:
		return "≤ " + formatNumber(l.bound) + " " + l.unit
	}
}

// source reads one unit of one benchmark, converted, or its fallback when the benchmark
// did not run.
type source struct {
	bench, unit string
	divisor     float64
	fallback    *source
}

func metric(bench, unit string) source { return source{bench: bench, unit: unit, divisor: 1} }

// per converts the unit by dividing, e.g. by 1e3 for ns to µs; dividing keeps
// 88380 ns exactly 88.38 µs where multiplying by 1e-3 would not always.
func (s source) per(divisor float64) source {
	s.divisor = divisor
	return s
}

// or names the benchmark to read when s's benchmark is absent.
func (s source) or(fallback source) source {
	s.fallback = &fallback
	return s
}

func (s source) value(byName map[string]Result) (float64, string, bool) {
	if v, ok := byName[s.bench].Metrics[s.unit]; ok {
		return v / s.divisor, s.bench + " " + s.unit, true
	}
	if s.fallback == nil {
		return 0, "", false
	}
	v, from, ok := s.fallback.value(byName)
	return v, from + " (" + s.bench + " absent)", ok
}

// ratio is num / den × scale, e.g. a throughput in percent of another's.
func ratio(num, den source, scale float64) func(map[string]Result) (float64, string, bool) {
	return func(byName map[string]Result) (float64, string, bool) {
		n, numFrom, okNum := num.value(byName)
		d, denFrom, okDen := den.value(byName)
		if !okNum || !okDen || d <= 0 {
			return 0, "", false
		}
		return n / d * scale, numFrom + " / " + denFrom, true
	}
}

// formatNumber prints a figure with three significant digits, and whole numbers and
// values of 100 or more without decimals, as a reader compares them.
func formatNumber(v float64) string {
	if v == float64(int64(v)) || v >= 100 || v <= -100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
