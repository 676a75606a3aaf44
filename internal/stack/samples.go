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

// recorded is smp as history stores it.
func recorded(smp metrics.Sample) history.Sample {
	return history.Sample{At: smp.At.UTC(), Requests: smp.Requests, Errors: smp.Errors, Buckets: smp.Buckets,
		UptimeSeconds: smp.UptimeSeconds, Mode: smp.Mode, Chaos: smp.Chaos}
}

func fromRecorded(r history.Sample) metrics.Sample {
	return metrics.Sample{At: r.At, Requests: r.Requests, Errors: r.Errors, Buckets: r.Buckets,
		UptimeSeconds: r.UptimeSeconds, Mode: r.Mode, Chaos: r.Chaos}
}

// recordSample records one of promote's own scrapes. It goes through
// history.Fields, as it always has: its buckets' keys come out sorted.
func (s *Stack) recordSample(smp metrics.Sample) {
	s.record(metricsSampleEvent, history.Fields(recorded(smp)))
}

// sampleOf reads the sample a history record carries, if any: a record that
// does not decode as its event's payload carries none.
func sampleOf(rec history.Record) (metrics.Sample, bool) {
	doc, err := json.Marshal(rec.Fields)
	if err != nil {
		return metrics.Sample{}, false
	}
	var smp history.Sample
	if rec.Event == statusScrapeEvent {
		var scrape history.StatusScrape
		if json.Unmarshal(doc, &scrape) != nil || scrape.Sample == nil {
			return metrics.Sample{}, false
		}
		smp = *scrape.Sample
	} else if json.Unmarshal(doc, &smp) != nil {
		return metrics.Sample{}, false
	}
	if smp.At.IsZero() {
		return metrics.Sample{}, false
	}
	return fromRecorded(smp), true
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
