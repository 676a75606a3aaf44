package benchreport

import (
	"math"
	"strings"
	"testing"
)

func TestFiguresDeriveValuesAndCompareThemWithTargets(t *testing.T) {
	figures := Figures(parseFixture(t))
	met, missed := ptr(true), ptr(false)
	cases := []struct {
		name   string
		value  float64
		target string
		met    *bool
		source string
	}{
		{"Service throughput, direct (20 conns, closed loop)", 8123, "", nil, "BenchmarkThroughputDirect req/s"},
		{"Throughput through nginx / direct", 5235.0 / 8123 * 100, "≥ 50 %", met,
			"BenchmarkThroughputThroughNginx req/s / BenchmarkThroughputDirect req/s"},
		{"Failed requests under load through nginx (closed loop)", 0, "0", met, "BenchmarkThroughputThroughNginx failed"},
		{"Service direct / seed's Python service", 8123.0 / 839, "≥ 10 x", missed,
			"BenchmarkThroughputDirect req/s / BenchmarkThroughputSeedPython req/s"},
		{"Metrics middleware cost, throughput end to end", 2.099, "≤ 3 %", met, "BenchmarkMetricsMiddlewareCost cost-%"},
		{"Metrics middleware cost, CPU per request end to end", 2.328, "≤ 3 %", met, "BenchmarkMetricsMiddlewareCost cpu-cost-%"},
		{"Metrics middleware alone, in process", 121.4, "", nil, "BenchmarkMetricsMiddleware ns/op"},
		{"Open loop at 1,000 req/s: p99 through nginx", 3.87, "≤ 5 ms", met, "BenchmarkOpenLoop/1000rps/nginx p99-ms"},
		{"Open loop at 1,000 req/s: p99.9 direct", 5.556, "", nil, "BenchmarkOpenLoop/1000rps/direct p99.9-ms"},
		{"Open loop at 5,000 req/s: p99 through nginx", 12.31, "≤ 10 ms", missed, "BenchmarkOpenLoop/5000rps/nginx p99-ms"},
		{"Open loop at 5,000 req/s: failed direct", 0, "0", met, "BenchmarkOpenLoop/5000rps/direct failed"},
		{"Highest rate held through nginx (open loop)", 3500, "", nil, "BenchmarkOpenLoop/search held-req/s"},
		{"Open loop at the highest rate held: p99 through nginx", 8.912, "", nil, "BenchmarkOpenLoop/held/nginx p99-ms"},
		{"Promote at the highest rate held (open loop): failed", 0, "0", met, "BenchmarkOpenLoop/switch failed"},
		{"Release of a good build at half the highest rate held (open loop): failed", 0, "0", met, "BenchmarkOpenLoop/release failed"},
		{"Release abort, canary at 50 % errors: first bad request to its weight 0 (10 % step of 30 s)", 1.4, "≤ 3 s", met, "BenchmarkReleaseAbort/rate-50pct bad-to-zero-s"},
		{"Release abort, canary at 50 % errors: share of all requests answered badly over the step", 0.41, "≤ 1 %", met, "BenchmarkReleaseAbort/rate-50pct bad-share-%"},
		{"Promote under 20 clients that never retry: switch time", 2.87, "≤ 5 s", met, "BenchmarkPromoteUnderLoad switch-s"},
		{"Promote gate, window measured by promote (3 s window)", 3.232, "", nil, "BenchmarkPromoteGate gate-s"},
		{"Promote gate beyond its window wait", 0.2319, "≤ 1 s", met, "BenchmarkPromoteGate beyond-window-s"},
		{"Policy decision p50 (canary)", 88.38, "", nil, "BenchmarkDecideLatency/canary p50-ns"},
		{"Policy decision p99 (canary)", 1143.46, "", nil, "BenchmarkDecideLatency/canary p99-ns"},
		{"Scrape parse + window", 3482.748, "", nil, "BenchmarkParseAndCompute ns/op"},
		{"Audit of 1,000,000 events, wall time", 1.62, "≤ 2 s", met, "BenchmarkAuditCommandMillionEvents s"},
		{"Audit of 1,000,000 events, peak memory", 21.4, "≤ 64 MB", met, "BenchmarkAuditCommandMillionEvents peak-rss-MB"},
		{"Audit report size", 38.7, "", nil, "BenchmarkAuditCommandMillionEvents report-KB"},
		{"Deploy to healthy", 3.42, "≤ 5 s", met, "BenchmarkDeployToHealthy s"},
	}
	if len(figures) != len(rows) {
		t.Errorf("got %d figures from a run with every benchmark, want all %d rows", len(figures), len(rows))
	}
	for _, tt := range cases {
		f, ok := figure(figures, tt.name)
		if !ok {
			t.Errorf("%q missing", tt.name)
			continue
		}
		if !near(f.Value, tt.value) || f.Target != tt.target || !sameMet(f.Met, tt.met) || f.Source != tt.source {
			t.Errorf("%q = {%v %q met=%v %q}, want {%v %q met=%v %q}",
				tt.name, f.Value, f.Target, deref(f.Met), f.Source, tt.value, tt.target, deref(tt.met), tt.source)
		}
	}
}

