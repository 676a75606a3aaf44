package docker

import (
	"context"
	"reflect"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
)

func TestAWorkerListedLastIsStillANodeOfTheSwarm(t *testing.T) {
	dockertest.New(t).On("node ls --format *", "n1\tmanager-1\tReady\tActive\tLeader\nn2\tworker-1\tReady\tDrain\t\n")
	got, err := Nodes(context.Background())
	want := []Node{
		{ID: "n1", Hostname: "manager-1", Role: "manager", State: "ready", Availability: "active"},
		{ID: "n2", Hostname: "worker-1", Role: "worker", State: "ready", Availability: "drain"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Nodes() = %+v, %v; want %+v", got, err, want)
	}
}

func TestAContainerOutsideComposeListedLastStillOwnsThePortItPublishes(t *testing.T) {
	dockertest.New(t).On("ps --filter publish=8080 --format *", "sd-nginx-1\tsd\nstray-web\t\n")
	got, err := PortOwners(context.Background(), 8080)
	if want := map[string]string{"sd-nginx-1": "sd", "stray-web": ""}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("PortOwners() = %v, %v; want %v", got, err, want)
	}
}
