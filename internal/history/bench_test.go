package history

import (
	"bytes"
	"encoding/json"
	"testing"
)

// scrapeLine is a status_scrape line as the product writes it, the bulk of a history.
var scrapeLine = []byte(`{"timestamp":"2026-05-05T21:00:17Z","event":"status_scrape","chaos":"none","mode":"canary","sample":{"at":"2026-05-05T21:00:17Z","buckets":[[0.005,1500],[0.01,2200],[0.025,2500],[0.05,2500],[0.1,2500],[0.25,2500],[0.5,2500],[1,2500],[2.5,2500],[5,2500],[10,2500],["+Inf",2500]],"chaos":"none","errors":12,"mode":"canary","requests":2500,"uptime_seconds":517},"window":{"error_rate_percent":0.4,"no_traffic":false,"p99_latency_ms":14.5,"requests":150,"window_seconds":30}}` + "\n")

// BenchmarkNextRawScrapeLines measures reading status_scrape lines and their
// window, what an audit of a long history spends its time on.
func BenchmarkNextRawScrapeLines(b *testing.B) {
	data := bytes.Repeat(scrapeLine, 10_000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r := NewReader(bytes.NewReader(data))
		for raw, ok := r.NextRaw(); ok; raw, ok = r.NextRaw() {
			if _, ok := raw.Number("window", "p99_latency_ms"); !ok {
				b.Fatal("no p99")
			}
		}
	}
}

// BenchmarkUnmarshalScrapeLines is the encoding/json baseline for the same lines.
func BenchmarkUnmarshalScrapeLines(b *testing.B) {
	b.SetBytes(int64(len(scrapeLine)))
	for b.Loop() {
		var line struct {
			Timestamp string
			Event     string
			Window    struct {
				P99 float64 `json:"p99_latency_ms"`
			}
		}
		if err := json.Unmarshal(scrapeLine, &line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeScrapeRefresh measures decoding a status_scrape line's
// refresh (mode, chaos, window) with a Decoder that read it before, what an
// audit does with most lines, beside BenchmarkUnmarshalScrapeLines.
func BenchmarkDecodeScrapeRefresh(b *testing.B) {
	r := NewReader(bytes.NewReader(scrapeLine))
	raw, ok := r.NextRaw()
	if !ok {
		b.Fatal(r.Skipped())
	}
	var d Decoder
	b.SetBytes(int64(len(scrapeLine)))
	for b.Loop() {
		var f Refresh
		if err := d.Decode(raw, &f); err != nil || f.Window.Requests == 0 {
			b.Fatal(err)
		}
	}
}
