// Command swiftdeploy-renewer is the host's edge's renewer: it runs beside
// the edge's nginx, in the edge's compose project, for as long as the edge
// exists, and renews each certificate the edge got from an ACME CA ahead of
// its expiry, so that the operator has nothing to schedule.
//
// Every look (the edge's schedule: every hour by default, a little less at
// random) reads the edge's claims and certificates; a certificate that is
// due, missing, or from another directory is ordered through the same
// HTTP-01 flow and ACME account as deploy and renew, and installed where
// nginx picks it up within seconds. A failed order keeps the old
// certificate served, and the name is not asked for again before its
// backoff ends. Each order is recorded in the history of the stack that
// claimed the name; what the renewer does is also on its standard output
// (docker logs).
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/edge"
)

func main() {
	e, err := edge.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "swiftdeploy-renewer:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	say := func(format string, args ...any) {
		fmt.Printf("%s %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	s := e.Schedule()
	say("renewing the certificates of the edge in %s: a look every %s", e.Dir, s.Every)
	for {
		if err := e.RenewDue(ctx, time.Now(), say); err != nil && ctx.Err() == nil {
			say("%v", err)
		}
		s = e.Schedule()
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.NextLook(rand.Float64())):
		}
	}
}
