package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRootAnswersMessageModeVersionAndUTCTimestamp(t *testing.T) {
	a, _ := newTestApp(t, modeStable)
	rec := serveOne(a.handler(), http.MethodGet, "/", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", rec.Code)
	}
	got := decodeBody(t, rec)
	want := map[string]any{"message": "Hello from SwiftDeploy", "mode": "stable", "version": "1.2.3", "timestamp": "2026-05-04T10:30:00Z"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("body has fields %v, want exactly %v", got, want)
	}
}

func TestHealthzReportsOKAndUptimeFromTheClock(t *testing.T) {
	a, clock := newTestApp(t, modeCanary)
	clock.t = clock.t.Add(90*time.Second + 250*time.Millisecond)
	rec := serveOne(a.handler(), http.MethodGet, pathHealthz, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", rec.Code)
	}
	got := decodeBody(t, rec)
	if got["status"] != "ok" || got["mode"] != "canary" || got["version"] != "1.2.3" || got["uptime_seconds"] != 90.25 {
		t.Errorf("body = %v, want status ok, mode canary, version 1.2.3, uptime_seconds 90.25", got)
	}
}

func TestHeadIsAllowedWhereGetIs(t *testing.T) {
	a, _ := newTestApp(t, modeStable)
	for _, path := range []string{"/", pathHealthz, pathMetrics} {
		if rec := serveOne(a.handler(), http.MethodHead, path, ""); rec.Code != http.StatusOK {
			t.Errorf("HEAD %s = %d, want 200", path, rec.Code)
		}
	}
}

func TestWrongMethodsGet405JSONWithAllowHeader(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	cases := []struct{ method, path, allow string }{
		{http.MethodPost, "/", "GET, HEAD"},
		{http.MethodDelete, "/", "GET, HEAD"},
		{http.MethodPut, pathHealthz, "GET, HEAD"},
		{http.MethodGet, pathChaos, "POST"},
		{http.MethodPut, pathChaos, "POST"},
		{http.MethodPost, pathMetrics, "GET, HEAD"},
	}
	for _, c := range cases {
		rec := serveOne(a.handler(), c.method, c.path, "")
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s = %d, want 405", c.method, c.path, rec.Code)
			continue
		}
		if got := rec.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s Allow = %q, want %q", c.method, c.path, got, c.allow)
		}
		if body := decodeBody(t, rec); body["error"] == nil {
			t.Errorf("%s %s body %v has no error", c.method, c.path, body)
		}
	}
}

func TestUnknownPathGets404JSONNamingThePath(t *testing.T) {
	a, _ := newTestApp(t, modeStable)
	rec := serveOne(a.handler(), http.MethodGet, "/no/such/thing", "")
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /no/such/thing = %d, want 404", rec.Code)
	}
	if got := decodeBody(t, rec); got["error"] != "not found" || got["path"] != "/no/such/thing" {
		t.Errorf("body = %v", got)
	}
}

func TestChaosIsForbiddenInStableMode(t *testing.T) {
	a, _ := newTestApp(t, modeStable)
	rec := serveOne(a.handler(), http.MethodPost, pathChaos, `{"mode":"error","rate":1}`)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("POST /chaos in stable = %d, want 403", rec.Code)
	}
	if got := decodeBody(t, rec); got["error"] != "chaos is only available in canary mode" {
		t.Errorf("body = %v", got)
	}
	if rec := serveOne(a.handler(), http.MethodGet, "/", ""); rec.Code != http.StatusOK {
		t.Errorf("GET / after a refused chaos request = %d, want 200", rec.Code)
	}
}

func TestEveryCanaryResponseCarriesXModeAndNoStableOneDoes(t *testing.T) {
	canary, _ := newTestApp(t, modeCanary)
	stable, _ := newTestApp(t, modeStable)
	failing, _ := newTestApp(t, modeCanary)
	setChaos(t, failing.handler(), `{"mode":"error","rate":1}`)
	cases := []struct {
		name               string
		a                  *app
		method, path, body string
		wantStatus         int
	}{
		{"root", canary, http.MethodGet, "/", "", 200},
		{"healthz", canary, http.MethodGet, pathHealthz, "", 200},
		{"metrics", canary, http.MethodGet, pathMetrics, "", 200},
		{"chaos", canary, http.MethodPost, pathChaos, `{"mode":"recover"}`, 200},
		{"bad chaos", canary, http.MethodPost, pathChaos, `{`, 400},
		{"not found", canary, http.MethodGet, "/missing", "", 404},
		{"wrong method", canary, http.MethodPatch, "/", "", 405},
		{"too large", canary, http.MethodPost, pathChaos, strings.Repeat(" ", maxChaosBody+1), 413},
		{"injected failure", failing, http.MethodGet, "/", "", 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := serveOne(c.a.handler(), c.method, c.path, c.body)
			if rec.Code != c.wantStatus {
				t.Fatalf("%s %s = %d, want %d", c.method, c.path, rec.Code, c.wantStatus)
			}
			if got := rec.Header().Get("X-Mode"); got != "canary" {
				t.Errorf("X-Mode = %q, want canary", got)
			}
			if rec := serveOne(stable.handler(), c.method, c.path, c.body); len(rec.Header().Values("X-Mode")) != 0 {
				t.Errorf("stable %s %s has X-Mode %q, want none", c.method, c.path, rec.Header().Values("X-Mode"))
			}
		})
	}
}

