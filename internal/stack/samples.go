package stack

import (
	"encoding/json"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
)

// Events that carry a metrics sample: status_scrape holds it under "sample",
// metrics_sample (written by promote's own scrapes) at the top level.
const (
	statusScrapeEvent  = history.EventStatusScrape
	metricsSampleEvent = history.EventMetricsSample
)

// recordedSample is a metrics.Sample as history stores it.
type recordedSample struct {
	At            time.Time        `json:"at"`
	Requests      float64          `json:"requests"`
	Errors        float64          `json:"errors"`
	Buckets       []metrics.Bucket `json:"buckets"`
	UptimeSeconds float64          `json:"uptime_seconds"`
	Mode          float64          `json:"mode"`
	Chaos         float64          `json:"chaos"`
}

func recorded(smp metrics.Sample) recordedSample {
	return recordedSample{At: smp.At.UTC(), Requests: smp.Requests, Errors: smp.Errors, Buckets: smp.Buckets,
		UptimeSeconds: smp.UptimeSeconds, Mode: smp.Mode, Chaos: smp.Chaos}
}

func (r recordedSample) sample() metrics.Sample {
	return metrics.Sample{At: r.At, Requests: r.Requests, Errors: r.Errors, Buckets: r.Buckets,
		UptimeSeconds: r.UptimeSeconds, Mode: r.Mode, Chaos: r.Chaos}
}

func (s *Stack) recordSample(smp metrics.Sample) {
	fields := map[string]any{}
	doc, _ := json.Marshal(recorded(smp)) // plain numbers, a time and buckets that marshal themselves
	_ = json.Unmarshal(doc, &fields)
	s.record(metricsSampleEvent, fields)
}

// sampleOf reads the sample a history record carries, if any.
func sampleOf(rec history.Record) (metrics.Sample, bool) {
	var v any = rec.Fields
	if rec.Event == statusScrapeEvent {
		v = rec.Fields["sample"]
	}
	doc, err := json.Marshal(v)
	if err != nil {
		return metrics.Sample{}, false
	}
	var r recordedSample
	if err := json.Unmarshal(doc, &r); err != nil || r.At.IsZero() {
		return metrics.Sample{}, false
	}
	return r.sample(), true
}

// sampleAged returns the newest sample recorded in history whose age is between
// minAge and maxAge, from either event that carries one.
func (s *Stack) sampleAged(minAge, maxAge time.Duration) (metrics.Sample, bool) {
	now := s.Now()
	var best metrics.Sample
	found := false
	for _, event := range []string{statusScrapeEvent, metricsSampleEvent} {
		rec, ok, err := history.LastWhere(s.path(HistoryFile), event, func(r history.Record) bool {
			smp, ok := sampleOf(r)
			return ok && now.Sub(smp.At) >= minAge
		})
		if err != nil || !ok {
			continue
		}
		smp, _ := sampleOf(rec)
		if age := now.Sub(smp.At); age <= maxAge && (!found || smp.At.After(best.At)) {
			best, found = smp, true
		}
	}
	return best, found
}
