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
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SampleSize bounds the request times kept of each build over a window:
// every one up to SampleSize, then a uniform sample of SampleSize of them
// (a reservoir, Algorithm R: J. S. Vitter, "Random sampling with a
// reservoir", ACM TOMS 11, 1985), so that a window's memory stays flat
// however busy the service, and its sample can be recorded for a later
// re-judgment. At nginx's millisecond resolution a build's sample holds a
// few dozen distinct values.
const SampleSize = 4096

// Figures measure one build over a window.
type Figures struct {
	Requests int
	// Smoke is how many of Requests were SwiftDeploy's smoke requests; the
	// rest are users'.
	Smoke            int
	Errors           int
	ErrorRatePercent float64
	// P99Ms is the 99th percentile of Latencies, exact up to SampleSize
	// requests, estimated from the sample beyond.
	P99Ms float64
	// Latencies are the build's attempts' upstream times in milliseconds,
	// in arrival order: all of them, or a uniform sample of SampleSize.
	Latencies []float64
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
	t := NewTally(from, isCanary)
	t.Until(to)
	if _, err := io.Copy(t, r); err != nil {
		return t.Window(), err
	}
	t.Flush()
	return t.Window(), nil
}

// Tally measures both builds from the lines of the log as they are written:
// each look at a release step writes it what nginx appended since the last
// look (it is an io.Writer), and Window says what the window holds so far.
// Its memory is bounded: counts, and a sample of SampleSize times a build.
type Tally struct {
	isCanary            Side
	from, until         time.Time
	timedFrom           time.Time // lines before it are counted, their times not sampled
	canary, stable, all build
	firstCanaryError    time.Time
	lines, skipped      int
	partial             []byte    // a line not yet ended
	later               []string  // lines logged at or after until
	last                time.Time // the latest line's time
}

// maxLater bounds the lines a window ended by Until keeps for an
// extension: at most about a flush interval's worth arrive after it.
const maxLater = 1 << 16

// NewTally measures the lines logged from from on, telling the builds
// apart by isCanary on each attempt's address.
func NewTally(from time.Time, isCanary Side) *Tally {
	return &Tally{isCanary: isCanary, from: from,
		canary: newBuild(1), stable: newBuild(2), all: newBuild(3)}
}

// TimedFrom leaves the times of the requests logged before at out of the
// builds' samples (and so out of their P99s): those requests still count,
// and their failures. A release step's judge sets its warm-up's end here.
func (t *Tally) TimedFrom(at time.Time) { t.timedFrom = at }

// Until ends the window before until: lines logged at or after it are kept
// aside, and counted when a later Until reaches them (a step extended). The
// zero time takes every line.
func (t *Tally) Until(until time.Time) {
	t.until = until
	later := t.later
	t.later = nil
	for _, line := range later {
		t.add(line)
	}
}

// Write takes whatever nginx wrote: whole lines are counted, a line not
// yet ended waits for the rest.
func (t *Tally) Write(p []byte) (int, error) {
	n := len(p)
	if len(t.partial) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.partial = append(t.partial, p...)
			return n, nil
		}
		t.line(string(append(t.partial, p[:i]...)))
		t.partial = t.partial[:0]
		p = p[i+1:]
	}
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		t.line(string(p[:i]))
		p = p[i+1:]
	}
	if len(p) > 0 {
		if len(t.partial)+len(p) > 1<<20 {
			// No line of nginx's is this long: not a log.
			t.partial = t.partial[:0]
			t.skipped++
			return n, nil
		}
		t.partial = append(t.partial, p...)
	}
	return n, nil
}

// Flush counts a last line that did not end with a newline.
func (t *Tally) Flush() {
	if len(t.partial) > 0 {
		t.line(string(t.partial))
		t.partial = t.partial[:0]
	}
}

func (t *Tally) line(line string) {
	t.lines++
	if !t.add(line) {
		t.skipped++
	}
}

// Window is what the tally holds: each build's figures with a copy of its
// sample, over [from, until) (until the latest line when no Until was
// given).
func (t *Tally) Window() Window {
	w := Window{From: t.from, To: t.until, Canary: t.canary.figures(), Stable: t.stable.figures(), All: t.all.figures(),
		FirstCanaryError: t.firstCanaryError, Lines: t.lines, Skipped: t.skipped}
	if w.To.IsZero() {
		w.To = t.last
	}
	return w
}

func (t *Tally) add(line string) bool {
	f := strings.Split(line, "|")
	if !wellFormed(f) {
		return false
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return false
	}
	at := time.Unix(0, int64(secs*1e9))
	if at.Before(t.from) || excluded(f[6]) {
		return true
	}
	if !t.until.IsZero() && !at.Before(t.until) {
		if len(t.later) == maxLater {
			return false
		}
		t.later = append(t.later, line)
		return true
	}
	if at.After(t.last) {
		t.last = at
	}
	status, _ := strconv.Atoi(f[2])
	smoke := f[7] == SmokeMark
	timed := !at.Before(t.timedFrom)
	ms := math.NaN()
	if s, err := strconv.ParseFloat(lastOf(attempts(f[5])), 64); err == nil && timed {
		ms = s * 1000
	}
	t.all.count(smoke, status >= 500 || status == 0, ms)
	addrs, statuses, times := attempts(f[3]), attempts(f[4]), attempts(f[5])
	if len(addrs) == 0 || addrs[0] == "-" {
		// nginx answered without reaching any build: charge the side it chose.
		t.count(f[1] == CanaryRoute, smoke, status >= 500, math.NaN(), at)
		return true
	}
	for i, addr := range addrs {
		status, _ := strconv.Atoi(at2(statuses, i))
		failed := status == 0 || status >= 500
		ms := math.NaN()
		if s, err := strconv.ParseFloat(at2(times, i), 64); err == nil && timed {
			ms = s * 1000
		}
		t.count(t.isCanary(host(addr)), smoke, failed, ms, at)
	}
	return true
}

func (t *Tally) count(canary, smoke, failed bool, ms float64, at time.Time) {
	b := &t.stable
	if canary {
		b = &t.canary
		if failed && (t.firstCanaryError.IsZero() || at.Before(t.firstCanaryError)) {
			t.firstCanaryError = at
		}
	}
	b.count(smoke, failed, ms)
}

// build is one build's counts and sample.
type build struct {
	requests, smoke, errors int
	seen                    int // times offered to the sample
	sample                  []float64
	rng                     *rand.Rand
}

// newBuild starts a build whose sample draws from a generator of its own,
// seeded by seed, so that the same lines give the same sample.
func newBuild(seed uint64) build {
	return build{rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

func (b *build) count(smoke, failed bool, ms float64) {
	b.requests++
	if smoke {
		b.smoke++
	}
	if failed {
		b.errors++
	}
	if math.IsNaN(ms) {
		return
	}
	b.seen++
	if len(b.sample) < SampleSize {
		b.sample = append(b.sample, ms)
	} else if j := b.rng.IntN(b.seen); j < SampleSize {
		b.sample[j] = ms
	}
}

func (b *build) figures() Figures {
	f := Figures{Requests: b.requests, Smoke: b.smoke, Errors: b.errors, P99Ms: P99(b.sample), Latencies: slices.Clone(b.sample)}
	if f.Requests > 0 {
		f.ErrorRatePercent = 100 * float64(f.Errors) / float64(f.Requests)
	}
	return f
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
