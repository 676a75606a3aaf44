package host

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
)

// Swarm makes this engine a swarm manager when it is in no swarm, says so,
// and prints how a worker joins; an engine already in a swarm is left as it
// is (a worker is refused: stacks are deployed from a manager).
func (h *Host) Swarm(ctx context.Context) (string, error) {
	st, err := docker.Swarm(ctx)
	if err != nil {
		return "", err
	}
	note := ""
	switch {
	case st.State == "inactive":
		if err := docker.SwarmInit(ctx, ""); err != nil {
			if !strings.Contains(err.Error(), "advertise") {
				return "", fmt.Errorf("docker swarm init: %w", err)
			}
			// Several addresses and none chosen: the one the default
			// route leaves from is the one other hosts reach.
			return "", fmt.Errorf("docker swarm init could not choose the address other nodes reach this one on (%s): run `docker swarm init --advertise-addr ADDRESS` yourself, then setup again", firstLine(err.Error()))
		}
		if st, err = docker.Swarm(ctx); err != nil {
			return "", err
		}
		note = "this engine is now the manager of a new swarm (`docker swarm init`)"
	case st.State != "active":
		return "", fmt.Errorf("this engine's swarm state is %q: repair it (`docker swarm leave --force` leaves it) and run setup again", st.State)
	case !st.Manager:
		return "", errors.New("this engine is a swarm worker: run SwiftDeploy on a manager of the swarm")
	default:
		note = fmt.Sprintf("this engine manages a swarm of %d node(s): left as it is", st.Nodes)
	}
	if join, err := docker.WorkerJoinCommand(ctx); err == nil {
		h.Out.Info("a worker joins with: %s", join)
	}
	return note, nil
}
