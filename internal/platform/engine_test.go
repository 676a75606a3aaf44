package platform

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
)

// engine is a fake Docker engine running the stack "sd": it answers what
// internal/docker asks with the fixtures under testdata/, each one object of
// what `docker inspect` prints.
type engine struct {
	*dockertest.Fake
	t *testing.T
}

func newEngine(t *testing.T) engine { return engine{dockertest.New(t), t} }

// The filters internal/docker lists a stack's containers by.
const (
	composeAll = "label=com.docker.compose.project=sd"
	swarmAll   = "label=com.docker.stack.namespace=sd"
)

func composeRole(role Role) string {
	return composeAll + " --filter label=com.docker.compose.service=" + string(role)
}

func swarmRole(role Role) string {
	return swarmAll + " --filter label=com.docker.swarm.service.name=sd_" + string(role)
}

// fixtures reads testdata files and returns their IDs and the JSON array
// `docker inspect` prints of them.
func (e engine) fixtures(names ...string) (ids []string, array string) {
	e.t.Helper()
	docs := make([]string, len(names))
	for i, name := range names {
		data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			e.t.Fatal(err)
		}
		var doc struct{ ID string }
		if err := json.Unmarshal(data, &doc); err != nil {
			e.t.Fatalf("%s: %v", name, err)
		}
		ids, docs[i] = append(ids, doc.ID), string(data)
	}
	return ids, "[" + strings.Join(docs, ",") + "]"
}

// containers answers `docker ps` with filter by listing the fixtures, and
// their inspection.
func (e engine) containers(filter string, names ...string) {
	e.t.Helper()
	ids := e.inspect("container", names...)
	e.On("ps -aq --no-trunc --filter "+filter, lines(ids))
}

// tasks answers a listing of tasks (`stack ps ...` or `service ps ...`)
// with the fixtures, and their inspection.
func (e engine) tasks(list string, names ...string) {
	e.t.Helper()
	ids := e.inspect("task", names...)
	e.On(list, lines(ids))
}

// inspect answers `docker inspect --type kind` of exactly the fixtures' IDs.
func (e engine) inspect(kind string, names ...string) []string {
	e.t.Helper()
	ids, array := e.fixtures(names...)
	if len(ids) > 0 {
		e.On("inspect --type "+kind+" "+strings.Join(ids, " "), array)
	}
	return ids
}

// services answers the listing of the stack's services with the fixtures
// (each poll of a convergence asks once), and names every service the
// tasks belong to.
func (e engine) services(names ...string) {
	e.t.Helper()
	ids, array := e.fixtures(names...)
	e.On("service ls -q --filter "+swarmAll, lines(ids))
	e.On("service inspect "+strings.Join(ids, " "), array)
}

func lines(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return strings.Join(ids, "\n") + "\n"
}

// The swarm's nodes and services as `docker node ls` and `docker service ls`
// print them with SwiftDeploy's formats: short service IDs, and an empty
// manager status for a worker.
const (
	managerNode   = "n0manager000000000000000a"
	workerNode    = "n0worker0000000000000000b"
	twoNodes      = managerNode + "\tmanager-1\tReady\tActive\tLeader\n" + workerNode + "\tworker-1\tReady\tActive\t\n"
	serviceNames  = "s0app0000000\tsd_app\ns0canary0000\tsd_canary\ns0nginx00000\tsd_nginx\n"
	gatewayBridge = `{"ep1":{"Name":"gateway_5bapp1000000","EndpointID":"ep1","IPv4Address":"172.18.0.3/16"},` +
		`"ep2":{"Name":"gateway_5bnginx00000","EndpointID":"ep2","IPv4Address":"172.18.0.4/16"},` +
		`"ep3":{"Name":"gateway_5bcan0000000","EndpointID":"ep3","IPv4Address":"172.18.0.9/16"}}`
)

// swarmEngine is a fake engine that manages a swarm of two nodes: this one,
// a manager, and a worker.
func swarmEngine(t *testing.T) engine {
	e := newEngine(t)
	e.On("info --format {{json .Swarm}}", `{"NodeID":"`+managerNode+`","LocalNodeState":"active","ControlAvailable":true,"Nodes":2}`)
	e.On("node ls --format *", twoNodes)
	e.On("service ls --format *", serviceNames)
	e.On("network inspect docker_gwbridge --format {{json .Containers}}", gatewayBridge)
	return e
}

// within is a context that ends the test's waits if the code under test
// waits longer than a fake engine ever makes it.
func within(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
