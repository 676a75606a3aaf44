package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/edge"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// EdgeDNSEnv names a DNS server (host:port) SwiftDeploy asks for the edge's
// host names before it orders certificates, instead of the system's
// resolver: a test's own DNS, or a split-horizon one.
const EdgeDNSEnv = "SWIFTDEPLOY_EDGE_DNS"

// lookupHost resolves a host name as the CA will see it, as far as this
// host can tell.
func lookupHost(ctx context.Context, host string) ([]string, error) {
	server := os.Getenv(EdgeDNSEnv)
	if server == "" {
		return net.DefaultResolver.LookupHost(ctx, host)
	}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	return r.LookupHost(ctx, host)
}

// edgeReady makes the host's edge ready for m before the stack starts: it
// checks the stack's claim on its host names, starts the edge when it is
// the first stack to need it, and installs or obtains the certificates its
// host names lack or that are due. Nothing is routed to the stack yet.
func (s *Stack) edgeReady(ctx context.Context, m *manifest.Manifest) error {
	if m.Edge == nil {
		return nil
	}
	e, err := edge.Open()
	if err != nil {
		return err
	}
	l, err := e.Lock(ctx, "deploy "+s.Project)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	defer l.Release()
	claim := edge.ClaimOf(m, s.Project, s.Root)
	if err := e.Check(claim); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	claims, err := e.Claims()
	if err != nil {
		return err
	}
	started := false
	if !e.Running(ctx) {
		s.Out.Step("starting the host's edge on ports %d (HTTP) and %d (HTTPS)", m.Edge.HTTPPort, m.Edge.HTTPSPort)
		started = true
	}
	if err := e.Up(ctx, m.Nginx.Image, m.Edge.HTTPPort, m.Edge.HTTPSPort); err != nil {
		if len(claims) == 0 {
			e.Down(context.WithoutCancel(ctx))
		}
		return fmt.Errorf("deploy: %w", err)
	}
	if started {
		s.Out.OK("the host's edge runs (%s, %s)", e.Project, e.Dir)
	}
	if err := s.edgeCertificates(ctx, e, m, false); err != nil {
		if len(claims) == 0 {
			// The first stack on this host could not get its certificates:
			// no edge is left behind for nothing.
			e.Down(context.WithoutCancel(ctx))
		}
		return fmt.Errorf("deploy: %w", err)
	}
	return nil
}

