// Package metrics turns scrapes of the service's Prometheus /metrics endpoint into
// windowed statistics: the error rate and the P99 latency of application traffic
// between two scrapes, never since the process started.
//
// A Sample is one scrape reduced to the few numbers a window needs; Compute subtracts
// two samples and handles counter resets (a replaced container starts from zero);
// Quantile follows PromQL's histogram_quantile so that our P99 is the one an operator
// would see in Prometheus.
package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric family names exposed by the service (SPEC §4).
const (
	requestsFamily = "http_requests_total"
	durationFamily = "http_request_duration_seconds"
	uptimeFamily   = "app_uptime_seconds"
	modeFamily     = "app_mode"
	chaosFamily    = "chaos_active"
)

// maxScrapeBytes bounds a scrape body: the service prints a few tens of kilobytes,
// so anything near this size is not our service and must not exhaust memory.
const maxScrapeBytes = 8 << 20

// Sample is one scrape, reduced to what a window needs.
type Sample struct {
	At time.Time
	// Requests counts application traffic only: paths /healthz, /metrics and /chaos are
	// excluded because probes and the tool's own calls would dilute the error rate.
	Requests float64
	// Errors counts the 5xx responses among Requests.
	Errors float64
	// Buckets is the cumulative latency histogram of application traffic, summed over
	// methods and application paths, sorted by UpperBound with +Inf last.
	Buckets       []Bucket
	UptimeSeconds float64
	Mode          float64 // 0 stable, 1 canary
	Chaos         float64 // 0 none, 1 slow, 2 error
}

// Bucket is one cumulative histogram bucket: Count observations were ≤ UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Scrape fetches url and parses the answer as a Sample taken at at.
// A non-200 answer is an error that quotes the start of the body, since through
// nginx it is usually a JSON error page that says what went wrong.
func Scrape(ctx context.Context, client *http.Client, url string, at time.Time) (Sample, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Sample{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	// Ask for the classic text format: OpenMetrics or protobuf would not suit the text parser.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxScrapeBytes+1)
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(body, 200))
		return Sample{}, fmt.Errorf("scrape %s: status %s: %s", url, resp.Status, strings.TrimSpace(string(snippet)))
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return Sample{}, fmt.Errorf("scrape %s: read body: %w", url, err)
	}
	if len(data) > maxScrapeBytes {
		return Sample{}, fmt.Errorf("scrape %s: body larger than %d bytes", url, maxScrapeBytes)
	}
	s, err := Parse(bytes.NewReader(data), at)
	if err != nil {
		return Sample{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	return s, nil
}

// Parse reads Prometheus text exposition and reduces it to a Sample taken at at.
//
// A missing metric family counts as zero: client_golang prints nothing for a
// labelled counter or histogram that has seen no traffic yet. Input that is not
// Prometheus text, or that holds no metric at all, is an error: treating it as an
// all-zero scrape would look like a counter reset with no traffic and wave a
// promotion through. Every problem in the families we use is reported at once.
func Parse(r io.Reader, at time.Time) (Sample, error) {
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return Sample{}, fmt.Errorf("parse scrape: %w", err)
	}
	if len(families) == 0 {
		return Sample{}, errors.New("parse scrape: no metrics found: not a Prometheus exposition")
	}
	s := Sample{At: at}
	var errs [5]error
	s.Requests, s.Errors, errs[0] = requestCounts(families[requestsFamily])
	s.Buckets, errs[1] = latencyBuckets(families[durationFamily])
	s.UptimeSeconds, errs[2] = gaugeValue(families[uptimeFamily])
	s.Mode, errs[3] = gaugeValue(families[modeFamily])
	s.Chaos, errs[4] = gaugeValue(families[chaosFamily])
	if err := errors.Join(errs[:]...); err != nil {
		return Sample{}, fmt.Errorf("parse scrape: %w", err)
	}
	return s, nil
}

// isAppPath reports whether traffic on path is application traffic. Health probes,
// scrapes and chaos injections are the tool talking to itself.
func isAppPath(path string) bool {
	switch path {
	case "/healthz", "/metrics", "/chaos":
		return false
	}
	return true
}

// is5xx reports whether a status_code label value is a server error.
func is5xx(code string) bool {
	n, err := strconv.Atoi(code)
	return err == nil && n >= 500 && n <= 599
}

func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// checkType accepts the expected type and untyped, which is what a scrape without
// TYPE lines gives.
func checkType(mf *dto.MetricFamily, want dto.MetricType) error {
	if t := mf.GetType(); t != want && t != dto.MetricType_UNTYPED {
		return fmt.Errorf("%s: type %s, want %s", mf.GetName(), t, want)
	}
	return nil
}

// checkCount rejects values no counter can hold; they would poison every ratio.
func checkCount(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%s: count %v is not a finite non-negative number", name, v)
	}
	return nil
}

