package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// shutdownDrain bounds how long in-flight requests may finish after SIGTERM. It is
// below Docker's default 10 s stop grace so the process exits before it is killed.
const shutdownDrain = 8 * time.Second

// newServer sets timeouts so slow or idle clients cannot hold connections forever.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// Longer than the largest injected delay, or slow chaos would cut responses off.
		WriteTimeout: (maxSlowSeconds + 10) * time.Second,
		// Longer than nginx's 60 s upstream keep-alive, so nginx closes idle
		// connections first and never sends on one this server is closing.
		IdleTimeout:    75 * time.Second,
		MaxHeaderBytes: 16 << 10,
	}
}

// serve runs h on ln until ctx ends, then stops accepting at once and lets
// in-flight requests finish for up to drain before closing what remains.
func serve(ctx context.Context, ln net.Listener, h http.Handler, drain time.Duration, log io.Writer) error {
	srv := newServer(h)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served: // Serve only returns early on a listener failure
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintf(log, "shutting down: draining in-flight requests for up to %s\n", drain)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		// The drain bound is the contract: report what was cut off, but still stop cleanly.
		srv.Close()
		fmt.Fprintf(log, "shutdown: drain limit %s reached; closed the remaining connections\n", drain)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(log, "stopped")
	return nil
}
