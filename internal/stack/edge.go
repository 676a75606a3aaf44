package stack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/dashboard"
	"github.com/swiftdeploy/swiftdeploy/internal/edge"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/host"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// lookupHost resolves a host name as the CA will see it, as far as this
// host can tell: through edge.DNSEnv's server when set.
func lookupHost(ctx context.Context, host string) ([]string, error) {
	return edge.Lookup(os.Getenv(edge.DNSEnv))(ctx, host)
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
	if err := e.PrepareSockets(s.Project); err != nil {
		return err
	}
	if err := s.edgeCertificates(ctx, e, m, false, false); err != nil {
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
// its certificate is due (edge.Schedule: a third of its life or 30 days
// left) or came from another
// directory, or force says so. A name whose order fails keeps its old
// certificate, if it has one, and the failure is recorded; a name left with
// none fails the command.
//
// renewing is renew's run: a failed order fails it even when the old
// certificate still serves, so that a scheduled renew says so.
func (s *Stack) edgeCertificates(ctx context.Context, e *edge.Edge, m *manifest.Manifest, force, renewing bool) error {
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
	acme := *edge.ClaimOf(m, s.Project, s.Root).ACME
	wanted, old, err := e.Wanted(acme, m.Edge.Hosts, time.Now(), force)
	if err != nil || len(wanted) == 0 {
		return err
	}
	start := time.Now()
	orders := e.Certify(ctx, edge.Request{ACME: acme, Hosts: wanted, HTTPPort: m.Edge.HTTPPort, Old: old, Lookup: lookupHost, Now: start},
		func(format string, args ...any) { s.Out.Step(format, args...) })
	var missing []string
	var errs []error
	for _, o := range orders {
		s.record(history.EventCertificate, o.Event(force, ""))
		if o.Err != nil {
			missing = append(missing, o.Host)
			if !slices.ContainsFunc(errs, func(e error) bool { return e.Error() == o.Err.Error() }) {
				errs = append(errs, o.Err)
			}
			continue
		}
		c := o.New
		s.Out.OK("the edge serves %s with a certificate from %s (serial %s, expires %s), %.1fs", c.Host, c.Issuer, shortSerial(c.Serial), c.NotAfter.Format("2006-01-02"), time.Since(start).Seconds())
	}
	if len(missing) == 0 {
		return nil
	}
	return s.certFailure(missing, old, errors.Join(errs...), renewing)
}

// certFailure is the command's error for names whose order failed: a name
// that still has a valid certificate only warns (unless strict), one left
// with none fails.
func (s *Stack) certFailure(hosts []string, old map[string]edge.Cert, err error, strict bool) error {
	var bare, kept []string
	for _, h := range hosts {
		if c, ok := old[h]; ok && time.Now().Before(c.NotAfter) {
			s.Out.Warn("%s: no new certificate; the edge keeps serving the one that expires %s", h, c.NotAfter.Format(time.RFC3339))
			kept = append(kept, h)
			continue
		}
		bare = append(bare, h)
	}
	switch {
	case len(bare) > 0:
		return fmt.Errorf("no certificate for %s: %w", strings.Join(bare, ", "), err)
	case strict && len(kept) > 0:
		return fmt.Errorf("no new certificate for %s (the old one still serves): %w", strings.Join(kept, ", "), err)
	}
	return nil
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
	again := false // the same routes as the last deploy: nothing to say
	for _, c := range prev {
		again = again || c.Project == s.Project && slices.Equal(c.Hosts, claim.Hosts) && c.TLS == claim.TLS
	}
	if err := e.Register(claim); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	// The renewer records its orders in this stack's history: it is given
	// the stack's folder. The stack serves either way.
	s.refreshRenewer(ctx, e)
	if err := s.edgeRoutes(ctx, m); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	if again {
		return nil
	}
	var urls []string
	for _, h := range m.Edge.Hosts {
		_, url := edgeURL(m, h)
		urls = append(urls, url+"/")
	}
	s.Out.OK("the host's edge serves %s", strings.Join(urls, " "))
	s.record(history.EventEdge, history.Edge{Action: "joined", Hosts: claim.Hosts, HTTPPort: claim.HTTPPort, HTTPSPort: claim.HTTPSPort, TLS: claim.TLS, EdgeStarted: len(prev) == 0, Result: "ok"})
	return nil
}

// edgeLeave removes this stack's host names from the host's edge: it
// answers 404 for them within a second. A stack that never joined changes
// nothing.
func (s *Stack) edgeLeave(ctx context.Context) error {
	e, release, err := s.existingEdge(ctx)
	if e == nil || err != nil {
		return err
	}
	defer release()
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
	if left > 0 {
		s.refreshRenewer(ctx, e)
	}
	s.Out.OK("the host's edge no longer serves %s", strings.Join(mine.Hosts, ", "))
	s.record(history.EventEdge, history.Edge{Action: "left", Hosts: mine.Hosts, EdgeRemoved: left == 0, Result: "ok"})
	return nil
}

// refreshRenewer gives the edge's renewer the folders of the stacks on the
// edge after this one joined or left. A renewer that cannot be recreated
// (its image gone, say) is warned about, not fatal: the stack's routes are
// right already, and status shows the renewer not running.
func (s *Stack) refreshRenewer(ctx context.Context, e *edge.Edge) {
	if err := e.Refresh(ctx); err != nil {
		s.Out.Warn("the edge's renewer: %v; certificates are not renewed on their own until it runs (run setup, then deploy)", err)
	}
}

// existingEdge returns the host's edge, locked for this stack's teardown
// (release unlocks it), or nil when this host never had one.
func (s *Stack) existingEdge(ctx context.Context) (e *edge.Edge, release func(), err error) {
	if e, err = edge.Open(); err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(e.Dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	l, err := e.Lock(ctx, "teardown "+s.Project)
	if err != nil {
		return nil, nil, err
	}
	return e, func() { l.Release() }, nil
}

// edgeRemoveIfUnused removes the host's edge when no stack is left on it,
// once the last one's nginx is gone.
func (s *Stack) edgeRemoveIfUnused(ctx context.Context) error {
	e, release, err := s.existingEdge(ctx)
	if e == nil || err != nil {
		return err
	}
	defer release()
	// This stack's nginx is gone, and its socket with it.
	if err := e.Forget(s.Project); err != nil {
		return err
	}
	if claims, err := e.Claims(); err != nil || len(claims) > 0 || !e.Running(ctx) {
		return err
	}
	if err := e.Down(ctx); err != nil {
		return err
	}
	s.Out.OK("removed the host's edge: no stack is left on it")
	return nil
}

func shortSerial(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// Renew renews the certificates the host's edge serves for this stack's
// host names: those that are due, or all of them with force. The edge
// serves a renewed certificate from its next handshakes, without a reload;
// a failed order keeps the old one served, and says so.
func (s *Stack) Renew(ctx context.Context, force bool) error {
	command := "renew"
	if force {
		command += " -force"
	}
	return s.exclusive(ctx, command, func() error {
		m, err := s.loadManifest()
		if err != nil {
			return err
		}
		if m.Edge == nil || m.Edge.TLS.Mode != manifest.TLSACME {
			return fmt.Errorf("%w: renew: %s has no edge section with tls mode acme: no certificate of this stack is SwiftDeploy's to renew", fail.ErrInvalid, ManifestFile)
		}
		e, err := edge.Open()
		if err != nil {
			return err
		}
		if err := engine(ctx); err != nil {
			return err
		}
		if !e.Running(ctx) {
			return fmt.Errorf("renew: the host's edge is not running: deploy the stack first")
		}
		l, err := e.Lock(ctx, command+" "+s.Project)
		if err != nil {
			return err
		}
		defer l.Release()
		if err := s.edgeCertificates(ctx, e, m, force, true); err != nil {
			return fmt.Errorf("renew: %w", err)
		}
		for _, h := range m.Edge.Hosts {
			if c, ok, _ := e.Certificate(h); ok {
				s.Out.OK("%s: certificate from %s, serial %s, expires %s (renewal due %s)", h, c.Issuer, shortSerial(c.Serial),
					c.NotAfter.Format("2006-01-02"), e.Schedule().RenewAt(c).Format("2006-01-02"))
			}
		}
		return nil
	})
}

// edgeStatus is what status shows of the host's edge for m (nil without an
// edge section).
func (s *Stack) edgeStatus(ctx context.Context, m *manifest.Manifest) *dashboard.Edge {
	if m == nil || m.Edge == nil {
		return nil
	}
	v := &dashboard.Edge{HTTPPort: m.Edge.HTTPPort, HTTPSPort: m.Edge.HTTPSPort, TLS: m.Edge.TLS.Mode}
	e, err := edge.Open()
	if err != nil {
		v.Problem = err.Error()
		return v
	}
	v.Running = e.Running(ctx)
	sched := e.Schedule()
	v.Renewer, v.RenewEvery = e.RenewerRunning(ctx), sched.Every
	if routed, err := e.Routed(); err == nil {
		for _, h := range m.Edge.Hosts {
			v.Routed = v.Routed || routed[h] == s.Project
		}
	}
	for _, h := range m.Edge.Hosts {
		eh := dashboard.EdgeHost{Name: h}
		if c, ok, err := e.Certificate(h); err == nil && ok {
			eh.Issuer, eh.Serial, eh.NotAfter = c.Issuer, c.Serial, c.NotAfter
			eh.RenewAfter = sched.RenewAt(c)
		}
		if f, failed := e.LastFailure(h); failed {
			eh.Failure, eh.FailedAt, eh.RetryAt = f.Error, f.At, f.Retry
		}
		v.Hosts = append(v.Hosts, eh)
	}
	return v
}

// edgeChecks are validate's checks of m's edge section: the claim on its
// host names, the edge's ports, and its certificates' source, before any CA
// is asked. add records one check.
func (s *Stack) edgeChecks(ctx context.Context, m *manifest.Manifest, engineErr error, add func(name, note string, err error)) {
	if m.Edge == nil {
		return
	}
	e, err := edge.Open()
	if err != nil {
		add("edge: the host's edge folder", "", err)
		return
	}
	hosts := strings.Join(m.Edge.Hosts, ", ")
	add("edge: "+hosts+" belong to no other stack", "", e.Check(edge.ClaimOf(m, s.Project, s.Root)))
	running := engineErr == nil && e.Running(ctx)
	for _, p := range []int{m.Edge.HTTPPort, m.Edge.HTTPSPort} {
		name := fmt.Sprintf("edge: port %d is free for the host's edge", p)
		if running {
			add(name, "the edge runs on it", nil)
			continue
		}
		note, err := host.PortFree(ctx, p, e.Project, engineErr == nil)
		add(name, note, err)
	}
	switch m.Edge.TLS.Mode {
	case manifest.TLSFiles:
		add("edge: "+m.Edge.TLS.Cert+" and "+m.Edge.TLS.Key+" are a valid certificate for "+hosts, "", edge.CheckFiles(m.Edge.Hosts, s.path(m.Edge.TLS.Cert), s.path(m.Edge.TLS.Key)))
	case manifest.TLSACME:
		for _, h := range m.Edge.Hosts {
			addrs, err := lookupHost(ctx, h)
			if err != nil {
				err = fmt.Errorf("%w: %s does not resolve (%v): point its DNS A record at this host before the CA is asked (CAs limit failed validations)", fail.ErrInvalid, h, err)
			}
			note := "resolves to " + strings.Join(addrs, ", ")
			if err == nil && running {
				if err = e.SelfCheck(ctx, []string{h}, m.Edge.HTTPPort, lookupHost); err == nil {
					note += ", which leads to this host's edge"
				} else {
					err = fmt.Errorf("%w: %v", fail.ErrInvalid, err)
				}
			}
			add("edge: "+h+" leads here for the ACME CA", note, err)
		}
	}
}

// edgeRoutes waits until the host's edge sends each of m's host names to
// this stack's nginx: the health path asked through the edge, as a client
// would ask it, is answered by this stack (its nginx marks every answer).
func (s *Stack) edgeRoutes(ctx context.Context, m *manifest.Manifest) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for _, h := range m.Edge.Hosts {
		port, base := edgeURL(m, h)
		// On this host's loopback, with the name for SNI and Host: the
		// certificate is the edge's own, installed moments ago.
		tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: h, InsecureSkipVerify: true},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			}}
		client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		url := base + m.Services.HealthPath
		_, err := s.waitFor(ctx, "the host's edge to route "+h+" here", 100*time.Millisecond, func(ctx context.Context) (bool, string, error) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			resp, err := client.Do(req)
			if err != nil {
				return false, err.Error(), nil
			}
			resp.Body.Close()
			if resp.Header.Get("X-Deployed-By") != "swiftdeploy" {
				return false, "the edge answers " + resp.Status + " itself", nil
			}
			return true, "", nil
		})
		tr.CloseIdleConnections()
		if err != nil {
			return err
		}
	}
	return nil
}

// edgeURL is where clients reach host through the edge: the edge's HTTPS
// port, or its HTTP port with TLS off, and the URL (without a path), which
// names the port unless it is the scheme's own.
func edgeURL(m *manifest.Manifest, host string) (port int, url string) {
	scheme, port := "https", m.Edge.HTTPSPort
	if !m.Edge.HTTPS() {
		scheme, port = "http", m.Edge.HTTPPort
	}
	url = scheme + "://" + host
	if (scheme == "https" && port != 443) || (scheme == "http" && port != 80) {
		url += ":" + strconv.Itoa(port)
	}
	return port, url
}
