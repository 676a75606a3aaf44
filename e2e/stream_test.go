package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsImage builds, once per run, the image of testdata/wsapp: a WebSocket
// echo and a Server-Sent Events stream that say which build answers, and
// that close their WebSockets with 1001 (going away) on SIGTERM.
var wsImage = sync.OnceValues(func() (string, error) {
	const ref = "swiftdeploy-e2e-wsapp:1"
	dir, err := os.MkdirTemp("", "swiftdeploy-e2e-wsapp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(repoRoot, "e2e", "testdata", "wsapp")
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "wsapp"), ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build wsapp: %v: %s", err, out)
	}
	dockerfile, err := os.ReadFile(filepath.Join(src, "Dockerfile"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), dockerfile, 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", ref, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker build wsapp: %v: %s", err, out)
	}
	return ref, nil
})

// wsBuild is what wsapp says about the build that answered.
type wsBuild struct {
	Mode    string `json:"mode"`
	Version string `json:"version"`
}

// wsExchange is one WebSocket through nginx to wsapp, exchanging a message
// at every tick until the connection closes or the test stops it.
type wsExchange struct {
	conn  *websocket.Conn
	build wsBuild // the build that answered the first message
	// echoed counts the messages that came back; wrong those that came back
	// altered or from another build.
	echoed, wrong atomic.Int64
	maxRTT        atomic.Int64 // nanoseconds
	stop          chan struct{}
	closed        chan struct{}
	closeErr      error // set before closed is closed
	closedAt      time.Time
}

// dialWS opens a WebSocket to wsapp's /ws through nginx's public port,
// with header on the handshake, and learns which build answers it.
func (p *project) dialWS(header http.Header) *wsExchange {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/ws", p.port), &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		p.t.Fatalf("WebSocket handshake through nginx: %v (response %+v)", err, resp)
	}
	if got := resp.Header.Get("X-Deployed-By"); got != "swiftdeploy" {
		p.t.Errorf("the handshake's answer carries X-Deployed-By %q", got)
	}
	e := &wsExchange{conn: c, stop: make(chan struct{}), closed: make(chan struct{})}
	reply, err := e.roundTrip("hello")
	if err != nil {
		p.t.Fatalf("first WebSocket message: %v", err)
	}
	e.build = reply
	p.t.Cleanup(func() { e.halt(); c.CloseNow() })
	return e
}

// roundTrip sends msg and reads the echo.
func (e *wsExchange) roundTrip(msg string) (wsBuild, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return wsBuild{}, err
	}
	_, data, err := e.conn.Read(ctx)
	if err != nil {
		return wsBuild{}, err
	}
	if rtt := int64(time.Since(start)); rtt > e.maxRTT.Load() {
		e.maxRTT.Store(rtt)
	}
	var reply struct {
		Echo string `json:"echo"`
		wsBuild
	}
	if json.Unmarshal(data, &reply) != nil || reply.Echo != msg {
		e.wrong.Add(1)
	}
	e.echoed.Add(1)
	return reply.wsBuild, nil
}

// every exchanges a message every interval in the background.
func (e *wsExchange) every(interval time.Duration) {
	go func() {
		defer close(e.closed)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-e.stop:
				return
			case <-tick.C:
			}
			b, err := e.roundTrip(strconv.Itoa(i))
			if err != nil {
				e.closeErr, e.closedAt = err, time.Now()
				return
			}
			if b != e.build {
				e.wrong.Add(1)
			}
		}
	}()
}

// halt stops the background exchange.
func (e *wsExchange) halt() {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
}

// isOpen reports whether the background exchange still runs.
func (e *wsExchange) isOpen() bool {
	select {
	case <-e.closed:
		return false
	default:
		return true
	}
}

func (e *wsExchange) String() string {
	return fmt.Sprintf("%s (%s): %d messages echoed, %d wrong, slowest round trip %s",
		e.build.Version, e.build.Mode, e.echoed.Load(), e.wrong.Load(), time.Duration(e.maxRTT.Load()).Round(time.Millisecond))
}

// sigterm is when Docker sent container id SIGTERM between since and until,
// from the engine's event log (the container is gone by then).
// sigtermEventLag bounds how much later than the signal itself Docker's
// kill event is stamped.
const sigtermEventLag = 250 * time.Millisecond

