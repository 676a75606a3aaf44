package benchreport

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// PeerRow is one row of the table beside peer proxies (e2e's
// BenchmarkProxies): one figure of every target side by side, all measured on
// the same app container in one run, and how the stack compares with the
// best peer.
type PeerRow struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
	// Values holds each target's figure, by target (PeerTargets).
	Values map[string]float64 `json:"values"`
	// Best is the peer the stack is compared with: the fastest in the closed
	// loop; at an open-loop rate, the one with the fewest failed requests,
	// then the lowest p99. Versus is the comparison, in VersusUnit.
	Best       string   `json:"best_peer,omitempty"`
	Versus     *float64 `json:"versus,omitempty"`
	VersusUnit string   `json:"versus_unit,omitempty"`
	Target     string   `json:"target,omitempty"`
	// Met is nil for a row without a target.
	Met *bool `json:"met,omitempty"`
	// Source is the benchmark the row's values come from, per target below it.
	Source string `json:"source"`
}

// PeerTargets are the ways to the app BenchmarkProxies measures, as its
// sub-benchmarks name them, in the order the table shows them; the peers are
// the stack's competitors.
var PeerTargets = []string{"stack", "haproxy", "caddy", "nginx", "direct"}

var (
	peers        = []string{"haproxy", "caddy", "nginx"}
	targetTitles = map[string]string{"stack": "SwiftDeploy stack", "haproxy": "HAProxy", "caddy": "Caddy", "nginx": "host nginx, minimal", "direct": "direct to the app"}
	peerNames    = map[string]string{"haproxy": "HAProxy", "caddy": "Caddy", "nginx": "host nginx"}
)

const proxies = "BenchmarkProxies/"

// comparison says how a row sets the stack against the best peer.
type comparison int

const (
	noComparison comparison = iota
	share                   // the stack's value in percent of the best peer's
	excess                  // the stack's value minus the best peer's
)

// peerRow specifies one row: the unit it reads from each target's
// sub-benchmark of group, how it compares, and the stack's target.
type peerRow struct {
	name, group, unit, shown string
	compare                  comparison
	target                   *limit
	// atMostBest: the stack must not exceed the best peer's value.
	atMostBest bool
}

var peerRows = slices.Concat(
	[]peerRow{
		{name: "Closed loop, 20 conns", group: "closed", unit: "req/s", shown: "req/s", compare: share, target: atLeast(95, "%")},
		{name: "Closed loop: failed", group: "closed", unit: "failed", shown: "requests", target: atMost(0, "")},
	},
	openPeerRows("1,000 req/s", "1000rps"),
	openPeerRows("5,000 req/s", "5000rps"),
	[]peerRow{{name: "The highest rate the best peer keeps up with: rate asked", group: "held", unit: "rate-req/s", shown: "req/s"}},
	openPeerRows("the highest rate the best peer keeps up with", "held"),
	[]peerRow{{name: "Past saturation: rate asked", group: "overload", unit: "rate-req/s", shown: "req/s"}},
	openPeerRows("past saturation", "overload"),
)

func openPeerRows(rate, group string) []peerRow {
	at := "Open loop at " + rate
	if strings.HasPrefix(rate, "past ") {
		at = "Open loop " + rate
	}
	return []peerRow{
		{name: at + ": sent", group: group, unit: "sent-req/s", shown: "req/s", compare: share},
		{name: at + ": answered 2xx", group: group, unit: "ok", shown: "requests", compare: share},
		{name: at + ": failed", group: group, unit: "failed", shown: "requests", compare: excess, atMostBest: true},
		{name: at + ": p50", group: group, unit: "p50-ms", shown: "ms", compare: share},
		{name: at + ": p99", group: group, unit: "p99-ms", shown: "ms", compare: share, target: atMost(120, "%")},
		{name: at + ": p99.9", group: group, unit: "p99.9-ms", shown: "ms", compare: share},
	}
}