func TestFiguresCountAValueEqualToItsLimitAsMetEitherWay(t *testing.T) {
	results := []Result{
		{Name: "BenchmarkDeployToHealthy", Metrics: map[string]float64{"s": 5}},
		{Name: "BenchmarkThroughputDirect", Metrics: map[string]float64{"req/s": 10000}},
		{Name: "BenchmarkThroughputSeedPython", Metrics: map[string]float64{"req/s": 1000}},
	}
	for _, name := range []string{"Deploy to healthy", "Service direct / seed's Python service"} {
		if f, ok := figure(Figures(results), name); !ok || !sameMet(f.Met, ptr(true)) {
			t.Errorf("%q = %+v, want a met figure", name, f)
		}
	}
}

func TestFiguresMissATargetToReachWhenBelowIt(t *testing.T) {
	results := []Result{
		{Name: "BenchmarkThroughputDirect", Metrics: map[string]float64{"req/s": 10000}},
		{Name: "BenchmarkThroughputThroughNginx", Metrics: map[string]float64{"req/s": 4999}},
	}
	f, ok := figure(Figures(results), "Throughput through nginx / direct")
	if !ok || !near(f.Value, 49.99) || f.Target != "≥ 50 %" || !sameMet(f.Met, ptr(false)) {
		t.Errorf("ratio = %+v, want 49.99 %% missing ≥ 50 %%", f)
	}
}

func TestFiguresOmitRowsWhoseBenchmarkOrUnitIsMissing(t *testing.T) {
	results := []Result{
		{Name: "BenchmarkDecideLatency/canary", Metrics: map[string]float64{"ns/op": 1e9, "p50-ns": 90000, "p99-ns": 120000}},
		// Reported without its latency units: no latency row may come from it.
		{Name: "BenchmarkDecideLatency/infrastructure", Metrics: map[string]float64{"ns/op": 1e9}},
		// Without the direct throughput no ratio can be computed.
		{Name: "BenchmarkThroughputSeedPython", Metrics: map[string]float64{"req/s": 1000}},
	}
	var got []string
	for _, f := range Figures(results) {
		got = append(got, f.Name)
	}
	want := "Seed's Python service throughput (20 conns, closed loop), Policy decision p50 (canary), Policy decision p99 (canary)"
	if strings.Join(got, ", ") != want {
		t.Errorf("figures = %q, want %s", got, want)
	}
}

func TestFiguresSkipARatioWhoseDenominatorIsZero(t *testing.T) {
	results := []Result{
		{Name: "BenchmarkThroughputThroughNginx", Metrics: map[string]float64{"req/s": 5000}},
		{Name: "BenchmarkThroughputDirect", Metrics: map[string]float64{"req/s": 0}},
	}
	if f, ok := figure(Figures(results), "Throughput through nginx / direct"); ok {
		t.Errorf("ratio %+v computed over zero", f)
	}
}

func TestAuditWallTimeFallsBackToTheInProcessBenchmarkAndSaysSo(t *testing.T) {
	var results []Result
	for _, r := range parseFixture(t) {
		if r.Package != e2ePkg {
			results = append(results, r)
		}
	}
	figures := Figures(results)
	wall, ok := figure(figures, "Audit of 1,000,000 events, wall time")
	if !ok || !near(wall.Value, 1.843211456) || !sameMet(wall.Met, ptr(true)) ||
		wall.Source != "BenchmarkAuditMillionEvents ns/op (BenchmarkAuditCommandMillionEvents absent)" {
		t.Errorf("wall time = %+v, want 1.843 s from BenchmarkAuditMillionEvents, naming the absent command benchmark", wall)
	}
	// The in-process benchmark measures heap, not the process's RSS: no peak memory row.
	if f, ok := figure(figures, "Audit of 1,000,000 events, peak memory"); ok {
		t.Errorf("peak memory %+v invented without BenchmarkAuditCommandMillionEvents", f)
	}
	for _, f := range figures {
		if strings.Contains(f.Source, "Throughput") || strings.Contains(f.Source, "Promote") {
			t.Errorf("%q reported without the e2e benchmarks", f.Name)
		}
	}
}

func figure(figures []Figure, name string) (Figure, bool) {
	for _, f := range figures {
		if f.Name == name {
			return f, true
		}
	}
	return Figure{}, false
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func ptr(b bool) *bool { return &b }

func sameMet(a, b *bool) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}
