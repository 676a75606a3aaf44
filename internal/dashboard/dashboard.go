// Package dashboard turns one snapshot of a SwiftDeploy stack into what `status` shows:
// the terminal dashboard (Text) and the JSON document for scripts (JSON).
//
// It only renders: collecting the snapshot (scraping, Docker, policy calls) and the
// refresh loop belong to the caller, so the output depends on the snapshot alone and
// can be golden-tested. A stack that is down is a snapshot like any other.
package dashboard

import (
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
	"github.com/swiftdeploy/swiftdeploy/internal/policy"
)

// Container is one container of the stack as Docker reports it.
type Container struct {
	Name    string
	Service string
	State   string // running, exited, restarting, ...
	Health  string // healthy, unhealthy, starting, or "" without a healthcheck
	// StartedAt is when the container last started; zero when unknown.
	StartedAt time.Time
	// Node is the swarm node it runs on ("" on compose).
	Node string
}

// Domain is one policy domain's answer, or why it could not be asked.
type Domain struct {
	Name     string
	Decision *policy.Decision
	// Err says why the domain could not be asked ("stack down: no metrics"); it wins
	// over Decision, which a failed evaluation still fills with a fail-closed denial.
	Err string
}

// Snapshot is everything one refresh of the dashboard shows.
type Snapshot struct {
	At      time.Time
	Project string
	// Up is whether nginx answered /healthz; Problem says why not ("" when up).
	Up      bool
	Problem string
	// Change is a change to the stack under way or left half-done by a killed
	// command ("" when none).
	Change string

	Mode          string
	Version       string
	UptimeSeconds float64
	Chaos         string // "none", "slow" or "error"

	// Window is the traffic between the last two scrapes, nil before a second scrape.
	Window            *metrics.Window
	RequestsPerSecond float64 // Window.Requests / Window.Seconds, 0 without a window

	Containers []Container
	Domains    []Domain

	// Release is a release in progress, nil when none.
	Release *Release
	// Edge is the host's edge serving this stack by name, nil for a stack
	// without an edge section.
	Edge *Edge
}

// Edge is what status shows of the host's edge for this stack.
type Edge struct {
	Running             bool
	HTTPPort, HTTPSPort int
	TLS                 string // acme, files or off
	Routed              bool   // the edge routes the stack's host names here
	// Renewer says whether the edge's renewer runs, and RenewEvery how
	// often it looks at the certificates.
	Renewer    bool
	RenewEvery time.Duration
	Hosts      []EdgeHost
	Problem    string // why the edge's state is not known ("" when it is)
}

// EdgeHost is one host name and the certificate the edge serves for it.
type EdgeHost struct {
	Name string
	// Issuer, Serial and NotAfter describe its certificate; Issuer is ""
	// when it has none.
	Issuer   string
	Serial   string
	NotAfter time.Time
	// RenewAfter is when it is due for renewal (a third of its life left).
	RenewAfter time.Time
	// Failure is why the last order for this name failed ("" when it did
	// not), at FailedAt; the renewer asks again from RetryAt.
	Failure           string
	FailedAt, RetryAt time.Time
}

// A domain's status as both outputs show it.
const (
	StatusPass    = "PASS"
	StatusFail    = "FAIL"
	StatusUnknown = "UNKNOWN"
)

// status is PASS, FAIL or UNKNOWN. A decision with violations fails even if it allows
// (a break-glass override lets an action through, but the rule is still broken).
func (d Domain) status() string {
	switch {
	case d.Err != "" || d.Decision == nil:
		return StatusUnknown
	case !d.Decision.Allow || len(d.Decision.Violations) > 0:
		return StatusFail
	default:
		return StatusPass
	}
}

// problem is why the domain has no status, for an UNKNOWN one.
func (d Domain) problem() string {
	if d.Err == "" && d.Decision == nil {
		return "no decision"
	}
	return d.Err
}

// window is the snapshot's window when its numbers mean something now: a window from
// before the stack went down is not shown as if it were current.
func (s Snapshot) window() *metrics.Window {
	if !s.Up {
		return nil
	}
	return s.Window
}
