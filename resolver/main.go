// Command swiftdeploy-resolver is the DNS server nginx asks for the app's
// addresses, and the way SwiftDeploy steers nginx without a reload.
//
// Names it does not own it forwards to Docker's embedded DNS (with TTL 0),
// so nginx sees what Docker sees. During a switch SwiftDeploy pins a name
// to the addresses it chooses, so that nginx's keep-alive pool gains a new
// app only once it answers and loses the old one while it still answers.
// During a canary release it answers the weighted lines of nginx's `app`
// upstream with SRV records whose weights give the canary its share. Both
// come from one JSON file SwiftDeploy writes (the routes file), and the
// resolver writes back which generation of it nginx has asked for twice
// (the served file): the proof that nginx routes by it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	port, err := strconv.Atoi(env("RESOLVER_APP_PORT", "3000"))
	if err != nil || port < 1 || port > 65535 {
		fmt.Fprintln(os.Stderr, "swiftdeploy-resolver: RESOLVER_APP_PORT is not a port:", os.Getenv("RESOLVER_APP_PORT"))
		os.Exit(2)
	}
	cfg := config{
		listen:   env("RESOLVER_LISTEN", ":5353"),
		routes:   env("RESOLVER_ROUTES", "/etc/swiftdeploy/resolver/routes.json"),
		served:   env("RESOLVER_SERVED", "/etc/swiftdeploy/resolver/served.json"),
		upstream: env("RESOLVER_UPSTREAM", "127.0.0.11:53"),
		app:      env("RESOLVER_APP", "app"),
		canary:   env("RESOLVER_CANARY", "canary"),
		port:     port,
		zone:     env("RESOLVER_ZONE", "swiftdeploy"),
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
