// Command wsapp is a test image's whole program: an HTTP service with a
// WebSocket echo and a Server-Sent Events stream, which the end-to-end tests
// deploy and release behind SwiftDeploy's nginx. Every answer says which
// build gave it (MODE and APP_VERSION, from the compose file).
//
//	/healthz, /  {"status":"ok","mode":…,"version":…}
//	/ws          a WebSocket echo: each text message comes back as
//	             {"echo":…,"mode":…,"version":…}
//	/sse         Server-Sent Events: one event after each wait of
//	             ?gaps=100ms,5s,… (or ?every=100ms&count=N), then the stream
//	             ends; each event's data is {"n":…,"sent_unix_nano":…,"version":…}.
//	             It answers X-Accel-Buffering: no unless ?accel=omit.
//	/echo        the request as JSON: method, headers, body; ?delay=3s answers
//	             after a wait, ?abort=1 closes the connection without answering
//	/blob        ?bytes=N bytes of a repeating pattern: a large download
//
// On SIGTERM it stops taking connections, closes every WebSocket with a close
// frame (1001, going away), ends every event stream, lets requests under way
// finish, and exits: all within SwiftDeploy's drain grace.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// build says which build this is.
type build struct {
	Mode    string `json:"mode"`
	Version string `json:"version"`
}

// app is the service's state: the open WebSockets, and whether it is
// shutting down.
type app struct {
	build
	stopping chan struct{}

	mu       sync.Mutex
	sockets  map[*websocket.Conn]struct{}
	handlers sync.WaitGroup
}

func main() {
	a := &app{build: build{Mode: os.Getenv("MODE"), Version: os.Getenv("APP_VERSION")},
		stopping: make(chan struct{}), sockets: map[*websocket.Conn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", a.health)
	mux.HandleFunc("/{$}", a.health)
	mux.HandleFunc("/ws", a.ws)
	mux.HandleFunc("/sse", a.sse)
	mux.HandleFunc("/echo", a.echo)
	mux.HandleFunc("/echo/", a.echo)
	mux.HandleFunc("/blob", a.blob)
	mux.HandleFunc("/upload", a.upload)
	mux.HandleFunc("/headers", a.headers)
	srv := &http.Server{Addr: ":" + os.Getenv("APP_PORT"), Handler: mux}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		a.shutdown(srv)
	}()
	log.Printf("wsapp %s (%s) listening on %s", a.Version, a.Mode, srv.Addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-done
}

// shutdown drains the app within 10 s, well inside the 15 s grace
// SwiftDeploy gives a retired build before it is killed.
func (a *app) shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	close(a.stopping)
	served := make(chan error, 1)
	go func() { served <- srv.Shutdown(ctx) }()

	a.mu.Lock()
	sockets := make([]*websocket.Conn, 0, len(a.sockets))
	for c := range a.sockets {
		sockets = append(sockets, c)
	}
	a.mu.Unlock()
	log.Printf("SIGTERM: closing %d WebSockets with 1001 (going away)", len(sockets))
	var closing sync.WaitGroup
	for _, c := range sockets {
		closing.Go(func() { c.Close(websocket.StatusGoingAway, "server going away") })
	}
	closing.Wait()
	// Hijacked connections are not Shutdown's: wait for their handlers.
	handlers := make(chan struct{})
	go func() { a.handlers.Wait(); close(handlers) }()
	select {
	case <-handlers:
	case <-ctx.Done():
	}
	if err := <-served; err != nil {
		log.Printf("shutdown: %v", err)
	}
	log.Print("drained")
}

func (a *app) health(w http.ResponseWriter, r *http.Request) {
	if a.Mode == "canary" {
		w.Header().Set("X-Mode", "canary")
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		build
	}{"ok", a.build})
}

// ws echoes every text message, saying which build answers.
func (a *app) ws(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the client
	}
	a.mu.Lock()
	select {
	case <-a.stopping:
		a.mu.Unlock()
		c.Close(websocket.StatusGoingAway, "server going away")
		return
	default:
	}
	a.sockets[c] = struct{}{}
	a.handlers.Add(1)
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.sockets, c)
		a.mu.Unlock()
		a.handlers.Done()
	}()
	defer c.CloseNow()
	ctx := context.Background()
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		reply, _ := json.Marshal(struct {
			Echo string `json:"echo"`
			build
		}{string(msg), a.build})
		if err := c.Write(ctx, websocket.MessageText, reply); err != nil {
			return
		}
	}
}

