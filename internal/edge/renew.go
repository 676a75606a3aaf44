package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
)

// ByRenewer marks, in history, what the edge's renewer did on its own.
const ByRenewer = "renewer"

// failuresDir holds HOST.json for each host name whose last order failed.
const failuresDir = "acme/failures"

// Failure is a host name's run of failed orders, kept until one succeeds:
// status shows it, and the renewer waits until Retry before it asks again.
type Failure struct {
	Count int       `json:"count"` // failed orders in a row
	At    time.Time `json:"at"`    // the last one
	Error string    `json:"error"`
	Retry time.Time `json:"retry"` // the renewer's next order, at the earliest
}

// LastFailure is host's run of failed orders; ok is false when its last
// order succeeded (or it never had one).
func (e *Edge) LastFailure(host string) (f Failure, ok bool) {
	data, err := os.ReadFile(e.path(failuresDir, host+".json"))
	if err != nil || json.Unmarshal(data, &f) != nil {
		return Failure{}, false
	}
	return f, true
}

func (e *Edge) noteFailure(host string, at time.Time, err error, s Schedule) error {
	f, _ := e.LastFailure(host)
	f.Count++
	f.At, f.Error = at.UTC(), err.Error()
	f.Retry = f.At.Add(s.RetryAfter(f.Count, rand.Float64()))
	data, jerr := json.MarshalIndent(f, "", "  ")
	if jerr != nil {
		return jerr
	}
	return atomicfile.Write(e.path(failuresDir, host+".json"), append(data, '\n'), 0o644)
}

func (e *Edge) clearFailure(host string) {
	os.Remove(e.path(failuresDir, host+".json"))
}

// Wanted lists which of hosts need an order from a at now (all of them with
// force): those with no certificate, or one from elsewhere (the operator's
// files, another directory), or one that is due; and the certificates they
// have.
func (e *Edge) Wanted(a ACME, hosts []string, now time.Time, force bool) (wanted []string, old map[string]Cert, err error) {
	s := e.Schedule()
	old = map[string]Cert{}
	for _, h := range hosts {
		c, ok, err := e.Certificate(h)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			old[h] = c
		}
		if force || !ok || c.Source != manifest.TLSACME || c.Directory != a.Directory || s.Due(c, now) {
			wanted = append(wanted, h)
		}
	}
	return wanted, old, nil
}

// Order is one host name's order: the certificate it had (nil: none), and
// the one it has now, or why it has none.
type Order struct {
	Host string
	Old  *Cert
	New  Cert // when Err is nil
	Err  error
}

// Action is issue for a name's first certificate, renew for a later one.
func (o Order) Action() string {
	if o.Old == nil {
		return "issue"
	}
	return "renew"
}

// Event is o as history records it; by is who ordered it ("": a command,
// ByRenewer: the edge's renewer).
func (o Order) Event(forced bool, by string) history.Certificate {
	ev := history.Certificate{Host: o.Host, Source: manifest.TLSACME, Action: o.Action(), Forced: forced && o.Old != nil, By: by}
	if o.Err != nil {
		ev.Result, ev.Error, ev.Kept = "failed", o.Err.Error(), "nothing"
		if o.Old != nil {
			ev.Kept = "the certificate expiring " + o.Old.NotAfter.Format(time.RFC3339)
		}
		return ev
	}
	ev.Result, ev.Issuer, ev.Serial, ev.NotAfter = "ok", o.New.Issuer, o.New.Serial, o.New.NotAfter.Format(time.RFC3339)
	return ev
}

// Request is an order of certificates for Hosts from ACME, at Now. Old is
// what they have; Lookup resolves a name as the CA will (Lookup(dns)).
type Request struct {
	ACME     ACME
	Hosts    []string
	HTTPPort int // the edge's, where the CA validates
	Old      map[string]Cert
	Lookup   func(context.Context, string) ([]string, error)
	Now      time.Time
}

