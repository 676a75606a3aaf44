package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// load keeps conns HTTP/1.1 keep-alive clients busy on one path, like wrk: a
// client never retries, so every socket error and every timeout counts as a
// failed request, and every answer outside 2xx is counted too.
type load struct {
	ok, non2xx, errs atomic.Int64
	stopping         atomic.Bool
	wg               sync.WaitGroup
	mu               sync.Mutex
	firstErr         string
	statuses         map[int]int64   // the answers outside 2xx, by status
	latencies        []time.Duration // of successful requests, gathered from the clients at stop
	started, stopped time.Time
	// fresh makes every request open its own connection (and ask the server
	// to close it), timed from the dial: the cost of a new connection, its
	// TLS handshake included when dial makes one.
	fresh bool
}

// requestTimeout is how long one request may take before it counts as failed
// (wrk's default).
const requestTimeout = 2 * time.Second

func startLoad(t testing.TB, addr, path string, conns int) *load {
	t.Helper()
	return startLoadDialing(t, addr, path, conns, func() (net.Conn, error) { return net.DialTimeout("tcp", addr, requestTimeout) })
}

// startLoadDialing is startLoad with connections that dial makes (TLS, say),
// for requests naming host.
func startLoadDialing(t testing.TB, host, path string, conns int, dial func() (net.Conn, error)) *load {
	t.Helper()
	return runLoad(t, &load{}, host, path, conns, dial)
}

// startFreshLoad is startLoadDialing with a new connection for every request.
func startFreshLoad(t testing.TB, host, path string, conns int, dial func() (net.Conn, error)) *load {
	t.Helper()
	return runLoad(t, &load{fresh: true}, host, path, conns, dial)
}

func runLoad(t testing.TB, l *load, host, path string, conns int, dial func() (net.Conn, error)) *load {
	t.Helper()
	l.started = time.Now()
	for range conns {
		l.wg.Add(1)
		go l.client(host, path, dial)
	}
	t.Cleanup(func() { l.stop() })
	return l
}

func (l *load) fail(err error) {
	if l.stopping.Load() {
		return // the test ended this request, not the stack
	}
	l.errs.Add(1)
	l.note(err.Error())
}

// note keeps the first failure for the report.
func (l *load) note(what string) {
	l.mu.Lock()
	if l.firstErr == "" {
		l.firstErr = what
	}
	l.mu.Unlock()
}

func (l *load) client(addr, path string, dial func() (net.Conn, error)) {
	defer l.wg.Done()
	var latencies []time.Duration
	defer func() {
		l.mu.Lock()
		l.latencies = append(l.latencies, latencies...)
		l.mu.Unlock()
	}()
	closing := ""
	if l.fresh {
		closing = "Connection: close\r\n"
	}
	request := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: swiftdeploy-e2e-load\r\n%s\r\n", path, addr, closing)
	var conn net.Conn
	var r *bufio.Reader
	var body bytes.Buffer
	drop := func() {
		if conn != nil {
			conn.Close()
			conn = nil
		}
	}
	defer drop()
	for !l.stopping.Load() {
		began := time.Now()
		if conn == nil {
			c, err := dial()
			if err != nil {
				l.fail(err)
				time.Sleep(20 * time.Millisecond)
				continue
			}
			conn, r = c, bufio.NewReader(c)
		}
		sent := time.Now()
		if l.fresh {
			sent = began
		}
		conn.SetDeadline(sent.Add(requestTimeout))
		if _, err := io.WriteString(conn, request); err != nil {
			l.fail(err)
			drop()
			continue
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			l.fail(err)
			drop()
			continue
		}
		body.Reset() // one buffer per client: no allocation per request
		_, err = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			l.fail(err)
			drop()
			continue
		}
		if resp.StatusCode/100 == 2 {
			l.ok.Add(1)
			latencies = append(latencies, time.Since(sent))
		} else {
			l.non2xx.Add(1)
			l.note(fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, body.Bytes()))
			l.mu.Lock()
			if l.statuses == nil {
				l.statuses = map[int]int64{}
			}
			l.statuses[resp.StatusCode]++
			l.mu.Unlock()
		}
		if resp.Close || l.fresh {
			drop()
		}
	}
}

// notFrom is how many answers outside 2xx had another status than status
// (the app's own 500s, say): the ones someone else made.
func (l *load) notFrom(status int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.non2xx.Load() - l.statuses[status]
}

// stop ends the load and waits for the clients.
func (l *load) stop() {
	if l.stopping.Swap(true) {
		return
	}
	l.wg.Wait()
	l.stopped = time.Now()
}

// quantile returns the q-quantile of the successful requests' latencies.
func (l *load) quantile(q float64) time.Duration {
	if len(l.latencies) == 0 {
		return 0
	}
	sorted := slices.Clone(l.latencies)
	slices.Sort(sorted)
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// rate is the successful requests per second over the load's life.
func (l *load) rate() float64 {
	return float64(l.ok.Load()) / l.stopped.Sub(l.started).Seconds()
}

func (l *load) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d ok, %d non-2xx %v, %d connection errors (first failure: %q)", l.ok.Load(), l.non2xx.Load(), l.statuses, l.errs.Load(), l.firstErr)
}

// TestNginxReusesItsConnectionsToTheApp loads the stack through nginx and
// counts, in nginx's network namespace, the TCP connections to the app that
// are open or lingering in TIME_WAIT: with the keep-alive pool they stay a
// handful while thousands of requests pass; a connection per request would
// leave one in TIME_WAIT for each.
func TestNginxReusesItsConnectionsToTheApp(t *testing.T) {
	p := newProject(t, manifestOptions{})
	nginx := p.deployed("nginx", 1)[0]
	l := startLoad(t, fmt.Sprintf("127.0.0.1:%d", p.port), "/", 20)
	time.Sleep(3 * time.Second)
	l.stop()
	requests := l.ok.Load() + l.non2xx.Load()
	sockets := appSockets(t, nginx, 3000)
	t.Logf("%d requests through nginx, %d sockets from nginx to the app (%s)", requests, sockets, l)
	if requests < 2000 || sockets > 200 {
		t.Errorf("%d requests used %d connections from nginx to the app, want thousands of requests over at most 200", requests, sockets)
	}
}

// appSockets counts the TCP sockets in container's network namespace whose
// remote port is port, in any state (open, closing, TIME_WAIT).
func appSockets(t *testing.T, container string, port int) int {
	t.Helper()
	n := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		out, err := exec.Command("docker", "exec", container, "cat", table).Output()
		if err != nil {
			continue // no IPv6 table
		}
		for _, line := range strings.Split(string(out), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) > 2 && strings.HasSuffix(fields[2], fmt.Sprintf(":%04X", port)) {
				n++
			}
		}
	}
	return n
}
