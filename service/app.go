package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"
)

// The known routes; every other path is an application path labelled "other".
const (
	pathRoot    = "/"
	pathHealthz = "/healthz"
	pathChaos   = "/chaos"
	pathMetrics = "/metrics"
)

// app holds the service's state: its configuration, start time, chaos and metrics.
type app struct {
	cfg     config
	now     func() time.Time
	started time.Time
	chaos   *chaosState
	metrics *metrics
	routes  map[string]http.Handler
	log     io.Writer // chaos changes are logged here
}

// newApp builds the service; now is injected so tests control timestamps and uptime.
func newApp(cfg config, now func() time.Time, log io.Writer) *app {
	a := &app{cfg: cfg, now: now, started: now(), chaos: newChaosState(), log: log}
	a.metrics = newMetrics(cfg.mode, a.uptime, func() float64 { return float64(a.chaos.get().mode) })
	a.routes = map[string]http.Handler{
		pathRoot:    allow(a.withChaos(http.HandlerFunc(a.serveRoot)), http.MethodGet, http.MethodHead),
		pathHealthz: allow(http.HandlerFunc(a.serveHealthz), http.MethodGet, http.MethodHead),
		pathChaos:   allow(http.HandlerFunc(a.serveChaos), http.MethodPost),
		pathMetrics: allow(a.metrics.handler(), http.MethodGet, http.MethodHead),
	}
	return a
}

// handler is the whole service as served: mode header outermost, then metrics, then routes.
func (a *app) handler() http.Handler {
	h := a.router()
	if instrumented {
		h = a.metrics.instrument(h)
	}
	return withModeHeader(a.cfg.mode, h)
}

// router dispatches on the exact path. It is hand-written rather than a ServeMux so
// that unknown paths get JSON 404s and chaos, and no path is redirected or cleaned.
func (a *app) router() http.Handler {
	notFound := a.withChaos(http.HandlerFunc(serveNotFound))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := a.routes[r.URL.Path]; ok {
			h.ServeHTTP(w, r)
			return
		}
		notFound.ServeHTTP(w, r)
	})
}

func (a *app) uptime() float64 { return a.now().Sub(a.started).Seconds() }

func (a *app) serveRoot(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Message   string `json:"message"`
		Mode      string `json:"mode"`
		Version   string `json:"version"`
		Timestamp string `json:"timestamp"`
	}{"Hello from SwiftDeploy", a.cfg.mode, a.cfg.version, a.now().UTC().Format(time.RFC3339)})
}

func (a *app) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, healthStatus{
		Status:        "ok",
		Mode:          a.cfg.mode,
		Version:       a.cfg.version,
		UptimeSeconds: math.Round(a.uptime()*1000) / 1000,
	})
}

// healthStatus is the /healthz body; the healthcheck subcommand decodes it too.
type healthStatus struct {
	Status        string  `json:"status"`
	Mode          string  `json:"mode"`
	Version       string  `json:"version"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

func serveNotFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, struct {
		Error string `json:"error"`
		Path  string `json:"path"`
	}{"not found", r.URL.Path})
}

func (a *app) serveChaos(w http.ResponseWriter, r *http.Request) {
	if a.cfg.mode != modeCanary {
		writeError(w, http.StatusForbidden, "chaos is only available in canary mode")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxChaosBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", maxChaosBody))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("read request body: %v", err))
		return
	}
	setting, err := parseChaos(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, oneLine(err))
		return
	}
	a.chaos.set(setting)
	// One line per change: the container log then shows when chaos began and ended.
	view, _ := json.Marshal(setting.view())
	fmt.Fprintf(a.log, "chaos set: %s\n", view)
	writeJSON(w, http.StatusOK, struct {
		Chaos chaosView `json:"chaos"`
	}{setting.view()})
}

// withChaos applies the current chaos setting to an application route.
func (a *app) withChaos(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setting := a.chaos.get()
		switch {
		case setting.mode == chaosSlow:
			if err := sleep(r.Context(), time.Duration(setting.duration*float64(time.Second))); err != nil {
				// The client went away; nobody reads this, but the metric shows it.
				writeError(w, http.StatusServiceUnavailable, "request cancelled during injected delay")
				return
			}
		case setting.shouldFail():
			writeError(w, http.StatusInternalServerError, "injected failure (chaos error mode)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sleep waits for d or until ctx ends, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// allow answers 405 with an Allow header for any method not listed.
func allow(next http.Handler, methods ...string) http.Handler {
	allowHeader := methods[0]
	for _, m := range methods[1:] {
		allowHeader += ", " + m
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range methods {
			if r.Method == m {
				next.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Allow", allowHeader)
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; allowed: %s", r.Method, allowHeader))
	})
}

// withModeHeader marks every canary response, set before any handler can write.
func withModeHeader(mode string, next http.Handler) http.Handler {
	if mode != modeCanary {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Mode", modeCanary)
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only our own fixed structs are marshalled, so this is a programming error
		status, body = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
