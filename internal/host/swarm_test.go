package host

import (
	"bytes"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
)

const (
	swarmInfo = "info --format {{json .Swarm}}"
	inactive  = `{"NodeID":"","LocalNodeState":"inactive","ControlAvailable":false,"Nodes":0}`
	manager   = `{"NodeID":"n1","LocalNodeState":"active","ControlAvailable":true,"Nodes":3}`
	joinToken = "To add a worker to this swarm, run the following command:\n\n    docker swarm join --token SWMTKN-1-abc 10.0.0.1:2377\n\n"
)

func TestSwarmMakesAnEngineInNoSwarmTheManagerOfANewOneAndSaysHowAWorkerJoins(t *testing.T) {
	f := dockertest.New(t).On(swarmInfo, inactive, manager).On("swarm init").On("swarm join-token worker", joinToken)
	var out bytes.Buffer
	note, err := hostIn(t, &out).Swarm(within(t))
	if err != nil || note != "this engine is now the manager of a new swarm (`docker swarm init`)" {
		t.Errorf("Swarm() = %q, %v", note, err)
	}
	if f.Count("swarm init") != 1 || out.String() != "  a worker joins with: docker swarm join --token SWMTKN-1-abc 10.0.0.1:2377\n" {
		t.Errorf("calls %q, printed %q; want one swarm init and the join command", f.Calls(), out.String())
	}
}

func TestSwarmLeavesAnEngineThatManagesASwarmAsItIs(t *testing.T) {
	f := dockertest.New(t).On(swarmInfo, manager).On("swarm join-token worker", joinToken)
	note, err := hostIn(t, new(bytes.Buffer)).Swarm(within(t))
	if err != nil || note != "this engine manages a swarm of 3 node(s): left as it is" || f.Count("swarm init") != 0 {
		t.Errorf("Swarm() = %q, %v (calls %q)", note, err, f.Calls())
	}
}

func TestSwarmRefusesAWorkerAndASwarmInTrouble(t *testing.T) {
	for _, c := range []struct{ name, info, want string }{
		{"a worker", `{"NodeID":"n2","LocalNodeState":"active","ControlAvailable":false}`, "this engine is a swarm worker: run SwiftDeploy on a manager of the swarm"},
		{"a swarm in error", `{"NodeID":"n1","LocalNodeState":"error"}`, "this engine's swarm state is \"error\": repair it (`docker swarm leave --force` leaves it) and run setup again"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dockertest.New(t).On(swarmInfo, c.info)
			if _, err := hostIn(t, new(bytes.Buffer)).Swarm(within(t)); err == nil || err.Error() != c.want {
				t.Errorf("Swarm() error = %v, want %q", err, c.want)
			}
		})
	}
}

// With several addresses and none chosen, swarm init asks for the one other
// hosts reach: the operator knows it, SwiftDeploy does not.
func TestSwarmAsksForTheAddressToAdvertiseWhenInitCannotChooseOne(t *testing.T) {
	f := dockertest.New(t).On(swarmInfo, inactive)
	f.Fail("swarm init", "Error response from daemon: could not choose an IP address to advertise since this system has multiple addresses on different interfaces (10.0.0.1 on eth0 and 192.168.1.2 on eth1)", 1)
	_, err := hostIn(t, new(bytes.Buffer)).Swarm(within(t))
	if err == nil || !strings.HasPrefix(err.Error(), "docker swarm init could not choose the address other nodes reach this one on (") ||
		!strings.HasSuffix(err.Error(), "…): run `docker swarm init --advertise-addr ADDRESS` yourself, then setup again") {
		t.Errorf("Swarm() error = %v", err)
	}
	f.Fail("swarm init", "Error response from daemon: this node is already part of a swarm", 1)
	if _, err := hostIn(t, new(bytes.Buffer)).Swarm(within(t)); err == nil || !strings.HasPrefix(err.Error(), "docker swarm init: ") {
		t.Errorf("Swarm() error = %v, want the failed init", err)
	}
}
