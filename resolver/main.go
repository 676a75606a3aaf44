// Command swiftdeploy-resolver is the DNS server nginx asks for the app's
// addresses. Most of the time it forwards every question to Docker's embedded
// DNS, so nginx sees what Docker sees. During a switch SwiftDeploy pins a name
// to the addresses it chooses (a JSON file it writes), so that nginx's
// keep-alive pool gains a new app only once it answers and loses the old one
// while it still answers: no request is ever sent to an address that is not
// serving, and nginx never has to retry across a change of its pool.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cfg := config{
		listen:   env("RESOLVER_LISTEN", ":5353"),
		pins:     env("RESOLVER_PINS", "/etc/swiftdeploy/resolver/pins.json"),
		upstream: env("RESOLVER_UPSTREAM", "127.0.0.11:53"),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, 100*time.Millisecond); err != nil {
		fmt.Fprintln(os.Stderr, "swiftdeploy-resolver:", err)
		os.Exit(1)
	}
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
