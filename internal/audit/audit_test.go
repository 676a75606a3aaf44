package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/golden"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/judge"
)

var now = time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC)

func TestWriteMatchesGoldenReports(t *testing.T) {
	tests := []struct {
		name            string
		events, skipped int
	}{
		{"smoke", 8, 0},
		{"empty", 0, 0},
		{"small", 13, 0},
		{"chaos", 47, 0},
		{"malformed", 7, 5},
		{"recover", 5, 0},
		{"release", 16, 0},
		{"costs", 14, 0},
		{"judged", 31, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hist, err := os.Open(filepath.Join("testdata", tt.name+".jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer hist.Close()
			var got bytes.Buffer
			stats, err := Write(&got, hist, Options{Now: now, Source: tt.name + ".jsonl"})
			if err != nil {
				t.Fatal(err)
			}
			if stats.Events != tt.events || stats.Skipped != tt.skipped || len(stats.Skips) != tt.skipped {
				t.Errorf("stats = %+v, want %d events and %d skipped", stats, tt.events, tt.skipped)
			}
			golden.Check(t, filepath.Join("testdata", tt.name+".md"), got.Bytes())
			checkTables(t, got.String())
		})
	}
}

// checkTables asserts every table row has as many cells as its header, which an
// unescaped | or newline in a cell would break.
func checkTables(t *testing.T, report string) {
	t.Helper()
	cells := 0
	for i, line := range strings.Split(report, "\n") {
		if !strings.HasPrefix(line, "|") {
			cells = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") - 1
		if cells == 0 {
			cells = n
		} else if n != cells {
			t.Errorf("line %d has %d cells, its table %d: %s", i+1, n, cells, line)
		}
	}
}

func TestWriteFileTreatsAMissingHistoryAsEmptyAndLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "audit_report.md")
	if err := os.WriteFile(report, []byte("old report"), 0o644); err != nil {
		t.Fatal(err)
	}
	stats, err := WriteFile(report, filepath.Join(dir, "history.jsonl"), Options{Now: now, Source: "history.jsonl"})
	if err != nil || stats.Events != 0 {
		t.Fatalf("WriteFile = %+v, %v", stats, err)
	}
	got, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "empty.md"))
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.Replace(want, []byte("empty.jsonl"), []byte("history.jsonl"), 1)
	if !bytes.Equal(got, want) {
		t.Errorf("report for a missing history:\n%s\nwant the empty report:\n%s", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the report", len(entries))
	}
	if info, err := os.Stat(report); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("report mode = %v, %v; want 0644", info.Mode(), err)
	}
}

