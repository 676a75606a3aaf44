package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/policy"
)

// document is the JSON form of a Snapshot. Every key is always present, so that scripts
// need no existence checks; a value that is not known in this refresh (the stack is down,
// no window yet, no P99 in an empty window) is null rather than a misleading zero.
type document struct {
	At                string               `json:"at"`
	Project           string               `json:"project"`
	Up                bool                 `json:"up"`
	Problem           string               `json:"problem"`
	Change            *string              `json:"change"`
	Mode              *string              `json:"mode"`
	Version           *string              `json:"version"`
	Chaos             *string              `json:"chaos"`
	UptimeSeconds     *float64             `json:"uptime_seconds"`
	RequestsPerSecond *float64             `json:"req_per_sec"`
	ErrorRatePercent  *float64             `json:"error_rate_percent"`
	P99Ms             *float64             `json:"p99_latency_ms"`
	WindowSeconds     *float64             `json:"window_seconds"`
	NoTraffic         *bool                `json:"no_traffic"`
	CounterReset      *bool                `json:"counter_reset"`
	Containers        []containerDoc       `json:"containers"`
	Policies          map[string]policyDoc `json:"policies"`
	Release           *releaseDoc          `json:"release"`
	Edge              *edgeDoc             `json:"edge,omitempty"`
}

type edgeDoc struct {
	Running   bool   `json:"running"`
	Routed    bool   `json:"routed"`
	HTTPPort  int    `json:"http_port"`
	HTTPSPort int    `json:"https_port"`
	TLS       string `json:"tls"`
	Problem   string `json:"problem,omitempty"`
	Renewer   bool   `json:"renewer"`
	// RenewEverySeconds is how often the renewer looks.
	RenewEverySeconds float64       `json:"renew_every_seconds"`
	Hosts             []edgeHostDoc `json:"hosts"`
}

type edgeHostDoc struct {
	Name       string  `json:"name"`
	Issuer     *string `json:"issuer"`
	Serial     *string `json:"serial"`
	NotAfter   *string `json:"not_after"`
	RenewAfter *string `json:"renew_after"`
	// The last order's failure, when it failed.
	Failure  *string `json:"failure,omitempty"`
	FailedAt *string `json:"failed_at,omitempty"`
	RetryAt  *string `json:"retry_at,omitempty"`
}

func edgeDocOf(e *Edge) *edgeDoc {
	if e == nil {
		return nil
	}
	d := &edgeDoc{Running: e.Running, Routed: e.Routed, HTTPPort: e.HTTPPort, HTTPSPort: e.HTTPSPort, TLS: e.TLS, Problem: e.Problem,
		Renewer: e.Renewer, RenewEverySeconds: e.RenewEvery.Seconds(), Hosts: []edgeHostDoc{}}
	for _, h := range e.Hosts {
		hd := edgeHostDoc{Name: h.Name}
		if h.Issuer != "" {
			na, ra := h.NotAfter.UTC().Format(time.RFC3339), h.RenewAfter.UTC().Format(time.RFC3339)
			hd.Issuer, hd.Serial, hd.NotAfter, hd.RenewAfter = optString(h.Issuer), optString(h.Serial), &na, &ra
		}
		if h.Failure != "" {
			fa, ra := h.FailedAt.UTC().Format(time.RFC3339), h.RetryAt.UTC().Format(time.RFC3339)
			hd.Failure, hd.FailedAt, hd.RetryAt = optString(h.Failure), &fa, &ra
		}
		d.Hosts = append(d.Hosts, hd)
	}
	return d
}

type containerDoc struct {
	Name      string  `json:"name"`
	Service   string  `json:"service"`
	State     string  `json:"state"`
	Health    string  `json:"health"`
	StartedAt *string `json:"started_at"`
	Node      string  `json:"node,omitempty"`
}

type policyDoc struct {
	Status         string             `json:"status"`
	Violations     []policy.Violation `json:"violations"`
	Notes          []string           `json:"notes"`
	Error          string             `json:"error,omitempty"`
	Overridden     bool               `json:"overridden,omitempty"`
	OverrideReason string             `json:"override_reason,omitempty"`
}

// JSON renders the snapshot as one JSON object on one line, newline-terminated, so that
// a stream of refreshes is JSON Lines. Keys are snake_case and stable; policies are keyed
// by domain name, and two domains with the same name are an error.
func JSON(s Snapshot) ([]byte, error) {
	doc := document{
		At:         s.At.UTC().Format(time.RFC3339),
		Project:    s.Project,
		Up:         s.Up,
		Problem:    s.Problem,
		Change:     optString(s.Change),
		Mode:       optString(s.Mode),
		Version:    optString(s.Version),
		Containers: containerDocs(s.Containers),
		Release:    releaseDocOf(s.Release),
		Edge:       edgeDocOf(s.Edge),
	}
	if s.Up {
		doc.Chaos = optString(s.Chaos)
		doc.UptimeSeconds = optNumber(s.UptimeSeconds)
	}
	if w := s.window(); w != nil {
		doc.RequestsPerSecond = optNumber(s.RequestsPerSecond)
		doc.WindowSeconds = optNumber(w.Seconds)
		doc.NoTraffic, doc.CounterReset = &w.NoTraffic, &w.Reset
		if !w.NoTraffic {
			doc.ErrorRatePercent, doc.P99Ms = optNumber(w.ErrorRatePercent), optNumber(w.P99Ms)
		}
	}
	policies, err := policyDocs(s.Domains)
	if err != nil {
		return nil, fmt.Errorf("dashboard json: %w", err)
	}
	doc.Policies = policies
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("dashboard json: %w", err)
	}
	return append(out, '\n'), nil
}

func containerDocs(cs []Container) []containerDoc {
	out := make([]containerDoc, 0, len(cs))
	for _, c := range cs {
		doc := containerDoc{Name: c.Name, Service: c.Service, State: c.State, Health: c.Health, Node: c.Node}
		if !c.StartedAt.IsZero() {
			doc.StartedAt = optString(c.StartedAt.UTC().Format(time.RFC3339))
		}
		out = append(out, doc)
	}
	return out
}

func policyDocs(ds []Domain) (map[string]policyDoc, error) {
	out := make(map[string]policyDoc, len(ds))
	var errs []error
	for _, d := range ds {
		if _, dup := out[d.Name]; dup {
			errs = append(errs, fmt.Errorf("policy domain %q appears twice", d.Name))
			continue
		}
		out[d.Name] = policyDocFor(d)
	}
	return out, errors.Join(errs...)
}

func policyDocFor(d Domain) policyDoc {
	doc := policyDoc{Status: d.status(), Violations: []policy.Violation{}, Notes: []string{}}
	if doc.Status == StatusUnknown {
		doc.Error = d.problem()
		return doc
	}
	doc.Violations = append(doc.Violations, d.Decision.Violations...)
	doc.Notes = append(doc.Notes, d.Decision.Notes...)
	doc.Overridden, doc.OverrideReason = d.Decision.Overridden, d.Decision.OverrideReason
	return doc
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optNumber is nil for NaN and infinities, which JSON cannot carry (a rate over a
// zero-second window, say).
func optNumber(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
