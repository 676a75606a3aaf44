package routelog

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var canaryAt = func(addr string) bool { return addr == "172.20.0.9" }

func TestReadMeasuresEachBuildFromItsAttempts(t *testing.T) {
	log := strings.Join([]string{
		"100.000|app_stable|200|172.20.0.3:3000|200|0.002|/|",
		"100.100|app_canary|200|172.20.0.9:3000|200|0.004|/|",
		"100.200|app_canary|500|172.20.0.9:3000|500|0.001|/api|",
		// the canary refused the connection: nginx retried on stable.
		"100.300|app_canary|200|172.20.0.9:3000, 172.20.0.3:3000|502, 200|0.000, 0.003|/|",
		// probes and the tool's own calls are not traffic.
		"100.400|app_canary|200|172.20.0.9:3000|200|0.001|/healthz|",
		"100.500|app_stable|200|-|-|-|/.well-known/swiftdeploy/routing|",
		// nginx answered 502 without any address to try.
		"100.600|app_canary|502|-|-|-|/|",
		// outside the window.
		"99.999|app_canary|500|172.20.0.9:3000|500|0.001|/|",
		"101.000|app_canary|500|172.20.0.9:3000|500|0.001|/|",
		"garbage",
	}, "\n")
	w, err := Read(strings.NewReader(log), time.Unix(100, 0), time.Unix(101, 0), canaryAt)
	if err != nil {
		t.Fatal(err)
	}
	if w.Canary.Requests != 4 || w.Canary.Errors != 3 {
		t.Errorf("canary %d requests, %d errors; want 4 and 3", w.Canary.Requests, w.Canary.Errors)
	}
	if w.Stable.Requests != 2 || w.Stable.Errors != 0 {
		t.Errorf("stable %d requests, %d errors; want 2 and 0", w.Stable.Requests, w.Stable.Errors)
	}
	if w.Canary.ErrorRatePercent != 75 {
		t.Errorf("canary error rate %.2f%%, want 75%%", w.Canary.ErrorRatePercent)
	}
	if want := time.Unix(100, 200e6); !w.FirstCanaryError.Equal(want) {
		t.Errorf("first canary error at %v, want %v", w.FirstCanaryError, want)
	}
	if w.All.Requests != 5 || w.All.Errors != 2 {
		t.Errorf("all: %d requests, %d errors; want 5 and 2 (what clients got)", w.All.Requests, w.All.Errors)
	}
	if w.Skipped != 1 {
		t.Errorf("skipped %d lines, want 1", w.Skipped)
	}
}

func TestP99InterpolatesBetweenRanks(t *testing.T) {
	samples := make([]float64, 101)
	for i := range samples {
		samples[100-i] = float64(i)
	}
	if got := P99(samples); math.Abs(got-99) > 1e-9 {
		t.Errorf("P99 of 0..100 = %v, want 99", got)
	}
	if got := P99(nil); got != 0 {
		t.Errorf("P99 of nothing = %v, want 0", got)
	}
}

func TestSmokeRequestsCountWithTheRestAndApart(t *testing.T) {
	log := strings.Join([]string{
		"100.000|app_stable|200|172.20.0.3:3000|200|0.002|/|",
		"100.100|app_stable|200|172.20.0.3:3000|200|0.002|/|1",
		"100.200|app_canary|500|172.20.0.9:3000|500|0.001|/api|1",
		"100.300|app_canary|200|172.20.0.9:3000|200|0.001|/a|1",
		// the canary failed a smoke request and nginx answered it from stable:
		// smoke on both sides, as every attempt counts.
		"100.400|app_canary|200|172.20.0.9:3000, 172.20.0.3:3000|502, 200|0.000, 0.003|/|1",
		// a smoke request of a probe path is still not traffic.
		"100.500|app_canary|200|172.20.0.9:3000|200|0.001|/healthz|1",
		// an old line without the smoke field does not parse, nor does one
		// whose $uri holds a '|'.
		"100.600|app_canary|200|172.20.0.9:3000|200|0.001|/",
		"100.700|app_canary|200|172.20.0.9:3000|200|0.001|/a|b|1",
	}, "\n")
	w, err := Read(strings.NewReader(log), time.Unix(100, 0), time.Unix(101, 0), canaryAt)
	if err != nil {
		t.Fatal(err)
	}
	if w.Canary.Requests != 3 || w.Canary.Smoke != 3 || w.Canary.Users() != 0 || w.Canary.Errors != 2 {
		t.Errorf("canary %+v, want 3 requests, all smoke, 2 failed", w.Canary)
	}
	if w.Stable.Requests != 3 || w.Stable.Smoke != 2 || w.Stable.Users() != 1 {
		t.Errorf("stable %+v, want 3 requests: 1 user + 2 smoke", w.Stable)
	}
	if w.All.Requests != 5 || w.All.Smoke != 4 {
		t.Errorf("all %+v, want 5 requests, 4 of them smoke", w.All)
	}
	if w.Skipped != 2 {
		t.Errorf("skipped %d lines, want the old one and the one with a '|' in its path", w.Skipped)
	}
}