// scalar reads a counter, gauge or untyped value, whichever the metric holds.
func scalar(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

func requestCounts(mf *dto.MetricFamily) (requests, errs5xx float64, err error) {
	if mf == nil {
		return 0, 0, nil
	}
	if err := checkType(mf, dto.MetricType_COUNTER); err != nil {
		return 0, 0, err
	}
	for _, m := range mf.GetMetric() {
		if !isAppPath(labelValue(m, "path")) {
			continue
		}
		v := scalar(m)
		if err := checkCount(mf.GetName(), v); err != nil {
			return 0, 0, err
		}
		requests += v
		if is5xx(labelValue(m, "status_code")) {
			errs5xx += v
		}
	}
	// Each count is finite, but a sum of huge ones need not be.
	if err := checkCount(mf.GetName()+" sum", requests); err != nil {
		return 0, 0, err
	}
	return requests, errs5xx, nil
}

func gaugeValue(mf *dto.MetricFamily) (float64, error) {
	if mf == nil {
		return 0, nil
	}
	if err := checkType(mf, dto.MetricType_GAUGE); err != nil {
		return 0, err
	}
	if n := len(mf.GetMetric()); n != 1 {
		return 0, fmt.Errorf("%s: %d series, want exactly 1", mf.GetName(), n)
	}
	v := scalar(mf.GetMetric()[0])
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s: value %v is not finite", mf.GetName(), v)
	}
	return v, nil
}

// latencyBuckets sums the histogram of every application series bucket by bucket
// (PromQL's sum by (le)).
func latencyBuckets(mf *dto.MetricFamily) ([]Bucket, error) {
	if mf == nil {
		return nil, nil
	}
	if mf.GetType() != dto.MetricType_HISTOGRAM {
		return nil, fmt.Errorf("%s: type %s, want HISTOGRAM", mf.GetName(), mf.GetType())
	}
	var sum []Bucket
	for _, m := range mf.GetMetric() {
		if !isAppPath(labelValue(m, "path")) {
			continue
		}
		var err error
		if sum, err = addHistogram(sum, mf.GetName(), m.GetHistogram()); err != nil {
			return nil, err
		}
	}
	for _, b := range sum {
		if err := checkCount(mf.GetName()+" sum", b.Count); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(sum, func(a, b Bucket) int { return compareFloat(a.UpperBound, b.UpperBound) })
	return sum, nil
}

// addHistogram adds one series' buckets to sum. A series printed without its +Inf
// bucket gets one from its _count, which is what +Inf holds by definition.
func addHistogram(sum []Bucket, name string, h *dto.Histogram) ([]Bucket, error) {
	sawInf := false
	for _, b := range h.GetBucket() {
		count := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			count = b.GetCumulativeCountFloat()
		}
		if err := checkCount(name, count); err != nil {
			return nil, err
		}
		sawInf = sawInf || math.IsInf(b.GetUpperBound(), +1)
		sum = addToBucket(sum, b.GetUpperBound(), count)
	}
	if !sawInf {
		count := float64(h.GetSampleCount())
		if h.SampleCountFloat != nil {
			count = h.GetSampleCountFloat()
		}
		if err := checkCount(name, count); err != nil {
			return nil, err
		}
		sum = addToBucket(sum, math.Inf(+1), count)
	}
	return sum, nil
}

// addToBucket adds count to the bucket with the given bound, creating it if needed.
// A linear search beats a map here: there are a dozen bounds.
func addToBucket(sum []Bucket, bound, count float64) []Bucket {
	for i := range sum {
		if sum[i].UpperBound == bound {
			sum[i].Count += count
			return sum
		}
	}
	return append(sum, Bucket{UpperBound: bound, Count: count})
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return +1
	}
	return 0
}

// Sum is one sample of several instances of the same service scraped at
// about the same time: counts and histograms add up, the uptime is the
// youngest instance's (so a replaced instance reads as a restart), mode and
// chaos the highest any instance reports. At is the latest scrape's.
func Sum(samples ...Sample) Sample {
	var sum Sample
	for i, s := range samples {
		sum.Requests += s.Requests
		sum.Errors += s.Errors
		for _, b := range s.Buckets {
			sum.Buckets = addToBucket(sum.Buckets, b.UpperBound, b.Count)
		}
		if i == 0 || s.UptimeSeconds < sum.UptimeSeconds {
			sum.UptimeSeconds = s.UptimeSeconds
		}
		sum.Mode, sum.Chaos = max(sum.Mode, s.Mode), max(sum.Chaos, s.Chaos)
		if s.At.After(sum.At) {
			sum.At = s.At
		}
	}
	slices.SortFunc(sum.Buckets, func(a, b Bucket) int { return compareFloat(a.UpperBound, b.UpperBound) })
	return sum
}