func TestWriteFileFailsWithoutTouchingTheOldReportWhenTheHistoryIsUnreadable(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "audit_report.md")
	if err := os.WriteFile(report, []byte("old report"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFile(report, dir, Options{Now: now}); err == nil { // a directory reads as an error
		t.Fatal("WriteFile read a directory as a history")
	}
	if got, _ := os.ReadFile(report); string(got) != "old report" {
		t.Errorf("old report replaced by %q", got)
	}
}

func TestTimelineKeepsTheFirstAndLastRowsOfALongHistory(t *testing.T) {
	var hist strings.Builder
	const n = 2000
	for i := range n {
		fmt.Fprintf(&hist, `{"timestamp":"%s","event":"chaos","mode":"error","rate":%d}`+"\n",
			now.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
	}
	var out bytes.Buffer
	if _, err := Write(&out, strings.NewReader(hist.String()), Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	rows := strings.Count(report, "| chaos |")
	if rows != timelineHead+timelineTail {
		t.Errorf("timeline has %d chaos rows, want %d", rows, timelineHead+timelineTail)
	}
	for _, want := range []string{
		"| error, rate 0 |", "| error, rate 49 |", "| error, rate 1550 |", "| error, rate 1999 |",
		fmt.Sprintf("| %d events folded |", n-timelineHead-timelineTail),
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(report, "| error, rate 50 |") || strings.Contains(report, "| error, rate 1549 |") {
		t.Error("report lists a row that should be folded")
	}
	if strings.Index(report, "rate 1998 |") > strings.Index(report, "rate 1999 |") {
		t.Error("the tail of the timeline is out of order")
	}
}

func TestViolationsListAtMostTheFirstGroups(t *testing.T) {
	var hist strings.Builder
	for i := range maxGroups + 5 {
		fmt.Fprintf(&hist, `{"timestamp":"2026-05-05T21:00:00Z","event":"policy_decision","domain":"canary","decision":{"allow":false,"violations":[{"rule":"r%d","message":"m","observed":1,"limit":0}]}}`+"\n", i)
	}
	var out bytes.Buffer
	if _, err := Write(&out, strings.NewReader(hist.String()), Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	if got := strings.Count(report, "| canary | r"); got != maxGroups {
		t.Errorf("listed %d groups, want %d", got, maxGroups)
	}
	if !strings.Contains(report, "| … |  | 5 |") {
		t.Error("report does not count the 5 violations past the listed groups")
	}
}

func TestSeriesKeepsAtMostSixtyPointsAndEverySpike(t *testing.T) {
	for _, n := range []int{1, 59, 60, 61, 119, 120, 121, 1000, 100_003} {
		s := series{span: 1}
		spike := n * 2 / 3
		for i := range n {
			rate := 1.0
			if i == spike {
				rate = 99
			}
			s.add(now.Add(time.Duration(i)*time.Second), rate, float64(i))
		}
		pts := s.plotted()
		worst, windows := 0.0, 0
		for _, p := range pts {
			worst = max(worst, p.errorRate)
			windows += p.n
		}
		if len(pts) > maxPlotted || len(s.points) > maxKept || worst != 99 || windows != n {
			t.Errorf("n=%d: %d points (%d kept), worst %v, %d windows", n, len(pts), len(s.points), worst, windows)
		}
		if !pts[0].at.Equal(now) || pts[len(pts)-1].p99 != float64(n-1) {
			t.Errorf("n=%d: first point at %v, last P99 %v", n, pts[0].at, pts[len(pts)-1].p99)
		}
	}
}

func TestCellEscapesWhatWouldBreakATable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a | b", `a \| b`},
		{"one\ntwo\r\nthree", "one<br>two<br>three"},
		{"<script>&", "&lt;script&gt;&amp;"},
		{"*bold* _it_ `code` [link](x) ~s~", `\*bold\* \_it\_ \` + "`" + `code\` + "`" + ` \[link\](x) \~s\~`},
		{`back\slash`, `back\\slash`},
		{"error rate 56.45% exceeds the 1.00% limit", "error rate 56.45% exceeds the 1.00% limit"},
	}
	for _, tt := range tests {
		if got := cell(tt.in); got != tt.want {
			t.Errorf("cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// BenchmarkAuditMillionEvents reports the time, allocation and peak heap of a
// report on a million events, mostly status scrapes, and the report's size.
func BenchmarkAuditMillionEvents(b *testing.B) {
	path := filepath.Join(b.TempDir(), "history.jsonl")
	writeLongHistory(b, path, 1_000_000)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		var out countingWriter
		peak := sampleHeap(func() {
			if _, err := Write(&out, f, Options{Now: now, Source: "history.jsonl"}); err != nil {
				b.Fatal(err)
			}
		})
		f.Close()
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(out)/1024, "report-KB")
		b.ReportMetric(float64(info.Size())/(1<<20), "history-MB")
	}
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// sampleHeap runs f and returns the largest HeapInuse seen while it ran.
func sampleHeap(f func()) uint64 {
	runtime.GC()
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var most uint64
		var ms runtime.MemStats
		tick := time.NewTicker(100 * time.Millisecond) // ReadMemStats stops the world
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			most = max(most, ms.HeapInuse)
			select {
			case <-done:
				peak <- most
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(done)
	return <-peak
}

// writeLongHistory writes n events shaped like the product's: every 1000th
// event starts a chaos episode with a block, a promotion and a rollback.
func writeLongHistory(b *testing.B, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; {
		at := start.Add(time.Duration(i) * 5 * time.Second).Format(time.RFC3339)
		errRate, p99 := float64(i%7)/10, 10+float64(i%13)
		switch i % 1000 {
		case 0:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"chaos","mode":"error","rate":0.5,"result":"ok"}`+"\n", at)
		case 1:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"policy_decision","action":"promote","decision":{"allow":false,"notes":[],"violations":[{"limit":1,"message":"error rate 52.30%% exceeds the 1.00%% limit","observed":52.3,"rule":"max_error_rate"}]},"domain":"canary","input":{"action":"promote","current_mode":"canary","error_rate_percent":52.3,"p99_latency_ms":14.5,"requests":150,"target_mode":"stable","window_seconds":30},"overridden":false}`+"\n", at)
		case 2:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"promote_blocked","domain":"canary","from":"canary","to":"stable","violations":[{"limit":1,"message":"error rate 52.30%% exceeds the 1.00%% limit","observed":52.3,"rule":"max_error_rate"}]}`+"\n", at)
		case 3:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"chaos","mode":"recover","result":"ok"}`+"\n", at)
		case 4:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"promote","from":"canary","result":"ok","to":"stable"}`+"\n", at)
		case 5:
			fmt.Fprintf(w, `{"timestamp":%q,"event":"rollback","from":"stable","result":"noop","to":"stable"}`+"\n", at)
		default:
			if i%1000 < 60 {
				errRate = 52.3
			}
			fmt.Fprintf(w, `{"timestamp":%q,"event":"status_scrape","chaos":"none","mode":"canary","sample":{"at":%q,"buckets":[[0.005,%d],[0.01,%d],[0.025,%d],[0.05,%d],[0.1,%d],[0.25,%d],[0.5,%d],[1,%d],[2.5,%d],[5,%d],[10,%d],["+Inf",%d]],"chaos":"none","errors":%d,"mode":"canary","requests":%d,"uptime_seconds":%d},"window":{"error_rate_percent":%g,"no_traffic":false,"p99_latency_ms":%g,"requests":150,"window_seconds":30}}`+"\n",
				at, at, i*15, i*22, i*25, i*25, i*25, i*25, i*25, i*25, i*25, i*25, i*25, i*25, i/100, i*25, i*5, errRate, p99)
		}
		i++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