// PeerRows maps BenchmarkProxies' results to the rows beside peer proxies. A
// row is left out when the stack's figure is missing, a cell when its
// target's is; with repeated runs the first result of each is used.
func PeerRows(results []Result) []PeerRow {
	byName := map[string]Result{}
	for _, r := range results {
		if _, seen := byName[r.Name]; !seen {
			byName[r.Name] = r
		}
	}
	value := func(group, target, unit string) (float64, bool) {
		v, ok := byName[proxies+group+"/"+target].Metrics[unit]
		return v, ok
	}
	var rows []PeerRow
	for _, spec := range peerRows {
		stack, ok := value(spec.group, "stack", spec.unit)
		if !ok {
			continue
		}
		row := PeerRow{Name: spec.name, Unit: spec.shown, Values: map[string]float64{}, Source: proxies + spec.group + " " + spec.unit}
		for _, t := range PeerTargets {
			if v, ok := value(spec.group, t, spec.unit); ok {
				row.Values[t] = v
			}
		}
		if best := bestPeerOf(spec.group, value); best != "" && spec.compare != noComparison {
			row.Best = best
			b := row.Values[best]
			switch spec.compare {
			case share:
				if b > 0 {
					v := stack / b * 100
					row.Versus, row.VersusUnit = &v, "%"
				}
			case excess:
				v := stack - b
				row.Versus, row.VersusUnit = &v, spec.shown
			}
			if spec.atMostBest {
				met := stack <= b
				row.Target, row.Met = "≤ best peer's", &met
			}
		}
		if spec.target != nil {
			// A target on the comparison needs one; on the value, the value.
			v, ok := &stack, true
			if spec.compare == share {
				v, ok = row.Versus, row.Versus != nil
			}
			if ok {
				met := spec.target.met(*v)
				row.Target, row.Met = spec.target.String(), &met
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// bestPeerOf names the best peer of a group: in the closed loop the fastest;
// at an open-loop rate the one that failed fewest requests, then had the
// lowest p99.
func bestPeerOf(group string, value func(group, target, unit string) (float64, bool)) string {
	var present []string
	for _, p := range peers {
		if _, ok := value(group, p, "failed"); ok {
			present = append(present, p)
		}
	}
	if len(present) == 0 {
		return ""
	}
	get := func(p, unit string) float64 { v, _ := value(group, p, unit); return v }
	if group == "closed" {
		return slices.MaxFunc(present, func(x, y string) int { return cmp.Compare(get(x, "req/s"), get(y, "req/s")) })
	}
	return slices.MinFunc(present, func(x, y string) int {
		if c := cmp.Compare(get(x, "failed"), get(y, "failed")); c != 0 {
			return c
		}
		return cmp.Compare(get(x, "p99-ms"), get(y, "p99-ms"))
	})
}

// peerTable renders the rows beside peer proxies as a Markdown table.
func peerTable(rows []PeerRow) string {
	var b strings.Builder
	b.WriteString("| Beside peer proxies (same app container, one run) |")
	for _, t := range PeerTargets {
		b.WriteString(" " + targetTitles[t] + " |")
	}
	b.WriteString(" Stack vs best peer | Target | Met |\n| --- |")
	b.WriteString(strings.Repeat(" ---: |", len(PeerTargets)+1))
	b.WriteString(" --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s (%s) |", r.Name, r.Unit)
		for _, t := range PeerTargets {
			cell := ""
			if v, ok := r.Values[t]; ok {
				cell = formatNumber(v)
			}
			b.WriteString(" " + cell + " |")
		}
		versus := ""
		if r.Versus != nil {
			versus = formatNumber(*r.Versus) + " " + r.VersusUnit
			if r.VersusUnit != "%" && *r.Versus > 0 {
				versus = "+" + versus
			}
			versus += " (" + peerNames[r.Best] + ")"
		}
		fmt.Fprintf(&b, " %s | %s | %s |\n", versus, r.Target, metCell(r.Met))
	}
	return b.String()
}
