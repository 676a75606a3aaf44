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
		{"Service p99 latency, direct (20 conns)", 4.61, "", nil, "BenchmarkThroughputDirect p99-ms"},
		{"Service throughput, direct", 8123, "", nil, "BenchmarkThroughputDirect req/s"},
		{"p99 latency through nginx (20 conns)", 7.84, "≤ 5 ms", missed, "BenchmarkThroughputThroughNginx p99-ms"},
		{"Failed requests under load through nginx", 0, "0", met, "BenchmarkThroughputThroughNginx failed"},
		{"Metrics middleware cost", (69513.0 - 64200) / 64200 * 100, "≤ 10 %", met,
			"(BenchmarkRootWithMetrics − BenchmarkRootWithoutMetrics) / BenchmarkRootWithoutMetrics ns/op"},
		{"Policy decision p50 (canary)", 88.38, "", nil, "BenchmarkDecideLatency/canary p50-ns"},
		{"Policy decision p99 (canary)", 1143.46, "≤ 100 µs", missed, "BenchmarkDecideLatency/canary p99-ns"},
		{"Policy decision p99 (infrastructure)", 93.887, "≤ 100 µs", met, "BenchmarkDecideLatency/infrastructure p99-ns"},
		{"Scrape parse + window", 3482.748, "", nil, "BenchmarkParseAndCompute ns/op"},
		{"Audit of 1,000,000 events, wall time", 1.62, "≤ 2 s", met, "BenchmarkAuditCommandMillionEvents s"},
		{"Audit of 1,000,000 events, peak memory", 21.4, "≤ 64 MB", met, "BenchmarkAuditCommandMillionEvents peak-rss-MB"},
		{"Audit report size", 38.7, "", nil, "BenchmarkAuditCommandMillionEvents report-KB"},
		{"Deploy to healthy", 3.42, "≤ 5 s", met, "BenchmarkDeployToHealthy s"},
		{"Promote switch time under load", 2.87, "≤ 5 s", met, "BenchmarkPromoteUnderLoad switch-s"},
		{"Failed requests during promote", 0, "0", met, "BenchmarkPromoteUnderLoad failed"},
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

func TestFiguresCountAValueEqualToItsLimitAsMet(t *testing.T) {
	figures := Figures([]Result{{Name: "BenchmarkDeployToHealthy", Metrics: map[string]float64{"s": 5}}})
	if len(figures) != 1 || !sameMet(figures[0].Met, ptr(true)) {
		t.Errorf("figures = %+v, want one met figure", figures)
	}
}

func TestFiguresOmitRowsWhoseBenchmarkOrUnitIsMissing(t *testing.T) {
	results := []Result{
		{Name: "BenchmarkDecideLatency/canary", Metrics: map[string]float64{"ns/op": 1e9, "p50-ns": 90000, "p99-ns": 120000}},
		// Reported without its latency units: no latency row may come from it.
		{Name: "BenchmarkDecideLatency/infrastructure", Metrics: map[string]float64{"ns/op": 1e9}},
		// Without the baseline the cost cannot be computed.
		{Name: "BenchmarkRootWithMetrics", Metrics: map[string]float64{"ns/op": 70000}},
	}
	var got []string
	for _, f := range Figures(results) {
		got = append(got, f.Name)
	}
	want := "Policy decision p50 (canary), Policy decision p99 (canary)"
	if strings.Join(got, ", ") != want {
		t.Errorf("figures = %q, want %s", got, want)
	}
}

func TestFiguresSkipTheMetricsCostWhenTheBaselineIsZero(t *testing.T) {
	results := []Result{
		{Name: "BenchmarkRootWithMetrics", Metrics: map[string]float64{"ns/op": 70000}},
		{Name: "BenchmarkRootWithoutMetrics", Metrics: map[string]float64{"ns/op": 0}},
	}
	if figures := Figures(results); len(figures) != 0 {
		t.Errorf("figures = %+v, want none", figures)
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