var _ io.Writer = (*countingWriter)(nil)

func TestAFailedCommandCountsInTheSummary(t *testing.T) {
	hist := `{"timestamp":"2026-05-05T21:00:00Z","event":"deploy","result":"failed","error":"deploy: the stack did not become healthy within 60s"}
{"timestamp":"2026-05-05T21:01:00Z","event":"promote","from":"stable","to":"canary","result":"ok"}
`
	var out strings.Builder
	if _, err := Write(&out, strings.NewReader(hist), Options{Now: time.Date(2026, 5, 5, 22, 0, 0, 0, time.UTC), Source: "history.jsonl"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| Failed commands and errors | 1 |") {
		t.Errorf("the summary does not count the failed deploy:\n%s", out.String())
	}
}

func TestAMetricsSampleLeavesTheModeAsTheLastCommandLeftIt(t *testing.T) {
	hist := `{"timestamp":"2026-05-05T21:00:00Z","event":"promote","from":"stable","result":"ok","to":"canary"}
{"timestamp":"2026-05-05T21:01:00Z","event":"metrics_sample","at":"2026-05-05T21:01:00Z","buckets":[],"chaos":0,"errors":0,"mode":1,"requests":5,"uptime_seconds":60}
`
	var out strings.Builder
	if _, err := Write(&out, strings.NewReader(hist), Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Current mode (last known): **canary**") {
		t.Errorf("the report does not give the mode promote left:\n%s", out.String())
	}
}

func TestAViolationOfAMissingInputHasNoObservedFigure(t *testing.T) {
	hist := `{"timestamp":"2026-05-05T21:00:00Z","event":"policy_decision","action":"deploy","decision":{"allow":false,"domain":"infrastructure","checked":{},"violations":[{"rule":"missing_input","observed":null,"limit":"a number","message":"input cpu_load_1m is missing or not a number"}]},"domain":"infrastructure","input":{},"overridden":false}
`
	var out strings.Builder
	if _, err := Write(&out, strings.NewReader(hist), Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	want := "| infrastructure | missing\\_input | 1 | 2026-05-05 21:00:00 | 2026-05-05 21:00:00 |  | a number | input cpu\\_load\\_1m is missing or not a number |"
	if !strings.Contains(out.String(), want) {
		t.Errorf("the report does not list\n%s\nin\n%s", want, out.String())
	}
}

func TestAValueOfTheWrongTypeLeavesTheRestOfItsLineInTheReport(t *testing.T) {
	hist := `{"timestamp":"2026-05-05T21:00:00Z","event":"chaos","mode":"error","rate":"half","result":"ok"}
{"timestamp":"2026-05-05T21:01:00Z","event":"deploy","mode":7,"result":"failed","error":"x"}
{"timestamp":"2026-05-05T21:02:00Z","event":"release","result":"started","steps":"all","from_version":"1","to_version":"2"}
`
	var out strings.Builder
	stats, err := Write(&out, strings.NewReader(hist), Options{Now: now})
	if err != nil || stats.Events != 3 || stats.Skipped != 0 {
		t.Fatalf("Write = %+v, %v", stats, err)
	}
	report := out.String()
	for _, want := range []string{"| 2026-05-05 21:00:00 | chaos | error | ok |", "| 2026-05-05 21:01:00 | deploy |  | failed |",
		"| Chaos injections | 1 |", "| Failed commands and errors | 1 |", "| Releases | 0 |"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
}

func TestEveryMeasuredChangeIsAddedUpAndOnlyTheLatestAreListed(t *testing.T) {
	var hist strings.Builder
	start := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for i := range maxCosts + 5 {
		failed := ""
		if i == 0 {
			// the first, no longer listed, still counts in the figure.
			failed = `"failed_by_status":{"504":1},`
		}
		n := map[bool]int{true: 1, false: 0}[i == 0]
		fmt.Fprintf(&hist, `{"timestamp":%q,"event":"promote","cost":{"failed":%d,%s"parts":[{"failed":%d,"part":"switch","reached_retiring":0,"requests":10,"seconds":6}],"reached_retiring":0,"requests":10},"from":"stable","result":"ok","to":"canary"}`+"\n",
			start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), n, failed, n)
	}
	var out strings.Builder
	if _, err := Write(&out, strings.NewReader(hist.String()), Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	want := fmt.Sprintf("**1 failed (504 ×1), 0 reached a retiring build, in %d changes measured (%d requests).**", maxCosts+5, 10*(maxCosts+5))
	if !strings.Contains(report, want) || !strings.Contains(report, fmt.Sprintf("The last %d measured changes are listed.", maxCosts)) {
		t.Errorf("the report does not add every change up or does not say it lists the latest:\n%s", report)
	}
	if rows := strings.Count(report, "| promote stable → canary | ok | switch |"); rows != maxCosts {
		t.Errorf("%d changes listed, want the last %d", rows, maxCosts)
	}
	if strings.Contains(report, "| 2026-12-02 09:04:00 | promote stable → canary | ok | switch") || !strings.Contains(report, "| 2026-12-02 09:05:00 | promote stable → canary | ok | switch") {
		t.Error("the changes listed are not the latest ones")
	}
}

func TestAHistoryWhoseChangesFailedNoRequestSaysZeroDowntime(t *testing.T) {
	hist := `{"timestamp":"2026-12-02T09:00:00Z","event":"promote","cost":{"failed":0,"parts":[{"failed":0,"part":"switch","reached_retiring":0,"requests":500,"seconds":6}],"reached_retiring":0,"requests":500},"from":"stable","result":"ok","to":"canary"}
{"timestamp":"2026-12-02T09:01:00Z","event":"promote","cost":{"failed":0,"parts":[{"failed":0,"part":"switch","reached_retiring":0,"requests":0,"seconds":6}],"reached_retiring":0,"requests":0},"error":"promote stable: the new app exited","from":"canary","result":"failed","to":"stable"}
{"timestamp":"2026-12-02T09:02:00Z","event":"promote","error":"the stack is locked","result":"failed","to":"stable"}
`
	var out strings.Builder
	if _, err := Write(&out, strings.NewReader(hist), Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	if !strings.Contains(report, "**Zero downtime: 0 failed, 0 reached a retiring build, in 2 changes measured (500 requests).**") {
		t.Errorf("the report does not state its zero-downtime figure:\n%s", report)
	}
	// A command that failed before it moved anything is no change.
	if strings.Contains(report, "without their cost") || strings.Contains(report, "without its cost") {
		t.Errorf("a promote that never moved counts as an unmeasured change:\n%s", report)
	}
}

func TestTheTimelineSaysWhichRenewalsTheEdgesRenewerMadeAndWhatAFailedOneKept(t *testing.T) {
	hist := `{"timestamp":"2026-05-05T21:00:00Z","event":"edge_certificate","action":"renew","by":"renewer","host":"b.test","issuer":"CN=Pebble Intermediate","not_after":"2026-05-05T21:02:00Z","result":"ok","serial":"0A1B","source":"acme"}
{"timestamp":"2026-05-05T21:01:00Z","event":"edge_certificate","action":"renew","forced":true,"host":"b.test","issuer":"CN=Pebble Intermediate","not_after":"2026-05-05T21:03:00Z","result":"ok","serial":"0A1C","source":"acme"}
{"timestamp":"2026-05-05T21:02:00Z","event":"edge_certificate","action":"renew","by":"renewer","error":"b.test: connection refused","host":"b.test","kept":"the certificate expiring 2026-05-05T21:03:00Z","result":"failed","source":"acme"}
`
	var out strings.Builder
	if _, err := Write(&out, strings.NewReader(hist), Options{Now: now}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"renew b.test (acme, by the edge's renewer): CN=Pebble Intermediate, serial 0A1B, expires 2026-05-05T21:02:00Z",
		"renew b.test (acme, forced): CN=Pebble Intermediate, serial 0A1C",
		"renew b.test (acme, by the edge's renewer): b.test: connection refused; serving the certificate expiring 2026-05-05T21:03:00Z",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestAStepsLatencyCellSaysTheWarmUpItsTimesWereMeasuredAfter(t *testing.T) {
	for warmup, want := range map[float64]bool{2: true, 0: false} {
		s := history.ReleaseStep{Stable: history.BuildFigures{Requests: 90}, Evidence: &judge.Evidence{Latency: judge.Latency{WarmupSeconds: warmup}}}
		if _, latency := evidenceCells(s); strings.Contains(latency, ", from 2 s into the step") != want || strings.Contains(latency, "into the step") != want {
			t.Errorf("a %v s warm-up: the latency cell says %q", warmup, latency)
		}
	}
}
