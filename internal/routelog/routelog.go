// Package routelog reads the log nginx writes during a release, one line per
// request, and measures each build from it as clients saw it: how many
// requests each build was asked to answer, how many failed (a 5xx from the
// build, or the 502/504 nginx answered when it could not reach it) and the
// P99 of its upstream response time.
//
// A line is
//
//	$msec|$swiftdeploy_route|$status|$upstream_addr|$upstream_status|$upstream_response_time|$uri|$swiftdeploy_smoke|$request_time
//
// (lines written before $request_time was added have eight fields), where
// the three upstream fields list every attempt, comma-separated: a request
// nginx could not deliver to the canary and retried on stable counts
// as a failure of the canary and an answer of stable. $swiftdeploy_smoke is
// 1 for SwiftDeploy's own smoke requests (rollout.smoke), which count with
// the rest and are also counted apart.
package routelog

import (
	"bufio"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Figures measure one build over a window.
type Figures struct {
	Requests int
	// Smoke is how many of Requests were SwiftDeploy's smoke requests; the
	// rest are users'.
	Smoke            int
	Errors           int
	ErrorRatePercent float64
	P99Ms            float64
	latencies        []float64
}

// Window is what nginx logged for each build between From and To.
type Window struct {
	From, To time.Time
	Canary   Figures
	Stable   Figures
	// All is every request of the window, from the answer clients got.
	All Figures
	// FirstCanaryError is when the first failed canary request of the
	// window was logged (zero when none failed).
	FirstCanaryError time.Time
	Lines, Skipped   int
}

// Side names the build an address belongs to.
type Side func(addr string) (canary bool)

// CanaryRoute is the route nginx logs for a request it sent to the canary's
// side (see nginx.conf).
const CanaryRoute = "app_canary"

// SmokeMark is what nginx logs in the smoke field of a smoke request (see
// nginx.conf).
const SmokeMark = "1"

// Users is how many of the requests were users' (not smoke).
func (f Figures) Users() int { return f.Requests - f.Smoke }

// Excluded reports whether a path is left out of every window, for what
// checks paths beforehand (rollout.smoke's).
func Excluded(uri string) bool { return excluded(uri) }

// excluded paths are probes and the tool's own calls, never clients' traffic.
func excluded(uri string) bool {
	switch uri {
	case "/healthz", "/metrics", "/chaos":
		return true
	}
	return strings.HasPrefix(uri, "/.well-known/swiftdeploy/")
}

// Read measures the lines of r logged in [from, to), telling the builds apart
// by isCanary on each attempt's address. Lines that do not parse are counted
// in Skipped.
func Read(r io.Reader, from, to time.Time, isCanary Side) (Window, error) {
	w := Window{From: from, To: to}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		w.Lines++
		if !w.add(sc.Text(), isCanary) {
			w.Skipped++
		}
	}
	w.Canary.finish()
	w.Stable.finish()
	w.All.finish()
	return w, sc.Err()
}

func (w *Window) add(line string, isCanary Side) bool {
	f := strings.Split(line, "|")
	if !wellFormed(f) {
		return false
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return false
	}
	at := time.Unix(0, int64(secs*1e9))
	if at.Before(w.From) || !at.Before(w.To) || excluded(f[6]) {
		return true
	}
	status, _ := strconv.Atoi(f[2])
	smoke := f[7] == SmokeMark
	w.All.Requests++
	if smoke {
		w.All.Smoke++
	}
	if status >= 500 || status == 0 {
		w.All.Errors++
	}
	if t, err := strconv.ParseFloat(lastOf(attempts(f[5])), 64); err == nil {
		w.All.latencies = append(w.All.latencies, t*1000)
	}
	addrs, statuses, times := attempts(f[3]), attempts(f[4]), attempts(f[5])
	if len(addrs) == 0 || addrs[0] == "-" {
		// nginx answered without reaching any build: charge the side it chose.
		w.count(f[1] == CanaryRoute, smoke, status >= 500, math.NaN(), at)
		return true
	}
	for i, addr := range addrs {
		status, _ := strconv.Atoi(at2(statuses, i))
		failed := status == 0 || status >= 500
		ms := math.NaN()
		if t, err := strconv.ParseFloat(at2(times, i), 64); err == nil {
			ms = t * 1000
		}
		w.count(isCanary(host(addr)), smoke, failed, ms, at)
	}
	return true
}

func (w *Window) count(canary, smoke, failed bool, ms float64, at time.Time) {
	f := &w.Stable
	if canary {
		f = &w.Canary
		if failed && w.FirstCanaryError.IsZero() {
			w.FirstCanaryError = at
		}
	}
	f.Requests++
	if smoke {
		f.Smoke++
	}
	if failed {
		f.Errors++
	}
	if !math.IsNaN(ms) {
		f.latencies = append(f.latencies, ms)
	}
}

// attempts splits an upstream field: attempts are separated by ", ", and
// " : " separates the upstream groups of an internal redirect.
func attempts(field string) []string {
	field = strings.ReplaceAll(field, " : ", ", ")
	if field == "" {
		return nil
	}
	return strings.Split(field, ", ")
}

func lastOf(list []string) string {
	if len(list) == 0 {
		return "-"
	}
	return list[len(list)-1]
}

func at2(list []string, i int) string {
	if i < len(list) {
		return list[i]
	}
	return "-"
}

func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func (f *Figures) finish() {
	if f.Requests > 0 {
		f.ErrorRatePercent = 100 * float64(f.Errors) / float64(f.Requests)
	}
	f.P99Ms = P99(f.latencies)
	f.latencies = nil
}

// P99 is the 99th percentile of samples by linear interpolation between the
// closest ranks (0 for none).
func P99(samples []float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := 0.99 * float64(len(s)-1)
	lo := int(math.Floor(rank))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(rank-float64(lo))
}
