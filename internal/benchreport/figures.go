package benchreport

import (
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

// rows are the figures the issue asks for. Adding a figure is adding a line.
var rows = []row{
	{"Service p50 latency, direct (20 conns)", "ms", nil, metric("BenchmarkThroughputDirect", "p50-ms").value},
	{"Service p99 latency, direct (20 conns)", "ms", nil, metric("BenchmarkThroughputDirect", "p99-ms").value},
	{"Service throughput, direct", "req/s", nil, metric("BenchmarkThroughputDirect", "req/s").value},
	{"p50 latency through nginx (20 conns)", "ms", nil, metric("BenchmarkThroughputThroughNginx", "p50-ms").value},
	{"p99 latency through nginx (20 conns)", "ms", atMost(5, "ms"), metric("BenchmarkThroughputThroughNginx", "p99-ms").value},
	{"Throughput through nginx", "req/s", nil, metric("BenchmarkThroughputThroughNginx", "req/s").value},
	{"Failed requests under load through nginx", "requests", atMost(0, ""), metric("BenchmarkThroughputThroughNginx", "failed").value},
	{"Metrics middleware cost", "%", atMost(10, "%"), overhead("BenchmarkRootWithMetrics", "BenchmarkRootWithoutMetrics")},
	{"Policy decision p50 (canary)", "µs", nil, metric("BenchmarkDecideLatency/canary", "p50-ns").per(1e3).value},
	{"Policy decision p99 (canary)", "µs", atMost(100, "µs"), metric("BenchmarkDecideLatency/canary", "p99-ns").per(1e3).value},
	{"Policy decision p50 (infrastructure)", "µs", nil, metric("BenchmarkDecideLatency/infrastructure", "p50-ns").per(1e3).value},
	{"Policy decision p99 (infrastructure)", "µs", atMost(100, "µs"), metric("BenchmarkDecideLatency/infrastructure", "p99-ns").per(1e3).value},
	{"Scrape parse + window", "µs", nil, metric("BenchmarkParseAndCompute", "ns/op").per(1e3).value},
	{"Audit of 1,000,000 events, wall time", "s", atMost(2, "s"), metric("BenchmarkAuditCommandMillionEvents", "s").or(metric("BenchmarkAuditMillionEvents", "ns/op").per(1e9)).value},
	{"Audit of 1,000,000 events, peak memory", "MB", atMost(64, "MB"), metric("BenchmarkAuditCommandMillionEvents", "peak-rss-MB").value},
	{"Audit report size", "KB", nil, metric("BenchmarkAuditCommandMillionEvents", "report-KB").or(metric("BenchmarkAuditMillionEvents", "report-KB")).value},
	{"Deploy to healthy", "s", atMost(5, "s"), metric("BenchmarkDeployToHealthy", "s").value},
	{"Promote switch time under load", "s", atMost(5, "s"), metric("BenchmarkPromoteUnderLoad", "switch-s").value},
	{"Failed requests during promote", "requests", atMost(0, ""), metric("BenchmarkPromoteUnderLoad", "failed").value},
}

// Figures maps benchmark results to the report's rows, deriving values (µs from ns, the
// metrics middleware's cost) and comparing them with their targets. A row whose benchmark
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
			met := v <= spec.target.max
			f.Target, f.Met = spec.target.String(), &met
		}
		figures = append(figures, f)
	}
	return figures
}

// limit is a target a figure must not exceed.
type limit struct {
	max  float64
	unit string
}

func atMost(max float64, unit string) *limit { return &limit{max: max, unit: unit} }

func (l limit) String() string {
	if l.max == 0 {
		return "0"
	}
	return "≤ " + formatNumber(l.max) + " " + l.unit
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

// overhead is the extra time per request, in percent, that with takes over without.
func overhead(with, without string) func(map[string]Result) (float64, string, bool) {
	return func(byName map[string]Result) (float64, string, bool) {
		w, okWith := byName[with].Metrics["ns/op"]
		wo, okWithout := byName[without].Metrics["ns/op"]
		if !okWith || !okWithout || wo <= 0 {
			return 0, "", false
		}
		return (w - wo) / wo * 100, "(" + with + " − " + without + ") / " + without + " ns/op", true
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
