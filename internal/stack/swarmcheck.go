package stack

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/swiftdeploy/swiftdeploy/internal/docker"
	"github.com/swiftdeploy/swiftdeploy/internal/manifest"
	"github.com/swiftdeploy/swiftdeploy/internal/render"
)

// errImagesOnThisNode says that another node may lack an image: deploy
// warns and goes ahead (it may have been loaded there by hand, and swarm
// names a node that lacks it), validate fails.
var errImagesOnThisNode = errors.New("images on this node only")

// swarmReady checks what runtime: swarm needs of this engine: it is a
// manager of an active swarm, and every node that may run a task can get
// its image. An image built or loaded here exists on this node alone;
// another node can only pull one that a registry holds, or one loaded
// there by hand, which no node reports to a manager.
func swarmReady(ctx context.Context, m *manifest.Manifest) (string, error) {
	st, err := docker.Swarm(ctx)
	if err != nil {
		return "", err
	}
	if st.State != "active" || !st.Manager {
		return "", fmt.Errorf("this engine is not a swarm manager (swarm state %q): run `setup`, which makes it one", st.State)
	}
	nodes, err := docker.Nodes(ctx)
	if err != nil {
		return "", err
	}
	var others, otherManagers []string
	for _, n := range nodes {
		if n.ID == st.NodeID || n.Availability != "active" {
			continue
		}
		others = append(others, n.Hostname)
		if n.Role == "manager" {
			otherManagers = append(otherManagers, n.Hostname)
		}
	}
	if len(others) == 0 {
		return "a single-node swarm: this engine is its manager, and its images are here", nil
	}
	// The app runs on any node; nginx and the resolver on managers.
	need := map[string][]string{m.Services.Image: others}
	if len(otherManagers) > 0 {
		need[m.Nginx.Image], need[render.ResolverImage] = otherManagers, otherManagers
	}
	var problems []string
	for image, on := range need {
		pullable, err := docker.FromRegistry(ctx, image)
		if err != nil {
			return "", fmt.Errorf("image %s: %w", image, err)
		}
		if !pullable {
			problems = append(problems, fmt.Sprintf("%s exists only on this node (it came from no registry), so %s cannot get it", image, strings.Join(on, ", ")))
		}
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("%w: %s: push the image to a registry every node reaches (Debian packages one: docker-registry) and name it so in the manifest, load it on each of those nodes (docker save IMAGE | ssh NODE docker load), or drain them (docker node update --availability drain NODE)", errImagesOnThisNode, strings.Join(problems, "; "))
	}
	return fmt.Sprintf("a swarm of %d nodes; every image comes from a registry", len(nodes)), nil
}
