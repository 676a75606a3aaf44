// Command swiftdeploy-app is the HTTP service SwiftDeploy deploys: one binary, one
// image, two modes (stable and canary) chosen by the MODE environment variable.
//
// It serves GET /, GET /healthz, POST /chaos (canary only) and GET /metrics, drains
// in-flight requests on SIGTERM, and doubles as its own container healthcheck
// (`swiftdeploy-app healthcheck`), because the scratch image has no shell or curl.
//
// It imports only the standard library and client_golang so the image stays tiny.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// Exit codes follow the product contract: 1 operational failure, 2 invalid input.
const (
	exitOK      = 0
	exitFailure = 1
	exitInvalid = 2
)

// run is main without the process globals, so tests can drive it.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return runHealthcheck(args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "swiftdeploy-app: unexpected argument %q (usage: swiftdeploy-app [healthcheck])\n", args[0])
		return exitInvalid
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "swiftdeploy-app: %s\n", oneLine(err))
		return exitInvalid
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.port))
	if err != nil {
		fmt.Fprintf(stderr, "swiftdeploy-app: listen on port %d: %v\n", cfg.port, err)
		return exitFailure
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	a := newApp(cfg, time.Now, stdout)
	fmt.Fprintf(stdout, "swiftdeploy-app %s listening on %s (mode %s)\n", cfg.version, ln.Addr(), cfg.mode)
	if err := serve(ctx, ln, a.handler(), shutdownDrain, stdout); err != nil {
		fmt.Fprintf(stderr, "swiftdeploy-app: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func runHealthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "healthcheck: unexpected argument %q\n", args[0])
		return exitInvalid
	}
	port, err := parsePort(getenv("APP_PORT"))
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitInvalid
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	if err := checkHealth(context.Background(), url, healthcheckTimeout); err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, "healthcheck: ok")
	return exitOK
}
