package e2e

import (
	"testing"
)

// swarmBenchReplicas is how many app tasks the swarm benchmarks run.
const swarmBenchReplicas = 2

// BenchmarkSwarmDeployToHealthy times `deploy` on a single-node swarm, from
// nothing running to the health path answering through nginx with every
// task running: the figure to read next to BenchmarkDeployToHealthy.
func BenchmarkSwarmDeployToHealthy(b *testing.B) {
	p := swarmProject(b, swarmBenchReplicas)
	p.must("setup")
	deployToHealthy(b, p)
}

// BenchmarkSwarmPromoteUnderLoad switches the mode of a swarm stack's tasks
// (swarm rolls them one at a time, start-first) while 20 clients that never
// retry load nginx: the figures to read next to BenchmarkPromoteUnderLoad.
func BenchmarkSwarmPromoteUnderLoad(b *testing.B) {
	p := swarmProject(b, swarmBenchReplicas)
	p.must("setup")
	p.must("deploy")
	promoteUnderLoad(b, p)
}
