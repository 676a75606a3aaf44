package benchreport

import (
	"strings"
	"testing"
)

func rowNamed(t *testing.T, rows []PeerRow, name string) PeerRow {
	t.Helper()
	for _, r := range rows {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no row %q in %d rows", name, len(rows))
	return PeerRow{}
}

func TestPeerRowsSetTheStackBesideTheBestPeer(t *testing.T) {
	rows := PeerRows(parseFixture(t))
	if len(rows) != len(peerRows) {
		t.Errorf("got %d rows from a run with every target, want all %d", len(rows), len(peerRows))
	}
	closed := rowNamed(t, rows, "Closed loop, 20 conns")
	if closed.Best != "haproxy" || !near(*closed.Versus, 22010.0/29120*100) || closed.Target != "≥ 95 %" || !sameMet(closed.Met, ptr(false)) {
		t.Errorf("closed loop = %+v, want the stack at 75.6 %% of HAProxy, the fastest, missing ≥ 95 %%", closed)
	}
	if closed.Values["direct"] != 53120 || closed.Source != "BenchmarkProxies/closed req/s" {
		t.Errorf("closed loop values = %v from %q", closed.Values, closed.Source)
	}
	// At 5,000 req/s HAProxy and host nginx failed none; HAProxy's p99 is the lower.
	p99 := rowNamed(t, rows, "Open loop at 5,000 req/s: p99")
	if p99.Best != "haproxy" || !near(*p99.Versus, 5.5/2.8*100) || p99.Target != "≤ 120 %" || !sameMet(p99.Met, ptr(false)) {
		t.Errorf("p99 at 5,000 = %+v", p99)
	}
	// At the highest rate the best peer keeps up with, the stack's p99 is
	// within 120 % of HAProxy's; p99.9 is shown beside it, without a target.
	held := rowNamed(t, rows, "Open loop at the highest rate the best peer keeps up with: p99")
	if held.Best != "haproxy" || !near(*held.Versus, 7.3/6.1*100) || !sameMet(held.Met, ptr(true)) {
		t.Errorf("p99 at the best peer's rate = %+v", held)
	}
	if tail := rowNamed(t, rows, "Open loop at the highest rate the best peer keeps up with: p99.9"); tail.Values["stack"] != 15.2 || tail.Target != "" {
		t.Errorf("p99.9 at the best peer's rate = %+v", tail)
	}
	// Past saturation HAProxy has the same failures as host nginx (none) and a higher p99.
	failed := rowNamed(t, rows, "Open loop past saturation: failed")
	if failed.Best != "nginx" || *failed.Versus != 3900 || failed.VersusUnit != "requests" || failed.Target != "≤ best peer's" || !sameMet(failed.Met, ptr(false)) {
		t.Errorf("failed past saturation = %+v", failed)
	}
	asked := rowNamed(t, rows, "Past saturation: rate asked")
	if asked.Versus != nil || asked.Met != nil || asked.Values["caddy"] != 14600 {
		t.Errorf("rate asked = %+v, want the rate and no comparison", asked)
	}
}

func TestPeerRowsLeaveOutWhatDidNotRun(t *testing.T) {
	results := []Result{
		{Name: "BenchmarkProxies/closed/stack", Metrics: map[string]float64{"req/s": 900, "failed": 0}},
		{Name: "BenchmarkProxies/closed/caddy", Metrics: map[string]float64{"req/s": 1000, "failed": 0}},
		{Name: "BenchmarkProxies/1000rps/haproxy", Metrics: map[string]float64{"p99-ms": 1, "failed": 0}},
	}
	rows := PeerRows(results)
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want the closed loop's two (the stack ran nothing else): %+v", len(rows), rows)
	}
	r := rows[0]
	if _, ok := r.Values["haproxy"]; ok || r.Best != "caddy" || !near(*r.Versus, 90) || !sameMet(r.Met, ptr(false)) {
		t.Errorf("closed loop = %+v, want Caddy, the only peer that ran, as the best", r)
	}
	if PeerRows(nil) != nil {
		t.Error("rows from a run without BenchmarkProxies")
	}
}

func TestThePeerTableSignsExcessFailuresAndLeavesMissingCellsEmpty(t *testing.T) {
	v := 3900.0
	table := peerTable([]PeerRow{{Name: "Open loop past saturation: failed", Unit: "requests",
		Values: map[string]float64{"stack": 3900, "nginx": 0}, Best: "nginx", Versus: &v, VersusUnit: "requests", Target: "≤ best peer's", Met: ptr(false)}})
	want := "| Open loop past saturation: failed (requests) | 3900 |  |  | 0 |  | +3900 requests (host nginx) | ≤ best peer's | **no** |\n"
	if !strings.HasSuffix(table, want) {
		t.Errorf("table =\n%s\nwant its row\n%s", table, want)
	}
}
