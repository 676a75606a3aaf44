package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testStart is the fixed time every test app starts at.
var testStart = time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)

// testClock is a clock that only moves when the test moves it.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func newTestApp(t testing.TB, mode string) (*app, *testClock) {
	t.Helper()
	clock := &testClock{t: testStart}
	return newApp(config{mode: mode, version: "1.2.3", port: defaultPort}, clock.now, io.Discard), clock
}

// serve sends one request to h and returns the recorded response.
func serveOne(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, r))
	return rec
}

// decodeBody checks the response is JSON and decodes it as an object.
func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body, err)
	}
	return got
}

// setChaos posts a chaos body and fails the test unless it is accepted.
func setChaos(t *testing.T, h http.Handler, body string) {
	t.Helper()
	if rec := serveOne(h, http.MethodPost, pathChaos, body); rec.Code != http.StatusOK {
		t.Fatalf("POST /chaos %s = %d %s", body, rec.Code, rec.Body)
	}
}

// httptestServer serves h on a loopback port until the test ends and returns its base URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// getStatus sends a GET and returns the status code, draining the body.
func getStatus(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