// Certify gets r's hosts a certificate each: it first checks that each name
// leads to this edge, then orders them through HTTP-01, answered by the
// edge. A failed order keeps the old certificate served and is remembered
// (LastFailure) until one succeeds. say tells what it does.
func (e *Edge) Certify(ctx context.Context, r Request, say func(format string, args ...any)) []Order {
	s := e.Schedule()
	orders := make([]Order, len(r.Hosts))
	for i, h := range r.Hosts {
		orders[i].Host = h
		if c, ok := r.Old[h]; ok {
			orders[i].Old = &c
		}
	}
	fail := func(o *Order, err error) {
		o.Err = err
		if nerr := e.noteFailure(o.Host, r.Now, err, s); nerr != nil {
			say("could not note the failed order of %s: %v", o.Host, nerr)
		}
	}
	hosts := strings.Join(r.Hosts, ", ")
	say("checking that %s lead%s to this host's edge before asking %s", hosts, verbS(len(r.Hosts)), r.ACME.Directory)
	if err := e.SelfCheck(ctx, r.Hosts, r.HTTPPort, r.Lookup); err != nil {
		for i := range orders {
			fail(&orders[i], err)
		}
		return orders
	}
	say("ordering certificates for %s (HTTP-01, answered by the edge)", hosts)
	certs, err := e.Obtain(ctx, r.ACME, r.Hosts)
	got := map[string]Cert{}
	for _, c := range certs {
		got[c.Host] = c
	}
	for i := range orders {
		if c, ok := got[orders[i].Host]; ok {
			orders[i].New = c
			e.clearFailure(orders[i].Host)
			continue
		}
		fail(&orders[i], err)
	}
	return orders
}

func verbS(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

// due is one claim's host names the renewer orders now, and what they have.
type due struct {
	claim Claim
	hosts []string
	old   map[string]Cert
}

// dueNow lists, for each claim with ACME, the host names the renewer orders
// at now: a name with no certificate, or one from the CA that is due, but not
// one whose last failure says to wait. A certificate from another directory,
// or the operator's, is deploy's to replace: while a deploy changes a
// stack's directory or TLS mode its claim still says the old one, and the
// renewer must not undo what the deploy just installed.
func (e *Edge) dueNow(claims []Claim, s Schedule, now time.Time) ([]due, error) {
	var out []due
	for _, c := range claims {
		if c.TLS != manifest.TLSACME || c.ACME == nil {
			continue
		}
		d := due{claim: c, old: map[string]Cert{}}
		for _, h := range c.Hosts {
			cert, ok, err := e.Certificate(h)
			if err != nil {
				return nil, err
			}
			if ok {
				d.old[h] = cert
			}
			if f, failed := e.LastFailure(h); failed && now.Before(f.Retry) {
				continue
			}
			if !ok || cert.Source == manifest.TLSACME && s.Due(cert, now) {
				d.hosts = append(d.hosts, h)
			}
		}
		if len(d.hosts) > 0 {
			out = append(out, d)
		}
	}
	return out, nil
}

// RenewDue is one look of the edge's renewer at now: it orders what is due
// (dueNow), under the edge's lock, and records each order in the history of
// the stack that claimed the name. A look with nothing due reads files only.
func (e *Edge) RenewDue(ctx context.Context, now time.Time, say func(format string, args ...any)) error {
	st := e.settings()
	claims, err := e.Claims()
	if err != nil {
		return err
	}
	if plan, err := e.dueNow(claims, st.Renew, now); err != nil || len(plan) == 0 {
		return err
	}
	l, err := e.Lock(ctx, "the edge's renewer")
	if err != nil {
		return err
	}
	defer l.Release()
	// Again, under the lock: a command may have renewed a name, or a stack
	// left, meanwhile.
	if claims, err = e.Claims(); err != nil {
		return err
	}
	plan, err := e.dueNow(claims, st.Renew, now)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range plan {
		r := Request{ACME: *d.claim.ACME, Hosts: d.hosts, HTTPPort: d.claim.HTTPPort, Old: d.old, Lookup: Lookup(st.DNS), Now: now}
		for _, o := range e.Certify(ctx, r, say) {
			if o.Err != nil {
				say("%s: no new certificate (%v)", o.Host, o.Err)
			} else {
				say("%s: %s from %s, serial %s, expires %s", o.Host, o.Action(), o.New.Issuer, o.New.Serial, o.New.NotAfter.Format(time.RFC3339))
			}
			path := filepath.Join(d.claim.Folder, history.File)
			if err := history.Append(path, time.Now(), history.EventCertificate, o.Event(false, ByRenewer)); err != nil {
				errs = append(errs, fmt.Errorf("record %s's %s in %s: %w", o.Host, o.Action(), path, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeFailures forgets the failed orders of host names no stack claims.
func (e *Edge) removeFailures(claimed map[string]bool) {
	entries, err := os.ReadDir(e.path(failuresDir))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	for _, f := range entries {
		if host := strings.TrimSuffix(f.Name(), ".json"); !claimed[host] {
			os.Remove(e.path(failuresDir, f.Name()))
		}
	}
}