// edgeCertificates gives each of m's host names the certificate its TLS mode
// says: the operator's files, or one from the ACME CA when the name has none,
// its certificate is due (a third of its life left) or came from another
// directory, or force says so. A name whose order fails keeps its old
// certificate, if it has one, and the failure is recorded; a name left with
// none fails the command.
func (s *Stack) edgeCertificates(ctx context.Context, e *edge.Edge, m *manifest.Manifest, force bool) error {
	switch m.Edge.TLS.Mode {
	case manifest.TLSOff:
		return nil
	case manifest.TLSFiles:
		have := map[string]edge.Cert{}
		for _, h := range m.Edge.Hosts {
			if c, ok, _ := e.Certificate(h); ok {
				have[h] = c
			}
		}
		certs, err := e.InstallFiles(m.Edge.Hosts, s.path(m.Edge.TLS.Cert), s.path(m.Edge.TLS.Key))
		if err != nil {
			for _, h := range m.Edge.Hosts {
				s.record(history.EventCertificate, history.Certificate{Host: h, Source: "files", Action: "install", Result: "failed", Error: err.Error()})
			}
			return err
		}
		for _, c := range certs {
			if old, ok := have[c.Host]; ok && old.Serial == c.Serial && old.Source == c.Source {
				continue
			}
			s.Out.OK("the edge serves %s with your certificate (%s, expires %s)", c.Host, c.Issuer, c.NotAfter.Format("2006-01-02"))
			s.record(history.EventCertificate, history.Certificate{Host: c.Host, Source: "files", Action: "install", Result: "ok",
				Issuer: c.Issuer, Serial: c.Serial, NotAfter: c.NotAfter.Format(time.RFC3339)})
		}
		return nil
	}
	claim := edge.ClaimOf(m, s.Project, s.Root)
	acme := *claim.ACME
	now := time.Now()
	var wanted []string
	old := map[string]edge.Cert{}
	for _, h := range m.Edge.Hosts {
		c, ok, err := e.Certificate(h)
		if err != nil {
			return err
		}
		if ok {
			old[h] = c
		}
		if force || !ok || c.Source != "acme" || c.Directory != acme.Directory || c.Due(now) {
			wanted = append(wanted, h)
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	s.Out.Step("checking that %s lead%s to this host's edge before asking %s", strings.Join(wanted, ", "), plural1(len(wanted)), acme.Directory)
	if err := e.SelfCheck(ctx, wanted, m.Edge.HTTPPort, lookupHost); err != nil {
		for _, h := range wanted {
			s.recordCertFailure(h, old, force, err)
		}
		return s.certFailure(wanted, old, err)
	}
	s.Out.Step("ordering certificates for %s (HTTP-01, answered by the edge)", strings.Join(wanted, ", "))
	start := time.Now()
	certs, err := e.Obtain(ctx, acme, wanted)
	got := map[string]bool{}
	for _, c := range certs {
		got[c.Host] = true
		action := "issue"
		if _, ok := old[c.Host]; ok {
			action = "renew"
		}
		s.Out.OK("the edge serves %s with a certificate from %s (serial %s, expires %s), %.1fs", c.Host, c.Issuer, shortSerial(c.Serial), c.NotAfter.Format("2006-01-02"), time.Since(start).Seconds())
		s.record(history.EventCertificate, history.Certificate{Host: c.Host, Source: "acme", Action: action, Forced: force && action == "renew", Result: "ok",
			Issuer: c.Issuer, Serial: c.Serial, NotAfter: c.NotAfter.Format(time.RFC3339)})
	}
	if err == nil {
		return nil
	}
	var missing []string
	for _, h := range wanted {
		if !got[h] {
			s.recordCertFailure(h, old, force, err)
			missing = append(missing, h)
		}
	}
	return s.certFailure(missing, old, err)
}

func (s *Stack) recordCertFailure(host string, old map[string]edge.Cert, force bool, err error) {
	ev := history.Certificate{Host: host, Source: "acme", Action: "issue", Forced: force, Result: "failed", Kept: "nothing", Error: err.Error()}
	if c, ok := old[host]; ok {
		ev.Action, ev.Kept = "renew", "the certificate expiring "+c.NotAfter.Format(time.RFC3339)
	}
	s.record(history.EventCertificate, ev)
}

// certFailure is the command's error for names whose order failed: a name
// that still has a valid certificate only warns, one left with none fails.
func (s *Stack) certFailure(hosts []string, old map[string]edge.Cert, err error) error {
	var bare []string
	for _, h := range hosts {
		if c, ok := old[h]; ok && time.Now().Before(c.NotAfter) {
			s.Out.Warn("%s: no new certificate (%v); the edge keeps serving the one that expires %s", h, err, c.NotAfter.Format(time.RFC3339))
			continue
		}
		bare = append(bare, h)
	}
	if len(bare) == 0 {
		return nil
	}
	return fmt.Errorf("no certificate for %s: %w", strings.Join(bare, ", "), err)
}

// edgeJoin routes m's host names to this stack's nginx, once the stack
// serves: the edge sends their requests here within a second, without a
// reload. A manifest without an edge section leaves the edge instead.
func (s *Stack) edgeJoin(ctx context.Context, m *manifest.Manifest) error {
	if m.Edge == nil {
		return s.edgeLeave(ctx)
	}
	e, err := edge.Open()
	if err != nil {
		return err
	}
	l, err := e.Lock(ctx, "deploy "+s.Project)
	if err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	defer l.Release()
	claim := edge.ClaimOf(m, s.Project, s.Root)
	prev, _ := e.Claims()
	for _, c := range prev {
		if c.Project == s.Project && strings.Join(c.Hosts, ",") == strings.Join(claim.Hosts, ",") && c.TLS == claim.TLS {
			return e.Register(claim) // the same routes: nothing to say
		}
	}
	if err := e.Register(claim); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	scheme := "https"
	port := m.Edge.HTTPSPort
	if !m.Edge.HTTPS() {
		scheme, port = "http", m.Edge.HTTPPort
	}
	var urls []string
	for _, h := range m.Edge.Hosts {
		u := scheme + "://" + h
		if (scheme == "https" && port != 443) || (scheme == "http" && port != 80) {
			u += fmt.Sprintf(":%d", port)
		}
		urls = append(urls, u+"/")
	}
	s.Out.OK("the host's edge serves %s", strings.Join(urls, " "))
	s.record(history.EventEdge, history.Edge{Action: "joined", Hosts: claim.Hosts, HTTPPort: claim.HTTPPort, HTTPSPort: claim.HTTPSPort, TLS: claim.TLS, EdgeStarted: len(prev) == 0, Result: "ok"})
	return nil
}

// edgeLeave removes this stack's host names from the host's edge: it
// answers 404 for them within a second. A stack that never joined changes
// nothing.
func (s *Stack) edgeLeave(ctx context.Context) error {
	e, err := edge.Open()
	if err != nil {
		return err
	}
	if _, err := os.Stat(e.Dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	l, err := e.Lock(ctx, "teardown "+s.Project)
	if err != nil {
		return err
	}
	defer l.Release()
	claims, err := e.Claims()
	if err != nil {
		return err
	}
	var mine *edge.Claim
	for i := range claims {
		if claims[i].Project == s.Project {
			mine = &claims[i]
		}
	}
	if mine == nil {
		return nil
	}
	left, err := e.Unregister(s.Project)
	if err != nil {
		return err
	}
	s.Out.OK("the host's edge no longer serves %s", strings.Join(mine.Hosts, ", "))
	s.record(history.EventEdge, history.Edge{Action: "left", Hosts: mine.Hosts, EdgeRemoved: left == 0, Result: "ok"})
	return nil
}

// edgeRemoveIfUnused removes the host's edge when no stack is left on it,
// once the last one's nginx has left the edge's network.
func (s *Stack) edgeRemoveIfUnused(ctx context.Context) error {
	e, err := edge.Open()
	if err != nil {
		return err
	}
	if _, err := os.Stat(e.Dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	l, err := e.Lock(ctx, "teardown "+s.Project)
	if err != nil {
		return err
	}
	defer l.Release()
	if claims, err := e.Claims(); err != nil || len(claims) > 0 || !e.Running(ctx) {
		return err
	}
	if err := e.Down(ctx); err != nil {
		return err
	}
	s.Out.OK("removed the host's edge: no stack is left on it")
	return nil
}

func plural1(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

func shortSerial(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}
