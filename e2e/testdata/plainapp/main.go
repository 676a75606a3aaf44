// Command plainapp is a test image's whole program: an HTTP service that is
// not SwiftDeploy's, with no /metrics. It answers / and /healthz with its
// MODE and APP_VERSION, and, run as `plainapp healthcheck`, probes its own
// /healthz for the container healthcheck. The end-to-end tests release it to
// show that a build without /metrics is judged from nginx's counts alone,
// and read /forwarded to see what the proxies in front said of the client.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	port := os.Getenv("APP_PORT")
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			os.Exit(1)
		}
		return
	}
	mode, version := os.Getenv("MODE"), os.Getenv("APP_VERSION")
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"status":"ok","mode":%q,"version":%q}`, mode, version)
	})
	// What the proxies in front said about the client: the edge's tests
	// read it.
	mux.HandleFunc("/forwarded", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"proto":%q,"for":%q,"host":%q,"real_ip":%q,"request_host":%q}`, r.Header.Get("X-Forwarded-Proto"),
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Real-IP"), r.Host)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if mode == "canary" {
			w.Header().Set("X-Mode", "canary")
		}
		fmt.Fprintf(w, `{"message":"plain","mode":%q,"version":%q}`, mode, version)
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
