package platform

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRerouteReloadsEveryRunningNginxGracefully(t *testing.T) {
	e := newEngine(t)
	e.containers(composeRole(Nginx), "compose/nginx", "compose/nginx-exited")
	e.On("exec c0n1 nginx -c /etc/swiftdeploy/nginx/nginx.conf -s reload")
	if err := composeIn(t).Reroute(within(t)); err != nil {
		t.Fatal(err)
	}
	if e.Count("exec ") != 1 {
		t.Errorf("calls = %q, want a reload of the running nginx only", e.Calls())
	}
}

func TestRerouteWithoutARunningNginxSaysSo(t *testing.T) {
	e := newEngine(t)
	e.containers(composeRole(Nginx), "compose/nginx-exited")
	if err := composeIn(t).Reroute(within(t)); err == nil || err.Error() != "no nginx of the stack is running" {
		t.Errorf("Reroute() = %v, want no running nginx", err)
	}
}

func TestAReloadNginxRefusesNamesTheInstance(t *testing.T) {
	e := newEngine(t)
	e.containers(composeRole(Nginx), "compose/nginx")
	e.Fail("exec *", `nginx: [emerg] unknown directive "serverr"`, 1)
	err := composeIn(t).Reroute(within(t))
	if err == nil || !strings.HasPrefix(err.Error(), "reload nginx in sd-nginx-1: ") || !strings.Contains(err.Error(), "unknown directive") {
		t.Errorf("Reroute() = %v, want the nginx that refused and why", err)
	}
}

func TestTheRouterLogIsWhatEveryRunningNginxPrintedSinceATime(t *testing.T) {
	e := newEngine(t)
	e.containers(composeRole(Nginx), "compose/nginx", "compose/nginx-exited")
	e.On("logs --since 2025-05-01T10:00:00.25Z c0n1", "GET /healthz 200\n")
	since := time.Date(2025, 5, 1, 12, 0, 0, 25e7, time.FixedZone("CEST", 2*3600))
	got, err := composeIn(t).RouterLog(within(t), since)
	if err != nil || got != "GET /healthz 200\n" {
		t.Errorf("RouterLog() = %q, %v; want the running nginx's lines since then, asked in UTC", got, err)
	}
}

func TestTheAdminAddressIsWhereDockerPublishedNginxsAdminPortOnThisHost(t *testing.T) {
	e := newEngine(t)
	e.containers(composeRole(Nginx), "compose/nginx-exited", "compose/nginx")
	got, err := composeIn(t).AdminAddr(within(t))
	if err != nil || got != "127.0.0.1:32768" {
		t.Errorf("AdminAddr() = %q, %v; want the running nginx's published admin port", got, err)
	}
}

func TestWithoutARunningNginxThereIsNoAdminAddressAndTheErrorAsksWhetherTheStackIsDeployed(t *testing.T) {
	e := newEngine(t)
	e.containers(composeRole(Nginx), "compose/nginx-exited")
	_, err := composeIn(t).AdminAddr(within(t))
	if err == nil || err.Error() != "no running nginx of the stack publishes its admin port 9180 (is the stack deployed?)" {
		t.Errorf("AdminAddr() error = %v", err)
	}
}

// listed is a runtime that lists all, whatever the role.
type listed struct {
	Runtime
	all []Instance
}

func (l listed) Instances(context.Context, Role) ([]Instance, error) { return l.all, nil }

func TestRunningLeavesOutTheInstancesThatAreNotRunning(t *testing.T) {
	got, err := Running(context.Background(), listed{all: []Instance{{ID: "a", State: "running"}, {ID: "b", State: "exited"}, {ID: "c", State: "running"}}}, App)
	if err != nil || len(got) != 2 || got[0].ID != "a" || got[1].ID != "c" {
		t.Errorf("Running = %v, %v; want a and c", got, err)
	}
}
