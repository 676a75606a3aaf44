package router

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// listenLocal starts a server for h on 127.0.0.1.
func listenLocal(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestTheAdminClientLooksTheListenerUpAgainWhenItMoved(t *testing.T) {
	// nginx was recreated: the address looked up first refuses, and the
	// runtime now publishes the admin port elsewhere.
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.Addr().String()
	gone.Close()
	srv := listenLocal(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.Path) }))
	var lookups atomic.Int32
	d := &adminDialer{lookup: func(context.Context) (string, error) {
		lookups.Add(1)
		return srv.Listener.Addr().String(), nil
	}}
	d.addr = goneAddr
	client := &http.Client{Transport: &http.Transport{DialContext: d.dial}}

	for range 3 {
		resp, err := client.Get(URL("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "/metrics" {
			t.Fatalf("answer %q, want the admin listener's /metrics", body)
		}
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("looked the admin listener up %d times, want once (after the refusal), then kept", n)
	}
}

func TestTheAdminClientSaysWhyItHasNoListener(t *testing.T) {
	d := &adminDialer{lookup: func(context.Context) (string, error) {
		return "", fmt.Errorf("no running nginx of the stack publishes its admin port 9180")
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.dial}}
	_, err := client.Get(URL("/metrics"))
	if err == nil || !strings.Contains(err.Error(), "publishes its admin port") {
		t.Fatalf("error = %v, want the runtime's reason", err)
	}
}
