package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzChaosHandler checks that no body or method makes /chaos panic or answer
// anything but a JSON document with one of its documented status codes.
func FuzzChaosHandler(f *testing.F) {
	f.Add(http.MethodPost, []byte(`{"mode":"slow","duration":2}`), true)
	f.Add(http.MethodPost, []byte(`{"mode":"error","rate":0.5}`), true)
	f.Add(http.MethodPost, []byte(`{"mode":"recover"}`), false)
	f.Add(http.MethodGet, []byte(``), true)
	canary, _ := newTestApp(f, modeCanary)
	stable, _ := newTestApp(f, modeStable)
	allowed := map[int]bool{200: true, 400: true, 403: true, 405: true, 413: true}

	f.Fuzz(func(t *testing.T, method string, body []byte, isCanary bool) {
		if !validMethod(method) {
			t.Skip("not a method an HTTP request can carry")
		}
		a := stable
		if isCanary {
			a = canary
		}
		req := httptest.NewRequest(http.MethodPost, pathChaos, strings.NewReader(string(body)))
		req.Method = method
		rec := httptest.NewRecorder()
		a.handler().ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("%s /chaos %q = %d, want one of 200, 400, 403, 405, 413", method, body, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s /chaos %q answered %q with Content-Type %q, want JSON", method, body, rec.Body, ct)
		}
	})
}

// validMethod reports whether m is an HTTP token, as net/http requires of methods.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			return false
		}
	}
	return true
}