func sigterm(t testing.TB, id string, since, until time.Time) time.Time {
	t.Helper()
	out := docker(t, "events", "--since", strconv.FormatInt(since.Unix(), 10), "--until", strconv.FormatInt(until.Unix()+1, 10),
		"--filter", "container="+id, "--filter", "event=kill", "--format", "{{.TimeNano}} {{index .Actor.Attributes \"signal\"}}")
	for _, line := range strings.Split(out, "\n") {
		nanos, signal, _ := strings.Cut(line, " ")
		if n, err := strconv.ParseInt(nanos, 10, 64); err == nil && signal == "15" {
			return time.Unix(0, n)
		}
	}
	t.Fatalf("no SIGTERM to %.12s in Docker's events: %q", id, out)
	return time.Time{}
}

// TestAWebSocketStaysOnItsBuildThroughEveryStepOfARelease opens a WebSocket
// through nginx before a four-step release, and another to the canary at the
// first step (X-Canary: always), and exchanges a message on each every
// 100 ms: both stay open and answered by their own build through every step
// (each one a change of nginx's routing in place); once the new build has taken over, the
// retired builds close them with a close frame (1001) after their SIGTERM and
// within the drain grace, and a new WebSocket reaches the new build.
func TestAWebSocketStaysOnItsBuildThroughEveryStepOfARelease(t *testing.T) {
	image, err := wsImage()
	if err != nil {
		t.Fatal(err)
	}
	p := newProject(t, manifestOptions{image: image, rollout: quickRollout})
	p.must("deploy")
	oldApp := p.containers("app")[0]
	stable := p.dialWS(nil)
	if stable.build != (wsBuild{Mode: "stable", Version: "2.0.0"}) {
		t.Fatalf("a WebSocket before the release reached %+v, want the stable 2.0.0", stable.build)
	}
	stable.every(100 * time.Millisecond)
	// The steps are judged on requests; the WebSockets make too few.
	load := startHTTPLoad(t, p.url("/"), 5)

	p.write("manifest.yaml", strings.Replace(p.manifest, `version: "2.0.0"`, `version: "2.1.0"`, 1))
	began := time.Now()
	release := p.start(3*time.Minute, nil, "deploy")
	var canary *wsExchange
	var canaryApp string
	last := map[*wsExchange]int64{}
	for _, weight := range []int{10, 25, 50, 100} {
		p.waitForStep(release, weight)
		if canary == nil {
			canaryApp = p.containers("canary")[0]
			// nginx's new workers learn the canary's address in the first
			// second of the step; until then app_canary's backup answers.
			waitUntil(t, 5*time.Second, "a WebSocket with X-Canary: always to reach the canary", func() bool {
				canary = p.dialWS(http.Header{"X-Canary": {"always"}})
				if canary.build != (wsBuild{Mode: "canary", Version: "2.1.0"}) {
					canary.conn.Close(websocket.StatusNormalClosure, "")
					return false
				}
				return true
			})
			canary.every(100 * time.Millisecond)
		}
		// Each WebSocket kept exchanging through the step's change.
		time.Sleep(time.Second)
		for _, e := range []*wsExchange{stable, canary} {
			if !e.isOpen() {
				t.Fatalf("at the %d%% step the WebSocket to %s closed: %v", weight, e, e.closeErr)
			}
			if n := e.echoed.Load(); n <= last[e] {
				t.Errorf("at the %d%% step the WebSocket to %s exchanged nothing for a second", weight, e)
			}
			last[e] = e.echoed.Load()
		}
		t.Logf("%d%% step: WebSocket to %s; to %s", weight, stable, canary)
	}
	out, code := release.wait()
	ended := time.Now()
	load.stop()
	if code != 0 || !strings.Contains(out, "released ") {
		t.Fatalf("the release exited %d:\n%s", code, out)
	}
	t.Logf("HTTP load through the release: %s", load)
	if load.non2xx.Load() != 0 || load.errs.Load() != 0 {
		t.Errorf("requests failed during the release: %s", load)
	}

	// The retired builds closed their WebSockets with 1001 after SIGTERM.
	for _, c := range []struct {
		name      string
		e         *wsExchange
		container string
	}{{"stable", stable, oldApp}, {"canary", canary, canaryApp}} {
		select {
		case <-c.e.closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("the WebSocket to the retired %s build %s is still open after the release", c.name, c.e)
		}
		term := sigterm(t, c.container, began, ended)
		after := c.e.closedAt.Sub(term)
		t.Logf("WebSocket to the retired %s build %s; closed %s after its SIGTERM: %v", c.name, c.e, after.Round(time.Millisecond), c.e.closeErr)
		if status := websocket.CloseStatus(c.e.closeErr); status != websocket.StatusGoingAway {
			t.Errorf("the WebSocket to the retired %s build ended with %v (close status %d), want a close frame with 1001 (going away)", c.name, c.e.closeErr, status)
		}
		// Docker stamps its kill event after it has sent the signal, so a
		// build that closes at once (the close status says it closed for
		// its shutdown) can be seen closing a few milliseconds "before" it:
		// -13 ms once. The event's lag is allowed, nothing earlier.
		if after < -sigtermEventLag || after > 15*time.Second {
			t.Errorf("the WebSocket to the retired %s build closed %s after its SIGTERM, want within the 15 s grace", c.name, after)
		}
		if c.e.wrong.Load() != 0 {
			t.Errorf("the WebSocket to the %s build got %d echoes altered or from another build", c.name, c.e.wrong.Load())
		}
	}
	if fresh := p.dialWS(nil); fresh.build != (wsBuild{Mode: "stable", Version: "2.1.0"}) {
		t.Errorf("a WebSocket after the release reached %+v, want the new build 2.1.0 in stable mode", fresh.build)
	}
}

