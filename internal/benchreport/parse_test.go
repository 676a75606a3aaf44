package benchreport

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const (
	policyPkg = "github.com/swiftdeploy/swiftdeploy/internal/policy"
	e2ePkg    = "github.com/swiftdeploy/swiftdeploy/e2e"
)

func parseFixture(t *testing.T) []Result {
	t.Helper()
	f, err := os.Open("testdata/bench-output.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	results, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return results
}

func TestParseReadsEveryBenchmarkOfACapturedRunAndNothingElse(t *testing.T) {
	results := parseFixture(t)
	var names []string
	for _, r := range results {
		names = append(names, r.Name)
	}
	want := []string{
		"BenchmarkRootWithMetrics", "BenchmarkRootWithoutMetrics", "BenchmarkMetricsMiddleware",
		"BenchmarkDecide/canary", "BenchmarkDecide/infrastructure",
		"BenchmarkDecideLatency/infrastructure", "BenchmarkDecideLatency/canary",
		"BenchmarkParseAndCompute", "BenchmarkAuditMillionEvents",
		"BenchmarkPromoteGate",
		"BenchmarkOpenLoop/1000rps/nginx", "BenchmarkOpenLoop/1000rps/direct",
		"BenchmarkOpenLoop/5000rps/nginx", "BenchmarkOpenLoop/5000rps/direct",
		"BenchmarkOpenLoop/search", "BenchmarkOpenLoop/held/nginx", "BenchmarkOpenLoop/held/direct", "BenchmarkOpenLoop/switch", "BenchmarkOpenLoop/release",
		"BenchmarkThroughputDirect", "BenchmarkThroughputThroughNginx", "BenchmarkThroughputSeedPython",
		"BenchmarkMetricsMiddlewareCost", "BenchmarkAccessLogCost",
		"BenchmarkDeployToHealthy", "BenchmarkSwarmDeployToHealthy", "BenchmarkSwarmPromoteUnderLoad", "BenchmarkReleaseAbort/rate-50pct", "BenchmarkReleaseAbort/rate-10pct", "BenchmarkReleaseAbort/rate-2pct", "BenchmarkReleaseFalseAborts", "BenchmarkEdgeCost", "BenchmarkPromoteUnderLoad", "BenchmarkAuditCommandMillionEvents", "BenchmarkReplayCommand",
	}
	for _, group := range []string{"closed", "1000rps", "5000rps", "search", "held", "overload"} {
		if group == "search" {
			want = append(want, "BenchmarkProxies/search")
			continue
		}
		for _, target := range PeerTargets {
			want = append(want, "BenchmarkProxies/"+group+"/"+target)
		}
		if group == "closed" {
			for _, step := range []string{"host-network", "published-port", "headers", "access-logs"} {
				want = append(want, "BenchmarkProxies/closed/ladder-"+step)
			}
		}
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("names =\n%q\nwant\n%q", names, want)
	}
}

func TestParseKeepsPackageProcsIterationsAndEveryUnit(t *testing.T) {
	results := parseFixture(t)
	cases := []Result{
		{Package: policyPkg, Name: "BenchmarkDecideLatency/canary", Procs: 2, N: 1, Metrics: map[string]float64{
			"ns/op": 2123100038, "p50-ns": 88380, "p99-ns": 1143460, "B/op": 247259424, "allocs/op": 5407718,
		}},
		{Package: "github.com/swiftdeploy/swiftdeploy/internal/metrics", Name: "BenchmarkParseAndCompute", Procs: 2, N: 1, Metrics: map[string]float64{
			"ns/op": 3482748, "MB/s": 16.35, "B/op": 674208, "allocs/op": 21002,
		}},
		// Its own stdout split the name from the figures, which come on the next line.
		{Package: e2ePkg, Name: "BenchmarkDeployToHealthy", Procs: 2, N: 2, Metrics: map[string]float64{
			"ns/op": 3420113245, "s": 3.42, "B/op": 81234, "allocs/op": 903,
		}},
		{Package: e2ePkg, Name: "BenchmarkPromoteUnderLoad", Procs: 2, N: 1, Metrics: map[string]float64{
			"ns/op": 15020331876, "failed": 0, "healthy-to-moved-s": 2.1, "requests": 14321, "switch-s": 2.87, "B/op": 402311, "allocs/op": 5120,
		}},
		// A sub-benchmark's name keeps its slashes; a unit may hold a dot and a percent sign.
		{Package: e2ePkg, Name: "BenchmarkOpenLoop/1000rps/nginx", Procs: 2, N: 1, Metrics: map[string]float64{
			"ns/op": 5000811243, "failed": 0, "p50-ms": 0.912, "p99-ms": 3.87, "p99.9-ms": 9.214,
			"rate-req/s": 1000, "requests": 5000, "sent-req/s": 1000,
		}},
		{Package: e2ePkg, Name: "BenchmarkMetricsMiddlewareCost", Procs: 2, N: 1, Metrics: map[string]float64{
			"ns/op": 30123807540, "cost-%": 2.099, "cpu-cost-%": 2.328, "with-req/s": 13976, "without-req/s": 14197,
		}},
	}
	for _, want := range cases {
		got, ok := find(results, want.Name)
		if !ok {
			t.Errorf("%s not parsed", want.Name)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s =\n%+v\nwant\n%+v", want.Name, got, want)
		}
	}
}

func find(results []Result, name string) (Result, bool) {
	for _, r := range results {
		if r.Name == name {
			return r, true
		}
	}
	return Result{}, false
}

func TestParseReadsBackWhatItParsedWhenPrintedAsGoTestDoes(t *testing.T) {
	results := parseFixture(t)
	var b strings.Builder
	pkg := ""
	for _, r := range results {
		if r.Package != pkg {
			pkg = r.Package
			fmt.Fprintf(&b, "goos: linux\npkg: %s\n", pkg)
		}
		b.WriteString(goTestLine(r) + "\n")
	}
	again, err := Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatalf("Parse of printed results: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(again, results) {
		t.Errorf("round trip changed the results:\n%s", b.String())
	}
}

// goTestLine prints r the way go test does: spaces padding, tabs between figures.
func goTestLine(r Result) string {
	name := r.Name
	if r.Procs != 1 {
		name = fmt.Sprintf("%s-%d", r.Name, r.Procs)
	}
	line := fmt.Sprintf("%-40s\t%8d", name, r.N)
	units := make([]string, 0, len(r.Metrics))
	for unit := range r.Metrics {
		units = append(units, unit)
	}
	sort.Strings(units)
	for _, unit := range units {
		line += fmt.Sprintf("\t%12s %s", strconv.FormatFloat(r.Metrics[unit], 'f', -1, 64), unit)
	}
	return line
}

func TestParseSplitsOnlyANumericSuffixFromTheName(t *testing.T) {
	cases := []struct {
		line      string
		name      string
		procs     int
		nsPerOp   float64
		iterCount int
	}{
		{"BenchmarkX-2 \t 10 \t 123 ns/op", "BenchmarkX", 2, 123, 10},
		{"BenchmarkX 1 5 ns/op", "BenchmarkX", 1, 5, 1},
		{"BenchmarkDecide/canary-safety   3   7.5 ns/op", "BenchmarkDecide/canary-safety", 1, 7.5, 3},
		{"BenchmarkSize/n-10-16\t100\t42 ns/op", "BenchmarkSize/n-10", 16, 42, 100},
	}
	for _, tt := range cases {
		results, err := Parse(strings.NewReader(tt.line))
		if err != nil || len(results) != 1 {
			t.Errorf("Parse(%q) = %v, %v; want one result", tt.line, results, err)
			continue
		}
		r := results[0]
		if r.Name != tt.name || r.Procs != tt.procs || r.N != tt.iterCount || r.Metrics["ns/op"] != tt.nsPerOp {
			t.Errorf("Parse(%q) = %+v; want name %q, procs %d, N %d, %v ns/op", tt.line, r, tt.name, tt.procs, tt.iterCount, tt.nsPerOp)
		}
	}
}

func TestParseReportsEveryMalformedLineAndKeepsTheGoodOnes(t *testing.T) {
	input := strings.Join([]string{
		"pkg: example.com/p",
		"BenchmarkGood-2   \t       1\t       150 ns/op",
		"BenchmarkOdd-2    \t       1\t       150 ns/op\t 3",
		"BenchmarkWord-2   \t       1\t      fast ns/op",
		"BenchmarkNaN-2    \t       1\t       NaN p99-ms",
	}, "\n")
	results, err := Parse(strings.NewReader(input))
	if err == nil {
		t.Fatal("Parse accepted malformed lines")
	}
	for _, want := range []string{"line 3: BenchmarkOdd-2", "line 4: BenchmarkWord-2", "line 5: BenchmarkNaN-2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if len(results) != 1 || results[0].Name != "BenchmarkGood" || results[0].Package != "example.com/p" {
		t.Errorf("results = %+v, want only BenchmarkGood from example.com/p", results)
	}
}