// sse sends one event after each gap, then ends the stream.
func (a *app) sse(w http.ResponseWriter, r *http.Request) {
	gaps, err := parseGaps(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	switch accel := r.URL.Query().Get("accel"); accel {
	case "omit":
	case "":
		h.Set("X-Accel-Buffering", "no")
	default:
		h.Set("X-Accel-Buffering", accel)
	}
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	flusher.Flush()
	for n, gap := range gaps {
		select {
		case <-time.After(gap):
		case <-r.Context().Done():
			return
		case <-a.stopping:
			return
		}
		fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"n\":%d,\"sent_unix_nano\":%d,\"version\":%q}\n\n", n, n, time.Now().UnixNano(), a.Version)
		flusher.Flush()
	}
}

// parseGaps reads ?gaps=d1,d2,… or ?every=d&count=n (default: one event at once).
func parseGaps(r *http.Request) ([]time.Duration, error) {
	q := r.URL.Query()
	if s := q.Get("gaps"); s != "" {
		var gaps []time.Duration
		for _, f := range strings.Split(s, ",") {
			d, err := time.ParseDuration(f)
			if err != nil || d < 0 || d > time.Hour {
				return nil, fmt.Errorf("gaps: %q is not a duration between 0 and 1h", f)
			}
			gaps = append(gaps, d)
		}
		return gaps, nil
	}
	every, count := time.Duration(0), 1
	if s := q.Get("every"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > time.Hour {
			return nil, fmt.Errorf("every: %q is not a duration between 0 and 1h", s)
		}
		every = d
	}
	if s := q.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			return nil, fmt.Errorf("count: %q is not a number between 1 and 100000", s)
		}
		count = n
	}
	gaps := make([]time.Duration, count)
	for i := range gaps {
		gaps[i] = every
	}
	return gaps, nil
}

// echo answers the request as it arrived: method, URI as sent, headers and
// body.
func (a *app) echo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("abort") != "" {
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s := q.Get("delay"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > time.Hour {
			http.Error(w, "delay: not a duration between 0 and 1h", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Method string      `json:"method"`
		URI    string      `json:"uri"`
		Header http.Header `json:"header"`
		Body   string      `json:"body"`
		build
	}{r.Method, r.RequestURI, r.Header, string(body), a.build})
}

// blob answers ?bytes=N bytes (at most 1 GB) of a repeating pattern, with
// their length: a large download.
func (a *app) blob(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
	if err != nil || n < 0 || n > 1<<30 {
		http.Error(w, "bytes: not a count between 0 and 1 GB", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	chunk := bytes.Repeat([]byte("swiftdeploy-blob"), 4096)
	for n > 0 {
		part := chunk[:min(n, int64(len(chunk)))]
		if _, err := w.Write(part); err != nil {
			return
		}
		n -= int64(len(part))
	}
}

// upload reads the request's body whole and answers its length and SHA-256:
// a large upload, checked without holding it.
func (a *app) upload(w http.ResponseWriter, r *http.Request) {
	sum := sha256.New()
	n, err := io.Copy(sum, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
	}{n, hex.EncodeToString(sum.Sum(nil))})
}

// headers answers with a header X-Large of ?bytes=N bytes (at most 1 MB) and
// says how long the longest header line it received was: large headers, both
// ways.
func (a *app) headers(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("bytes"))
	if err != nil || n < 0 || n > 1<<20 {
		http.Error(w, "bytes: not a count between 0 and 1 MB", http.StatusBadRequest)
		return
	}
	longest := 0
	for name, values := range r.Header {
		for _, v := range values {
			longest = max(longest, len(name)+len(": ")+len(v))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if n > 0 {
		w.Header().Set("X-Large", strings.Repeat("h", n))
	}
	json.NewEncoder(w).Encode(struct {
		Longest int `json:"longest_header"`
	}{longest})
}