// sseEvent is one event of wsapp's /sse as a client received it.
type sseEvent struct {
	N       int
	Delay   time.Duration // from the app's send to this client's read
	Arrived time.Duration // since the request was sent
}

// readSSE asks for path with header and reads its events until the stream
// ends; err says how it ended when it was not the app's doing.
func (p *project) readSSE(path string, header http.Header) (events []sseEvent, status int, err error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url(path), nil)
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev struct {
			N    int   `json:"n"`
			Sent int64 `json:"sent_unix_nano"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			p.t.Fatalf("event %q: %v", data, err)
		}
		now := time.Now()
		events = append(events, sseEvent{N: ev.N, Delay: now.Sub(time.Unix(0, ev.Sent)), Arrived: now.Sub(start)})
	}
	return events, resp.StatusCode, sc.Err()
}

// delays sums up the events' delivery delays: median and maximum.
func delays(events []sseEvent) (median, slowest time.Duration) {
	if len(events) == 0 {
		return 0, 0
	}
	d := make([]time.Duration, len(events))
	for i, e := range events {
		d[i] = e.Delay
	}
	slices.Sort(d)
	return d[len(d)/2], d[len(d)-1]
}

// TestStreamsArriveAsSentAndOutliveTheProxyTimeout runs wsapp with
// nginx.proxy_timeout 2 s and nginx.stream_timeout 6 s: Server-Sent Events
// arrive as they are sent, whether nginx knows the stream by its request
// (Accept: text/event-stream, as EventSource sends) or by the app's
// X-Accel-Buffering: no; a stream or a WebSocket quiet for longer than
// proxy_timeout stays open; ordinary requests still time out at
// proxy_timeout; a stream's method, headers and body reach the app, and its
// errors are the JSON pages; a deploy of a changed nginx.conf reloads nginx
// and keeps an open WebSocket.
func TestStreamsArriveAsSentAndOutliveTheProxyTimeout(t *testing.T) {
	image, err := wsImage()
	if err != nil {
		t.Fatal(err)
	}
	p := newProject(t, manifestOptions{image: image})
	p.manifest = strings.Replace(p.manifest, "  proxy_timeout: 30\n", "  proxy_timeout: 2\n  stream_timeout: 6\n  max_body_mb: 8\n", 1)
	p.write("manifest.yaml", p.manifest)
	p.must("deploy")
	eventStream := http.Header{"Accept": {"text/event-stream"}}

	// Each event as it is sent: 20 events 100 ms apart.
	for _, c := range []struct {
		name   string
		header http.Header
		query  string
	}{
		{"asked for as an event stream", eventStream, "&accel=omit"},
		{"marked by the app with X-Accel-Buffering: no", nil, ""},
	} {
		events, status, err := p.readSSE("/sse?every=100ms&count=20"+c.query, c.header)
		median, slowest := delays(events)
		t.Logf("SSE %s: %d events, delay from send to receipt median %s, slowest %s", c.name, len(events), median, slowest)
		if status != http.StatusOK || err != nil || len(events) != 20 {
			t.Errorf("SSE %s: HTTP %d, %d of 20 events, %v", c.name, status, len(events), err)
		}
		if slowest > 500*time.Millisecond {
			t.Errorf("SSE %s: an event took %s to arrive: nginx held it back", c.name, slowest)
		}
	}

	// A stream quiet for 4 s, twice proxy_timeout, and then the next event.
	events, status, err := p.readSSE("/sse?gaps=0s,4s,0s", eventStream)
	t.Logf("SSE quiet for 4 s (proxy_timeout 2 s, stream_timeout 6 s): %+v", events)
	if status != http.StatusOK || err != nil || len(events) != 3 || events[1].Arrived < 4*time.Second || events[1].Delay > 500*time.Millisecond {
		t.Errorf("a stream quiet for 4 s: HTTP %d, events %+v, %v; want all 3, the second after 4 s", status, events, err)
	}
	// The same stream, not known by its request, keeps proxy_timeout.
	events, _, err = p.readSSE("/sse?gaps=0s,4s,0s", nil)
	t.Logf("the same stream without Accept: text/event-stream: %d events, ended with %v", len(events), err)
	if len(events) != 1 {
		t.Errorf("a quiet stream nginx did not know as one got %d events, want 1 before proxy_timeout cut it", len(events))
	}

	// An ordinary request still waits proxy_timeout for its answer, a stream
	// stream_timeout; both time out as JSON.
	for _, c := range []struct {
		name   string
		header http.Header
		delay  string
		want   int
	}{
		{"ordinary, 3 s", nil, "3s", http.StatusGatewayTimeout},
		{"stream, 3 s", eventStream, "3s", http.StatusOK},
		{"stream, 8 s", eventStream, "8s", http.StatusGatewayTimeout},
	} {
		start := time.Now()
		resp, body := p.request(http.MethodGet, "/echo?delay="+c.delay, "", c.header)
		t.Logf("%s answer: HTTP %d after %s", c.name, resp.StatusCode, time.Since(start).Round(10*time.Millisecond))
		if resp.StatusCode != c.want {
			t.Errorf("%s answer: HTTP %d %s, want %d", c.name, resp.StatusCode, body, c.want)
		}
		if c.want == http.StatusGatewayTimeout {
			checkJSONError(t, resp, body, 504)
		}
	}
	// Each timed-out request reached the app once: nginx's log names every
	// address it tried (flushed within a second).
	time.Sleep(1200 * time.Millisecond)
	for _, delay := range []string{"3s", "8s"} {
		lines := p.accessLines(" | 504 | ", "GET /echo?delay="+delay+" ")
		if len(lines) != 1 || strings.Count(strings.Split(lines[0], " | ")[3], ":") != 1 {
			t.Errorf("the request nginx timed out after %s was tried: %q; want one address, once", delay, lines)
		}
	}

	// A stream's method, headers and body reach the app; its 502 is JSON.
	resp, body := p.request(http.MethodPut, "/echo?x=1", "a body", http.Header{"Accept": {"text/event-stream"}, "X-Custom": {"kept"}})
	var echo struct {
		Method string
		Header http.Header
		Body   string
	}
	json.Unmarshal([]byte(body), &echo)
	if resp.StatusCode != 200 || echo.Method != http.MethodPut || echo.Body != "a body" || echo.Header.Get("X-Custom") != "kept" || echo.Header.Get("X-Forwarded-For") == "" {
		t.Errorf("a PUT with a body as a stream reached the app as %d %s", resp.StatusCode, body)
	}
	// A header named with an underscore reaches the app, as it does straight
	// to it, on either path; a forged X_Forwarded_For does not.
	streamed := eventStream.Clone()
	maps.Copy(streamed, underscored())
	for _, header := range []http.Header{underscored(), streamed} {
		resp, body = p.request(http.MethodGet, "/echo", "", header)
		checkUnderscored(t, "through the stack's nginx", resp, body)
	}
	// The URI reaches the app as the client sent it, escapes and all, on
	// each path: ordinary, a stream, a body passed on as it arrives.
	const uri = "/echo/a%2Fb/%7Euser?q=a%20b&r=%2F"
	for _, c := range []struct {
		name, method, body string
		header             http.Header
	}{
		{"an ordinary request", http.MethodGet, "", nil},
		{"a stream", http.MethodGet, "", eventStream},
		{"a 1 MB upload", http.MethodPost, strings.Repeat("u", 1_000_000), nil},
	} {
		resp, body = p.request(c.method, uri, c.body, c.header)
		if got := jsonField([]byte(body), "uri"); resp.StatusCode != http.StatusOK || got != uri {
			t.Errorf("%s to %s reached the app as HTTP %d, URI %q", c.name, uri, resp.StatusCode, got)
		}
	}
	resp, body = p.request(http.MethodPost, "/echo?abort=1", "x", eventStream)
	checkJSONError(t, resp, body, 502)

	// An upload passed on as it arrives (2 MB, max_body_mb 8) whose client
	// pauses for 3 s in mid-body, longer than proxy_timeout: nginx waits for
	// the client under client_body_timeout (60 s), as for a body it holds,
	// not under proxy_timeout.
	pr, pw := io.Pipe()
	go func() {
		half := bytes.Repeat([]byte("p"), 1<<20)
		pw.Write(half)
		time.Sleep(3 * time.Second)
		pw.Write(half)
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, p.url("/upload"), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 2 << 20
	start := time.Now()
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("an upload that pauses for 3 s: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("an upload pausing 3 s in mid-body (proxy_timeout 2 s): HTTP %d %s after %s", resp.StatusCode, bytes.TrimSpace(answer), time.Since(start).Round(10*time.Millisecond))
	if resp.StatusCode != http.StatusOK || jsonNumber(answer, "bytes") != 2<<20 {
		t.Errorf("an upload that paused for 3 s: HTTP %d %s, want all 2 MB at the app", resp.StatusCode, answer)
	}

	// A WebSocket quiet for twice proxy_timeout, then a reload of nginx.
	ws := p.dialWS(nil)
	time.Sleep(4 * time.Second)
	if _, err := ws.roundTrip("after 4 s"); err != nil {
		t.Fatalf("a WebSocket quiet for 4 s (proxy_timeout 2 s): %v", err)
	}
	// An operator changes nginx's configuration: deploy has the running
	// nginx reload it, and the WebSocket stays open.
	nginx := p.containers("nginx")[0]
	p.manifest = strings.Replace(p.manifest, "  stream_timeout: 6\n", "  stream_timeout: 7\n", 1)
	p.write("manifest.yaml", p.manifest)
	p.must("deploy")
	if now := p.containers("nginx"); len(now) != 1 || now[0] != nginx {
		t.Errorf("deploy of a changed nginx.conf replaced nginx (%s, then %v): it must reload it", nginx, now)
	}
	if !strings.Contains(p.read("nginx.conf"), "proxy_read_timeout 7s;") {
		t.Error("nginx.conf does not carry the new stream_timeout")
	}
	time.Sleep(time.Second)
	for i := range 10 {
		if _, err := ws.roundTrip(strconv.Itoa(i)); err != nil {
			t.Fatalf("the WebSocket after a deploy that reloaded nginx: %v", err)
		}
	}
	t.Logf("WebSocket through a quiet spell and a deploy of a changed nginx.conf: %s", ws)
	if out := p.must("deploy"); !strings.Contains(out, "nothing to do") {
		t.Errorf("a second deploy did something:\n%s", out)
	}
}

// request sends method path with body and header through nginx.
func (p *project) request(method, path, body string, header http.Header) (*http.Response, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.url(path), strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// checkJSONError checks that nginx answered code with its JSON error page.
func checkJSONError(t *testing.T, resp *http.Response, body string, code int) {
	t.Helper()
	var doc struct {
		Error string `json:"error"`
		Code  int    `json:"code"`
	}
	if resp.StatusCode != code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(body), &doc) != nil || doc.Code != code || doc.Error == "" {
		t.Errorf("HTTP %d (%s) %q, want nginx's JSON %d page", resp.StatusCode, resp.Header.Get("Content-Type"), body, code)
	}
}

// TestLargeAnswersAndBodiesPassWhole downloads a 40 MB answer through nginx
// on four connections at once, each client waiting a second before it
// reads, and uploads 1 MB bodies (nginx's default limit) on 20 connections
// at once to an app that answers each 2 s later: either is more than nginx's
// /tmp (a 16 MB tmpfs) could hold, so nginx must not spool them there (it
// did, and cut the answers short with a 200); every byte arrives. With
// nginx.max_body_mb raised, 40 MB uploads, a chunked one and a stream's pass
// as they arrive, and the next byte over the limit gets the JSON 413. Headers
// of up to 16 KB a line pass both ways, and larger ones get the JSON 431.
func TestLargeAnswersAndBodiesPassWhole(t *testing.T) {
	image, err := wsImage()
	if err != nil {
		t.Fatal(err)
	}
	p := newProject(t, manifestOptions{image: image})
	p.must("deploy")
	type transfer struct {
		status    int
		got, want int64
		err       error
	}
	check := func(what string, transfers []transfer) {
		for i, d := range transfers {
			if d.status != http.StatusOK || d.got != d.want || d.err != nil {
				t.Errorf("%s %d: HTTP %d, %d of %d bytes (%v): nginx failed it", what, i, d.status, d.got, d.want, d.err)
			}
		}
		t.Logf("%d %ss: the first HTTP %d, %d of %d bytes, %v", len(transfers), what, transfers[0].status, transfers[0].got, transfers[0].want, transfers[0].err)
	}

	const size = 40_000_000
	downloads := make([]transfer, 4)
	var wg sync.WaitGroup
	for i := range downloads {
		wg.Go(func() {
			d := &downloads[i]
			d.want = size
			resp, err := http.Get(p.url(fmt.Sprintf("/blob?bytes=%d", size)))
			if err != nil {
				d.err = err
				return
			}
			defer resp.Body.Close()
			time.Sleep(time.Second)
			d.status = resp.StatusCode
			d.got, d.err = io.Copy(io.Discard, resp.Body)
		})
	}
	wg.Wait()
	check("download", downloads)

	body := strings.Repeat("u", 1<<20)
	uploads := make([]transfer, 20)
	for i := range uploads {
		wg.Go(func() {
			d := &uploads[i]
			d.want = int64(len(body))
			resp, err := http.Post(p.url("/echo?delay=2s"), "text/plain", strings.NewReader(body))
			if err != nil {
				d.err = err
				return
			}
			defer resp.Body.Close()
			var echo struct {
				Body string `json:"body"`
			}
			d.status, d.err = resp.StatusCode, json.NewDecoder(resp.Body).Decode(&echo)
			d.got = int64(len(echo.Body))
		})
	}
	wg.Wait()
	check("upload", uploads)
	// One byte more is nginx's to refuse, with its JSON error page.
	resp, err := http.Post(p.url("/echo"), "text/plain", strings.NewReader(body+"u"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(page), `"code": 413`) {
		t.Errorf("a body over 1 MB: HTTP %d %q, want nginx's JSON 413", resp.StatusCode, page)
	}

	// nginx.max_body_mb raises the limit. A body over 1 MB, or one of unknown
	// length, then goes to the app as it arrives, never held: four 40 MB
	// uploads at once arrive whole (spooled to the 16 MB /tmp, they could
	// not), and so do a chunked one and a stream's.
	p.manifest = strings.Replace(p.manifest, "  proxy_timeout: 30\n", "  proxy_timeout: 30\n  max_body_mb: 48\n", 1)
	p.write("manifest.yaml", p.manifest)
	p.must("deploy")
	large := bytes.Repeat([]byte("swiftdeploy-upload"), size/18+1)[:size]
	sent := []struct {
		body    []byte
		chunked bool   // no Content-Length: Go sends it chunked
		accept  string // text/event-stream: a stream (nginx's @stream) with a body
	}{{body: large}, {body: large}, {body: large}, {body: large},
		{body: large[:20_000_000], chunked: true}, // alone more than /tmp holds
		{body: large, accept: "text/event-stream"}}
	uploads = make([]transfer, len(sent))
	for i, u := range sent {
		wg.Go(func() {
			d := &uploads[i]
			d.want = int64(len(u.body))
			var body io.Reader = bytes.NewReader(u.body)
			if u.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req, err := http.NewRequest(http.MethodPost, p.url("/upload"), body)
			if err != nil {
				d.err = err
				return
			}
			if u.accept != "" {
				req.Header.Set("Accept", u.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				d.err = err
				return
			}
			defer resp.Body.Close()
			var got struct {
				Bytes  int64  `json:"bytes"`
				SHA256 string `json:"sha256"`
			}
			d.status, d.err = resp.StatusCode, json.NewDecoder(resp.Body).Decode(&got)
			d.got = got.Bytes
			if want := sha256.Sum256(u.body); d.err == nil && got.SHA256 != hex.EncodeToString(want[:]) {
				d.err = fmt.Errorf("the app got other bytes (SHA-256 %s)", got.SHA256)
			}
		})
	}
	wg.Wait()
	check("large upload", uploads)
	resp, err = http.Post(p.url("/upload"), "application/octet-stream", bytes.NewReader(make([]byte, 48<<20+1)))
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(page), "at most 48 MB") {
		t.Errorf("a body over max_body_mb 48: HTTP %d %q, want nginx's JSON 413 naming the limit", resp.StatusCode, page)
	}

	// Headers as large as apps send and take pass both ways: a 12 KB header
	// line in the answer (over nginx's default 4 KB it answered 502) and in
	// the request, and four 15 KB request header lines (over the default
	// 8 KB a line and 32 KB in all nginx answered 400). A line over 16 KB,
	// or a fifth large line (a line never spans two of the four 16 KB
	// buffers), is nginx's to refuse with a JSON 431, a URI over 16 KB with
	// its own 414.
	for _, c := range []struct {
		name    string
		uri     string
		request []int // lengths of the request's X-Token-N values
		answer  int   // length of the answer's X-Large
		status  int
	}{
		{"a 12 KB answer header", "/headers?bytes=12000", nil, 12_000, 200},
		{"a 12 KB request header", "/headers?bytes=0", []int{12_000}, 0, 200},
		{"four 15 KB request headers", "/headers?bytes=0", []int{15_000, 15_000, 15_000, 15_000}, 0, 200},
		{"a 20 KB request header", "/headers?bytes=0", []int{20_000}, 0, http.StatusRequestHeaderFieldsTooLarge},
		{"five 12 KB request headers", "/headers?bytes=0", []int{12_000, 12_000, 12_000, 12_000, 12_000}, 0, http.StatusRequestHeaderFieldsTooLarge},
		{"a 20 KB URI", "/headers?bytes=0&pad=" + strings.Repeat("p", 20_000), nil, 0, http.StatusRequestURITooLong},
	} {
		req, err := http.NewRequest(http.MethodGet, p.url(c.uri), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range c.request {
			req.Header.Set(fmt.Sprintf("X-Token-%d", i), strings.Repeat("t", n))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if c.status == http.StatusRequestURITooLong {
			if resp.StatusCode != c.status {
				t.Errorf("%s: HTTP %d, want nginx's 414", c.name, resp.StatusCode)
			}
			continue
		}
		if c.status != http.StatusOK {
			checkJSONError(t, resp, string(body), c.status)
			continue
		}
		var got struct {
			Longest int `json:"longest_header"`
		}
		json.Unmarshal(body, &got)
		if resp.StatusCode != http.StatusOK || len(resp.Header.Get("X-Large")) != c.answer || (c.request != nil && got.Longest < c.request[0]) {
			t.Errorf("%s: HTTP %d %q with an X-Large of %d bytes: nginx did not pass it", c.name, resp.StatusCode, body, len(resp.Header.Get("X-Large")))
		}
	}
	if t.Failed() {
		p.logNginxTrouble()
	}
}

// underscored is a request's headers with names an app may use but nginx
// drops by default (X_Api_Key), and a client's forged X_Forwarded_For.
func underscored() http.Header {
	return http.Header{"X_Api_Key": {"k-123"}, "X_Forwarded_For": {"203.0.113.66"}}
}

// checkUnderscored checks what wsapp's /echo says it got of underscored().
func checkUnderscored(t *testing.T, where string, resp *http.Response, body string) {
	t.Helper()
	var echo struct{ Header http.Header }
	json.Unmarshal([]byte(body), &echo)
	// Go's server spells an underscored name with one capital: X_api_key.
	if resp.StatusCode != http.StatusOK || echo.Header.Get("X_api_key") != "k-123" || echo.Header.Get("X_forwarded_for") != "" || strings.Contains(echo.Header.Get("X-Forwarded-For"), "203.0.113.66") {
		t.Errorf("%s the app got HTTP %d %s; want X_Api_Key passed and the forged X_Forwarded_For not", where, resp.StatusCode, body)
	}
}

// accessLines are the lines of nginx's access log (docker logs) that hold
// every one of parts.
func (p *project) accessLines(parts ...string) []string {
	var out []string
	for _, id := range p.containers("nginx") {
		for _, line := range nginxLog(p.t, id) {
			if !slices.ContainsFunc(parts, func(part string) bool { return !strings.Contains(line, part) }) {
				out = append(out, line)
			}
		}
	}
	return out
}
