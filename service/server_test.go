package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestShutdownRefusesNewConnectionsAndFinishesInFlightRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	entered, release := make(chan struct{}), make(chan struct{})
	a, _ := newTestApp(t, modeCanary)
	inner := a.handler()
	// The in-flight request waits on release, so the test decides when it may finish.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			close(entered)
			<-release
		}
		inner.ServeHTTP(w, r)
	})
	ctx, stop := context.WithCancel(context.Background())
	var log bytes.Buffer
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, h, 5*time.Second, &log) }()

	inFlight := make(chan int, 1)
	go func() {
		code, err := getStatus(context.Background(), "http://"+addr+"/")
		if err != nil {
			t.Errorf("in-flight request: %v", err)
		}
		inFlight <- code
	}()
	<-entered
	stop()
	waitUntilRefused(t, addr)
	close(release)
	if code := <-inFlight; code != http.StatusOK {
		t.Errorf("in-flight request = %d, want 200", code)
	}
	if err := <-served; err != nil {
		t.Errorf("serve returned %v, want nil after a clean drain", err)
	}
	if !strings.Contains(log.String(), "stopped") {
		t.Errorf("log %q does not say the server stopped", log.String())
	}
}

// waitUntilRefused dials addr until the closed listener refuses, for at most 5 s.
func waitUntilRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still accepts connections 5 s after shutdown began", addr)
}

func TestShutdownClosesWhatRemainsAfterTheDrainLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	// A handler that only ends when its connection is closed.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	ctx, stop := context.WithCancel(context.Background())
	var log bytes.Buffer
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, h, 50*time.Millisecond, &log) }()
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		getStatus(context.Background(), "http://"+ln.Addr().String()+"/")
	}()
	<-entered
	stop()
	if err := <-served; err != nil {
		t.Errorf("serve returned %v, want nil: the drain bound is expected behaviour", err)
	}
	<-clientDone
	if !strings.Contains(log.String(), "drain limit") {
		t.Errorf("log %q does not report the drain limit", log.String())
	}
}

func TestRunRejectsInvalidConfigurationWithExitCode2(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"MODE empty", nil, map[string]string{}, `invalid MODE ""`},
		{"MODE unknown", nil, map[string]string{"MODE": "beta"}, `invalid MODE "beta"`},
		{"APP_PORT bad", nil, map[string]string{"MODE": "stable", "APP_PORT": "http"}, `invalid APP_PORT "http"`},
		{"unknown argument", []string{"serve"}, map[string]string{"MODE": "stable"}, `unexpected argument "serve"`},
		{"healthcheck port bad", []string{"healthcheck"}, map[string]string{"APP_PORT": "70000"}, `invalid APP_PORT "70000"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(c.args, func(k string) string { return c.env[k] }, &stdout, &stderr)
			if code != exitInvalid {
				t.Errorf("exit code = %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), c.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr = %q, want one line mentioning %q", stderr.String(), c.want)
			}
		})
	}
}

func TestHealthcheckSubcommandExitsZeroOnlyWhenHealthy(t *testing.T) {
	a, _ := newTestApp(t, modeStable)
	healthy := httptest.NewServer(a.handler())
	defer healthy.Close()
	degraded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, healthStatus{Status: "degraded"})
	}))
	defer degraded.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusServiceUnavailable, "down")
	}))
	defer failing.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	cases := []struct {
		name     string
		url      string
		wantCode int
		wantErr  string
	}{
		{"healthy", healthy.URL, exitOK, ""},
		{"degraded", degraded.URL, exitFailure, `status "degraded"`},
		{"503", failing.URL, exitFailure, "status 503"},
		{"nothing listening", closed.URL, exitFailure, "connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(c.url, "http://"))
			var stdout, stderr bytes.Buffer
			env := map[string]string{"APP_PORT": port}
			code := run([]string{"healthcheck"}, func(k string) string { return env[k] }, &stdout, &stderr)
			if code != c.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, c.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.wantErr) {
				t.Errorf("stderr = %q, want it to mention %q", stderr.String(), c.wantErr)
			}
		})
	}
}

func TestHealthcheckGivesUpAfterItsTimeout(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	err := checkHealth(context.Background(), srv.URL+pathHealthz, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("checkHealth against a hung server = %v, want a deadline error", err)
	}
}

func TestServerTimeoutsOutlastTheSlowChaosCap(t *testing.T) {
	srv := newServer(http.NotFoundHandler())
	if srv.WriteTimeout <= maxSlowSeconds*time.Second {
		t.Errorf("WriteTimeout %s would cut off a %d s injected delay", srv.WriteTimeout, maxSlowSeconds)
	}
	if srv.ReadHeaderTimeout == 0 || srv.IdleTimeout == 0 {
		t.Error("ReadHeaderTimeout and IdleTimeout must be set")
	}
}
