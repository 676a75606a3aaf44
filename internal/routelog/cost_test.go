package routelog

import (
	"strings"
	"testing"
	"time"
)

// at is a time n milliseconds after 100 s since the epoch.
func at(ms int) time.Time { return time.Unix(100, int64(ms)*1e6) }

func TestCostsCountProxyFailuresButNotTheBuildsOwnErrors(t *testing.T) {
	log := strings.Join([]string{
		"100.000|app|200|172.20.0.3:3000|200|0.002|/||0.002",
		// nginx could not reach a build, or it did not answer in time.
		"100.100|app|502|172.20.0.3:3000|502|0.000|/||0.000",
		"100.200|app|504|172.20.0.3:3000|504|30.000|/||30.001",
		// a client that gave up.
		"100.300|app|499|172.20.0.3:3000|-|-|/||2.000",
		// the build's own error (chaos): not the change's doing.
		"100.400|app|500|172.20.0.3:3000|500|0.001|/||0.001",
		"100.500|app|503|172.20.0.3:3000|503|0.001|/||0.001",
		// a refused connect retried on the other build: answered, not failed.
		"100.600|app|200|172.20.0.3:3000, 172.20.0.4:3000|502, 200|0.000, 0.002|/||0.003",
		// probes are not clients' traffic.
		"100.700|app|502|172.20.0.3:3000|502|0.000|/healthz||0.000",
		// SwiftDeploy's own smoke request is no client's.
		"100.750|app|502|172.20.0.3:3000|502|0.000|/|1|0.000",
		// a line written before $request_time was logged still counts.
		"100.800|app|502|-|-|-|/|",
		"100.900|app|502|-|-|-|/|",
		// nor does one of seven fields, from before the smoke field, nor one
		// whose $uri holds a '|'.
		"100.950|app|502|-|-|-|/",
		"100.960|app|502|-|-|-|/a|b|0.001",
		"100.970|app|502|-|-|-|/a|b||0.001",
		"garbage",
	}, "\n")
	costs, err := Costs(strings.NewReader(log), []Span{{From: at(0), To: at(1000)}})
	if err != nil {
		t.Fatal(err)
	}
	c := costs[0]
	if c.Requests != 9 {
		t.Errorf("%d requests, want 9", c.Requests)
	}
	if c.Failed != 5 || c.FailedBy[502] != 3 || c.FailedBy[504] != 1 || c.FailedBy[499] != 1 || len(c.FailedBy) != 3 {
		t.Errorf("failed %d %v, want 5: 502 ×3, 504 ×1, 499 ×1", c.Failed, c.FailedBy)
	}
	if c.Retiring != 0 {
		t.Errorf("%d reached a retiring build, want 0 (none was retiring)", c.Retiring)
	}
}

func TestCostsCountRequestsThatArriveAtARetiringBuildAfterItsRetirementBegan(t *testing.T) {
	old := Retiring{Addrs: []string{"172.20.0.3"}, Since: at(500)}
	log := strings.Join([]string{
		// routed to the old build before its retirement began: fine, even
		// when it finished after (logged at 0.700 s, arrived at 0.400 s).
		"100.499|app|200|172.20.0.3:3000|200|0.001|/||0.001",
		"100.700|app|200|172.20.0.3:3000|200|0.300|/||0.300",
		// arrived at 0.500 s and after: it reached a retiring build.
		"100.500|app|200|172.20.0.3:3000|200|0.000|/||0.000",
		"100.800|app|200|172.20.0.3:3000|200|0.001|/||0.001",
		// a refused connect to the old one, retried on the new: reached it.
		"100.900|app|200|172.20.0.3:3000, 172.20.0.4:3000|502, 200|0.000, 0.001|/||0.001",
		// the new build: not retiring.
		"100.950|app|200|172.20.0.4:3000|200|0.001|/||0.001",
	}, "\n")
	costs, err := Costs(strings.NewReader(log), []Span{{From: at(0), To: at(1000), Retiring: []Retiring{old}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := costs[0]; c.Requests != 6 || c.Retiring != 3 || c.Failed != 0 {
		t.Errorf("%d requests, %d reached the retiring build, %d failed; want 6, 3 and 0", c.Requests, c.Retiring, c.Failed)
	}
}

func TestCostsGiveEachSpanItsOwnLines(t *testing.T) {
	log := strings.Join([]string{
		"100.100|app|502|-|-|-|/||0.000",
		"100.999|app|200|172.20.0.9:3000|200|0.001|/||0.001",
		"101.000|app|200|172.20.0.9:3000|200|0.000|/||0.000",
		"101.500|app|504|172.20.0.3:3000|504|1.0|/||1.000",
		"102.000|app|502|-|-|-|/||0.000", // after the last span
	}, "\n")
	canary := Retiring{Addrs: []string{"172.20.0.9"}, Since: at(1000)}
	spans := []Span{{From: at(0), To: at(1000)}, {From: at(1000), To: at(2000), Retiring: []Retiring{canary}}}
	costs, err := Costs(strings.NewReader(log), spans)
	if err != nil {
		t.Fatal(err)
	}
	if c := costs[0]; c.Requests != 2 || c.Failed != 1 || c.Retiring != 0 {
		t.Errorf("first span: %+v, want 2 requests, 1 failed, 0 retiring", c)
	}
	if c := costs[1]; c.Requests != 2 || c.Failed != 1 || c.Retiring != 1 {
		t.Errorf("second span: %+v, want 2 requests, 1 failed, 1 retiring", c)
	}
	total := Sum(costs)
	if total.Requests != 4 || total.Failed != 2 || total.Retiring != 1 || total.FailedBy[502] != 1 || total.FailedBy[504] != 1 {
		t.Errorf("sum: %+v, want 4 requests, 2 failed (502, 504), 1 retiring", total)
	}
}
