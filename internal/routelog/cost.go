package routelog

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A change's cost to clients, from the same log: what nginx failed and what
// reached a build already on its way out.
//
// The log's last field, $request_time, says how long nginx held the
// request, so that its arrival (the line's time less that) tells a request
// nginx routed before a build's retirement began from one it routed after.
// Lines written before the field existed count as arriving when logged.
// SwiftDeploy's own smoke requests (rollout.smoke) are no client's, and are
// left out with the probes.

// Span is a stretch of a change reported on its own (a release step, a
// takeover, an abort, a whole switch): the lines logged in [From, To) are
// its own.
type Span struct {
	From, To time.Time
	// Retiring are the builds being retired during the span.
	Retiring []Retiring
}

// Retiring is a build on its way out: its instances' addresses, and when its
// retirement began (nginx was confirmed to send it no new request) until it
// was stopped, at the end of the span.
type Retiring struct {
	Addrs []string
	Since time.Time
}

// Cost is what a span cost clients.
type Cost struct {
	// Requests are the clients' requests logged in the span (probes,
	// smoke requests and SwiftDeploy's own calls left out).
	Requests int
	// Failed are the requests nginx itself answered with a failure (502 or
	// 504: it could not reach a build, or the build did not answer in
	// time) and those the client gave up on (499). A build's own 5xx
	// answers (chaos's 500s) are the build's doing, judged by the release
	// policy, not a failure of the change.
	Failed int
	// FailedBy counts Failed by status.
	FailedBy map[int]int
	// Retiring are the requests that reached a retiring build's address
	// after its retirement began.
	Retiring int
}

// proxyFailure reports whether nginx's answer is a failure of the proxy
// rather than the build's own: 502 Bad Gateway and 504 Gateway Timeout,
// which nginx makes when it cannot get an answer, and 499, nginx's record
// of a client that closed the connection before it was answered.
func proxyFailure(status int) bool { return status == 502 || status == 504 || status == 499 }

// Costs reads the log once and measures each span of spans.
func Costs(r io.Reader, spans []Span) ([]Cost, error) {
	costs := make([]Cost, len(spans))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l, ok := parseLine(sc.Text())
		if !ok || l.smoke || excluded(l.uri) {
			continue
		}
		for i := range spans {
			if spans[i].holds(l.at) {
				costs[i].add(l, spans[i].Retiring)
			}
		}
	}
	return costs, sc.Err()
}

// Sum adds costs up.
func Sum(costs []Cost) Cost {
	var total Cost
	for _, c := range costs {
		total.Requests += c.Requests
		total.Failed += c.Failed
		total.Retiring += c.Retiring
		for status, n := range c.FailedBy {
			if total.FailedBy == nil {
				total.FailedBy = map[int]int{}
			}
			total.FailedBy[status] += n
		}
	}
	return total
}

func (s Span) holds(at time.Time) bool { return !at.Before(s.From) && at.Before(s.To) }

func (c *Cost) add(l logLine, retiring []Retiring) {
	c.Requests++
	if proxyFailure(l.status) {
		c.Failed++
		if c.FailedBy == nil {
			c.FailedBy = map[int]int{}
		}
		c.FailedBy[l.status]++
	}
	for _, r := range retiring {
		if !l.arrived.Before(r.Since) && l.tried(r.Addrs) {
			c.Retiring++
			return
		}
	}
}

// logLine is one line of the release log, as a change's cost reads it.
type logLine struct {
	at, arrived time.Time
	status      int
	upstreams   string // $upstream_addr: every address tried
	uri         string
	smoke       bool
}

// tried reports whether nginx tried one of addrs (hosts, no port) for the
// request. It splits the upstream field only when asked: most lines are
// never looked at for a retiring build.
func (l logLine) tried(addrs []string) bool {
	return slices.ContainsFunc(attempts(l.upstreams), func(a string) bool { return slices.Contains(addrs, host(a)) })
}

// wellFormed reports whether f are the fields of one line: eight, or nine
// with $request_time, a number; the smoke field empty or SmokeMark. A '|' in
// $uri shifts the fields, and this finds most such lines out.
func wellFormed(f []string) bool {
	switch {
	case len(f) != 8 && len(f) != 9:
		return false
	case f[7] != "" && f[7] != SmokeMark:
		return false
	case len(f) == 9:
		_, err := strconv.ParseFloat(f[8], 64)
		return err == nil || f[8] == "-"
	}
	return true
}

// parseLine reads a line of eight fields, or nine with $request_time,
// without allocating.
func parseLine(line string) (logLine, bool) {
	var f [9]string
	n := 0
	for n < len(f) {
		field, rest, more := strings.Cut(line, "|")
		f[n], line = field, rest
		n++
		if !more {
			break
		}
	}
	if !wellFormed(f[:n]) || strings.Contains(line, "|") {
		return logLine{}, false
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return logLine{}, false
	}
	status, err := strconv.Atoi(f[2])
	if err != nil {
		return logLine{}, false
	}
	l := logLine{at: time.Unix(0, int64(secs*1e9)), status: status, upstreams: f[3], uri: f[6], smoke: f[7] == SmokeMark}
	l.arrived = l.at
	if n == 9 {
		if held, err := strconv.ParseFloat(f[8], 64); err == nil {
			l.arrived = l.at.Add(-time.Duration(held * 1e9))
		}
	}
	return l, true
}