func TestChaosAnswersTheResultingState(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	cases := []struct{ body, want string }{
		{`{"mode":"slow","duration":2}`, `{"chaos":{"mode":"slow","duration":2}}`},
		{`{"mode":"slow","duration":30}`, `{"chaos":{"mode":"slow","duration":30}}`},
		{`{"mode":"error","rate":0.5}`, `{"chaos":{"mode":"error","rate":0.5}}`},
		{`{"mode":"error","rate":0}`, `{"chaos":{"mode":"error","rate":0}}`},
		{` {"rate":1, "mode":"error"} `, `{"chaos":{"mode":"error","rate":1}}`},
		{`{"mode":"recover"}`, `{"chaos":{"mode":"none"}}`},
	}
	for _, c := range cases {
		rec := serveOne(a.handler(), http.MethodPost, pathChaos, c.body)
		if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != c.want {
			t.Errorf("POST /chaos %s = %d %s, want 200 %s", c.body, rec.Code, rec.Body, c.want)
		}
	}
}

func TestChaosRejectsBadBodiesWith400NamingTheProblem(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"empty body", ``, "request body is empty"},
		{"bad JSON", `{"mode":`, "invalid JSON"},
		{"not an object", `["slow"]`, "must be a JSON object"},
		{"null", `null`, "must be a JSON object"},
		{"trailing data", `{"mode":"recover"} {}`, "unexpected data after the JSON object"},
		{"trailing garbage", `{"mode":"recover"}x`, "unexpected data after the JSON object"},
		{"missing mode", `{"duration":2}`, `missing field "mode"`},
		{"mode not a string", `{"mode":1}`, "mode must be a string"},
		{"mode null", `{"mode":null}`, "mode must be a string"},
		{"unknown mode", `{"mode":"explode"}`, `unknown mode "explode"`},
		{"slow without duration", `{"mode":"slow"}`, `missing field "duration"`},
		{"duration a string", `{"mode":"slow","duration":"2"}`, "duration must be a number"},
		{"duration null", `{"mode":"slow","duration":null}`, "duration must be a number"},
		{"duration zero", `{"mode":"slow","duration":0}`, "at most 30 seconds"},
		{"duration negative", `{"mode":"slow","duration":-1}`, "greater than 0"},
		{"duration over the cap", `{"mode":"slow","duration":30.5}`, "at most 30 seconds"},
		{"duration overflows", `{"mode":"slow","duration":1e999}`, "got 1e999"},
		{"error without rate", `{"mode":"error"}`, `missing field "rate"`},
		{"rate a bool", `{"mode":"error","rate":true}`, "rate must be a number"},
		{"rate above 1", `{"mode":"error","rate":1.01}`, "rate must be from 0 to 1"},
		{"rate negative", `{"mode":"error","rate":-0.1}`, "rate must be from 0 to 1"},
		{"extra field on slow", `{"mode":"slow","duration":1,"rate":1}`, `unknown field "rate" for mode "slow"`},
		{"extra field on error", `{"mode":"error","rate":1,"duration":1}`, `unknown field "duration" for mode "error"`},
		{"extra field on recover", `{"mode":"recover","force":true}`, `unknown field "force" for mode "recover"`},
		{"every problem at once", `{"mode":"slow","duration":"x","a":1}`, `duration must be a number; unknown field "a"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, _ := newTestApp(t, modeCanary)
			rec := serveOne(a.handler(), http.MethodPost, pathChaos, c.body)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("POST /chaos %s = %d, want 400", c.body, rec.Code)
			}
			msg, _ := decodeBody(t, rec)["error"].(string)
			if !strings.Contains(msg, c.want) {
				t.Errorf("error = %q, want it to mention %q", msg, c.want)
			}
			if got := a.chaos.get().mode; got != chaosNone {
				t.Errorf("chaos mode after a rejected body = %d, want none", got)
			}
		})
	}
}

func TestChaosBodyOverOneKiBGets413(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	body := `{"mode":"recover","pad":"` + strings.Repeat("x", maxChaosBody) + `"}`
	rec := serveOne(a.handler(), http.MethodPost, pathChaos, body)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST /chaos with %d bytes = %d, want 413", len(body), rec.Code)
	}
	if msg, _ := decodeBody(t, rec)["error"].(string); !strings.Contains(msg, "1024 bytes") {
		t.Errorf("error = %q, want it to name the 1024-byte limit", msg)
	}
	exact := `{"mode":"recover"}` + strings.Repeat(" ", maxChaosBody-len(`{"mode":"recover"}`))
	if rec := serveOne(a.handler(), http.MethodPost, pathChaos, exact); rec.Code != http.StatusOK {
		t.Errorf("POST /chaos with exactly %d bytes = %d, want 200", len(exact), rec.Code)
	}
}

func TestErrorRateOneFailsEveryAppRequestButNoOtherRoute(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	h := a.handler()
	setChaos(t, h, `{"mode":"error","rate":1}`)
	for i := range 20 {
		rec := serveOne(h, http.MethodGet, "/", "")
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("request %d: GET / = %d, want 500", i, rec.Code)
		}
		if got := decodeBody(t, rec)["error"]; got != "injected failure (chaos error mode)" {
			t.Fatalf("error = %v", got)
		}
	}
	if rec := serveOne(h, http.MethodGet, "/unknown", ""); rec.Code != http.StatusInternalServerError {
		t.Errorf("GET /unknown = %d, want 500: unknown paths are application routes", rec.Code)
	}
	for _, path := range []string{pathHealthz, pathMetrics} {
		if rec := serveOne(h, http.MethodGet, path, ""); rec.Code != http.StatusOK {
			t.Errorf("GET %s under error chaos = %d, want 200", path, rec.Code)
		}
	}
	setChaos(t, h, `{"mode":"recover"}`)
	if rec := serveOne(h, http.MethodGet, "/", ""); rec.Code != http.StatusOK {
		t.Errorf("GET / after recover = %d, want 200", rec.Code)
	}
}

func TestErrorRateZeroFailsNothing(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	h := a.handler()
	setChaos(t, h, `{"mode":"error","rate":0}`)
	for i := range 50 {
		if rec := serveOne(h, http.MethodGet, "/", ""); rec.Code != http.StatusOK {
			t.Fatalf("request %d: GET / = %d, want 200", i, rec.Code)
		}
	}
}

func TestErrorRateHalfFailsSomeAndPassesSome(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	h := a.handler()
	setChaos(t, h, `{"mode":"error","rate":0.5}`)
	counts := map[int]int{}
	// 400 draws: the chance that all land on one side is 2^-399.
	for range 400 {
		counts[serveOne(h, http.MethodGet, "/", "").Code]++
	}
	if counts[200] == 0 || counts[500] == 0 || counts[200]+counts[500] != 400 {
		t.Errorf("status counts = %v, want a mix of 200 and 500 only", counts)
	}
}

func TestSlowChaosDelaysTheRootResponse(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	h := a.handler()
	setChaos(t, h, `{"mode":"slow","duration":0.3}`)
	start := time.Now()
	rec := serveOne(h, http.MethodGet, "/", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", rec.Code)
	}
	// A lower bound only: the sleep guarantees it, and no machine is too fast for it.
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("GET / took %s under 0.3 s slow chaos", took)
	}
}

func TestSlowRequestNeverDelaysHealthzAndStopsWhenTheClientLeaves(t *testing.T) {
	a, _ := newTestApp(t, modeCanary)
	entered, left := make(chan struct{}), make(chan struct{})
	inner := a.handler()
	// The probe tells the test when the slow request is inside the handler and when it returns.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			close(entered)
			defer close(left)
		}
		inner.ServeHTTP(w, r)
	})
	setChaos(t, h, `{"mode":"slow","duration":20}`)
	srv := httptestServer(t, h)

	ctx, cancel := context.WithCancel(context.Background())
	slowDone := make(chan error, 1)
	go func() {
		_, err := getStatus(ctx, srv+"/")
		slowDone <- err
	}()
	<-entered
	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer hcancel()
	if code, err := getStatus(hctx, srv+pathHealthz); err != nil || code != http.StatusOK {
		t.Fatalf("GET /healthz during a slow request = %d, %v; want 200", code, err)
	}
	select {
	case err := <-slowDone:
		t.Fatalf("slow request finished before /healthz answered (err %v): chaos did not delay it", err)
	default:
	}
	cancel()
	if err := <-slowDone; err == nil {
		t.Error("cancelled slow request reported success")
	}
	select {
	case <-left:
	case <-time.After(5 * time.Second):
		t.Fatal("slow handler still sleeping 5 s after its client left")
	}
}
