package stack

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/change"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
	"github.com/swiftdeploy/swiftdeploy/internal/ui"
)

func TestAChangesCostIsReadFromNginxsLogPartByPartAndPrinted(t *testing.T) {
	var out bytes.Buffer
	s := &Stack{Root: t.TempDir(), Out: ui.New(&out), Now: time.Now}
	if err := os.MkdirAll(s.path(render.ReleaseLogDir), 0o755); err != nil {
		t.Fatal(err)
	}
	log := strings.Join([]string{
		// the step: one 500 from the canary (its own), one 502 from nginx.
		"100.100|app|500|172.20.0.9:3000|500|0.001|/||0.001",
		"100.200|app|502|172.20.0.9:3000|502|0.000|/||0.000",
		// the abort, from 101 s: the canary retires from 101.5 s.
		"101.400|app|200|172.20.0.9:3000|200|0.001|/||0.001",
		"101.600|app|200|172.20.0.9:3000|200|0.001|/||0.001",
		"101.700|app|499|172.20.0.3:3000|-|-|/||1.000",
	}, "\n") + "\n"
	if err := os.WriteFile(s.path(render.ReleaseLog), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	at := func(ms int) time.Time { return time.Unix(100, int64(ms)*1e6) }
	c := &change.Change{Action: change.Release, Spans: []change.Span{
		{Part: change.PartStep, Step: 1, Weight: 10, Span: routelog.Span{From: at(0), To: at(1000)}},
		{Part: change.PartAbort, Span: routelog.Span{From: at(1000), To: at(2000),
			Retiring: []routelog.Retiring{{Addrs: []string{"172.20.0.9"}, Since: at(1500)}}}},
	}}
	noFlushWait(t)
	got := s.changeCost(context.Background(), c)
	want := &history.Cost{Requests: 5, Failed: 2, FailedByStatus: map[string]int{"502": 1, "499": 1}, ReachedRetiring: 1, Parts: []history.CostPart{
		{Part: "step", Step: 1, Weight: 10, Seconds: 1, Requests: 2, Failed: 1},
		{Part: "abort", Seconds: 1, Requests: 3, Failed: 1, ReachedRetiring: 1, Retired: []history.Retired{{Addresses: []string{"172.20.0.9"}, AfterSeconds: 0.5}}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cost %+v, want %+v", got, want)
	}
	if !strings.Contains(out.String(), "what the release cost clients, from nginx's log: 5 requests, 2 failed by nginx") {
		t.Errorf("printed %q, want the cost said", out.String())
	}
}

func TestAChangeThatMadeNoMoveHasNoCostAndAMissingLogIsAWarning(t *testing.T) {
	var out bytes.Buffer
	s := &Stack{Root: t.TempDir(), Out: ui.New(&out), Now: time.Now}
	if got := s.changeCost(context.Background(), &change.Change{Action: change.Promote}); got != nil {
		t.Errorf("cost of a change with no part: %+v, want none", got)
	}
	noFlushWait(t)
	c := &change.Change{Action: change.Promote, Spans: []change.Span{{Part: change.PartSwitch}}}
	if got := s.changeCost(context.Background(), c); got != nil || !strings.Contains(out.String(), "what the promote cost clients is not known") {
		t.Errorf("cost %+v, printed %q; want none, and a warning", got, out.String())
	}
}

// noFlushWait has changeCost read nginx's log at once: the test wrote it whole.
func noFlushWait(t *testing.T) {
	saved := logFlush
	logFlush = 0
	t.Cleanup(func() { logFlush = saved })
}