func TestATallyCountsWhatIsWrittenPieceByPiece(t *testing.T) {
	lines := "100.000|app|200|172.20.0.3:3000|200|0.002|/|\n" +
		"100.100|app|500|172.20.0.9:3000|500|0.001|/|\n" +
		"100.200|app|200|172.20.0.9:3000|200|0.004|/|\n"
	whole, err := Read(strings.NewReader(lines), time.Unix(100, 0), time.Time{}, canaryAt)
	if err != nil {
		t.Fatal(err)
	}
	tally := NewTally(time.Unix(100, 0), canaryAt)
	// nginx's buffer ends anywhere: in the middle of a line, of a number.
	for _, piece := range []string{lines[:10], lines[10:50], lines[50:51], lines[51:]} {
		tally.Write([]byte(piece))
	}
	got := tally.Window()
	if got.Canary.Requests != 2 || got.Canary.Errors != 1 || got.Stable.Requests != 1 || got.Lines != 3 || got.Skipped != 0 {
		t.Errorf("piece by piece: %+v; want 2 canary requests (1 failed) and 1 stable, 3 lines", got)
	}
	if !slices.Equal(got.Canary.Latencies, []float64{1, 4}) || !slices.Equal(whole.Canary.Latencies, got.Canary.Latencies) {
		t.Errorf("canary latencies %v piece by piece, %v whole; want [1 4] ms", got.Canary.Latencies, whole.Canary.Latencies)
	}
	if !got.To.Equal(time.Unix(100, 200e6)) {
		t.Errorf("a window without an end ends at %v, want its latest line", got.To)
	}
}

func TestAnEndedWindowKeepsLaterLinesForItsExtension(t *testing.T) {
	tally := NewTally(time.Unix(100, 0), canaryAt)
	tally.Until(time.Unix(101, 0))
	tally.Write([]byte("100.500|app|500|172.20.0.9:3000|500|0.001|/|\n101.500|app|500|172.20.0.9:3000|500|0.001|/|\n"))
	if w := tally.Window(); w.Canary.Requests != 1 || !w.To.Equal(time.Unix(101, 0)) {
		t.Errorf("window to 101: %d canary requests, to %v; want 1, to 101", w.Canary.Requests, w.To)
	}
	tally.Until(time.Unix(102, 0))
	if w := tally.Window(); w.Canary.Requests != 2 || w.Lines != 2 {
		t.Errorf("extended to 102: %d canary requests of %d lines; want the line kept aside counted once", w.Canary.Requests, w.Lines)
	}
}

func TestASampleStaysBoundedAndUniform(t *testing.T) {
	tally := NewTally(time.Unix(0, 0), canaryAt)
	var b strings.Builder
	const n = 10 * SampleSize
	for i := range n {
		// the first half of the requests take 1 ms, the second half 2 ms.
		ms := 1 + 2*i/n
		fmt.Fprintf(&b, "%d.000|app|200|172.20.0.9:3000|200|0.00%d|/|\n", 100+i/1000, ms)
	}
	tally.Write([]byte(b.String()))
	w := tally.Window()
	if w.Canary.Requests != n || len(w.Canary.Latencies) != SampleSize {
		t.Fatalf("%d requests, a sample of %d; want %d and %d", w.Canary.Requests, len(w.Canary.Latencies), n, SampleSize)
	}
	late := 0
	for _, ms := range w.Canary.Latencies {
		if ms == 2 {
			late++
		}
	}
	// A uniform sample holds about half of each; the first SampleSize
	// alone would hold no 2 ms at all.
	if share := float64(late) / SampleSize; math.Abs(share-0.5) > 0.05 {
		t.Errorf("%.1f%% of the sample is from the second half, want about 50%%", 100*share)
	}
	again := NewTally(time.Unix(0, 0), canaryAt)
	again.Write([]byte(b.String()))
	if !slices.Equal(again.Window().Canary.Latencies, w.Canary.Latencies) {
		t.Error("the same lines gave another sample")
	}
}

func TestAWarmUpCountsRequestsButNotTheirTimes(t *testing.T) {
	lines := "100.000|app|200|172.20.0.3:3000|200|0.002|/|\n" +
		"100.100|app|500|172.20.0.9:3000|500|0.900|/|\n" +
		"101.900|app|200|172.20.0.9:3000, 172.20.0.3:3000|502, 200|0.800, 0.700|/|\n" +
		"102.000|app|200|172.20.0.9:3000|200|0.004|/|\n" +
		"102.100|app|200|172.20.0.3:3000|200|0.003|/|\n"
	tally := NewTally(time.Unix(100, 0), canaryAt)
	tally.TimedFrom(time.Unix(102, 0))
	tally.Write([]byte(lines))
	w := tally.Window()
	if w.Canary.Requests != 3 || w.Canary.Errors != 2 || w.Stable.Requests != 3 || w.All.Requests != 5 {
		t.Errorf("canary %d requests (%d failed), stable %d, all %d; want 3 (2 failed), 3 and 5: a warm-up's requests count",
			w.Canary.Requests, w.Canary.Errors, w.Stable.Requests, w.All.Requests)
	}
	if !w.FirstCanaryError.Equal(time.Unix(100, 100e6)) {
		t.Errorf("first canary error at %v, want the warm-up's", w.FirstCanaryError)
	}
	if !slices.Equal(w.Canary.Latencies, []float64{4}) || !slices.Equal(w.Stable.Latencies, []float64{3}) || !slices.Equal(w.All.Latencies, []float64{4, 3}) {
		t.Errorf("times canary %v, stable %v, all %v; want [4], [3] and [4 3] ms: none from before 102", w.Canary.Latencies, w.Stable.Latencies, w.All.Latencies)
	}
	if w.Canary.P99Ms != 4 {
		t.Errorf("canary P99 %v ms, want 4 (the warm-up's 900 ms left out)", w.Canary.P99Ms)
	}
}
