//go:build swarm

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The second node: a Docker engine from Debian's packages (the same versions
// as this host's engine) running in a container on a bridge the test
// creates. It cannot be --privileged here (the machine's capability bounding
// set lacks CAP_SYS_RESOURCE, and Docker 20.10's --privileged asks for every
// capability), so it gets every capability but that one, and its entrypoint
// remounts /sys and the cgroup hierarchies read-write.
const nodeImage = "swiftdeploy-e2e-node:1"

var nodePackages = []string{"docker.io", "containerd", "runc", "tini", "iptables", "libip4tc2", "libip6tc2",
	"libxtables12", "libmnl0", "libnetfilter-conntrack3", "libnfnetlink0", "libnftnl11", "libdevmapper1.02.1", "dmsetup", "netbase", "adduser"}

const nodeDockerfile = `FROM nginx:latest
COPY debs/ /tmp/debs/
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && dpkg -i -G /tmp/debs/*.deb && rm -rf /tmp/debs /usr/sbin/policy-rc.d
COPY entrypoint.sh /entrypoint.sh
ENTRYPOINT ["/usr/bin/tini", "--", "/bin/sh", "/entrypoint.sh"]
`

const nodeEntrypoint = `set -eu
if grep -q ' /sys sysfs ro' /proc/mounts; then mount -o remount,rw /sys; fi
for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts); do
  mount -o remount,bind,rw "$m" 2>/dev/null || true
done
mount --make-rshared / 2>/dev/null || true
rm -f /var/run/docker.pid
exec dockerd --host=unix:///var/run/docker.sock --storage-driver=overlay2
`

// buildNodeImage builds the second node's image from Debian's packages,
// once per machine.
func buildNodeImage(t *testing.T) {
	t.Helper()
	if exec.Command("docker", "image", "inspect", nodeImage).Run() == nil {
		return
	}
	dir := t.TempDir()
	debs := filepath.Join(dir, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		t.Fatal(err)
	}
	var pinned []string
	for _, p := range nodePackages {
		// The host's own version where it has the package installed.
		if v, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", p).Output(); err == nil && len(v) > 0 {
			p += "=" + string(v)
		}
		pinned = append(pinned, p)
	}
	download := exec.Command("apt-get", append([]string{"download"}, pinned...)...)
	download.Dir = debs
	if out, err := download.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download: %v\n%s", err, out)
	}
	for name, content := range map[string]string{"Dockerfile": nodeDockerfile, "entrypoint.sh": nodeEntrypoint} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", nodeImage, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", nodeImage, err, out)
	}
}

// TestSwarmNodesAReplicaOnASecondNodeAnswersThroughNginx joins a second
// engine to the swarm as a worker, deploys two app tasks (one lands on each
// node), and shows the worker's task answering through nginx over the
// overlay network. validate says the worker cannot pull the app's image
// (it came from no registry); the test loads it there by hand, as an
// operator without a registry would.
func TestSwarmNodesAReplicaOnASecondNodeAnswersThroughNginx(t *testing.T) {
	buildNodeImage(t)
	if state := swarmState(t); state != "inactive" {
		t.Fatalf("this engine is in a swarm already (%s): the test makes its own, advertised on a bridge the second engine reaches; run it on an engine in no swarm", state)
	}
	p := swarmProject(t, 2)
	worker := p.name + "-worker"
	bridge := p.name + "-nodes"
	docker(t, "network", "create", "--driver", "bridge", bridge)
	// The second engine reaches this one on the bridge's gateway: the swarm
	// is made to use that address (setup leaves an existing swarm alone; on
	// real hosts its default address is the one other hosts reach).
	gateway := docker(t, "network", "inspect", bridge, "--format", "{{(index .IPAM.Config 0).Gateway}}")
	docker(t, "swarm", "init", "--advertise-addr", gateway, "--listen-addr", gateway+":2377")
	if out := p.must("setup"); !strings.Contains(out, "left as it is") {
		t.Errorf("setup on an engine that manages a swarm already does not say it leaves it alone:\n%s", out)
	}
	t.Cleanup(func() {
		exec.Command("docker", "exec", worker, "docker", "swarm", "leave", "--force").Run()
		exec.Command("docker", "rm", "--force", "--volumes", worker).Run()
		exec.Command("docker", "node", "rm", "--force", worker).Run()
		exec.Command("docker", "network", "rm", bridge).Run()
	})
	docker(t, "run", "--detach", "--name", worker, "--hostname", worker, "--network", bridge,
		"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
		"--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
		"--tmpfs", "/var/lib/docker:exec", nodeImage)
	inner := func(args ...string) string {
		return docker(t, append([]string{"exec", worker, "docker"}, args...)...)
	}
	waitUntil(t, 60*time.Second, "the second engine to answer", func() bool {
		return exec.Command("docker", "exec", worker, "docker", "info").Run() == nil
	})

	token := docker(t, "swarm", "join-token", "--quiet", "worker")
	manager := docker(t, "info", "--format", "{{.Swarm.NodeAddr}}")
	inner("swarm", "join", "--token", token, manager+":2377")
	waitUntil(t, 60*time.Second, "the worker to be ready", func() bool {
		out, err := exec.Command("docker", "node", "inspect", worker, "--format", "{{.Status.State}}").Output()
		return err == nil && strings.TrimSpace(string(out)) == "ready"
	})

	out, code := p.run("validate")
	if code != 1 || !strings.Contains(out, "exists only on this node") || !strings.Contains(out, worker) {
		t.Errorf("validate with a worker that cannot pull the app's image exited %d, want 1 naming %s:\n%s", code, worker, out)
	}
	// No registry: the image goes to the worker by hand.
	save := exec.Command("sh", "-c", fmt.Sprintf("docker save swift-deploy-1-node:latest | docker exec -i %s docker load", worker))
	if out, err := save.CombinedOutput(); err != nil {
		t.Fatalf("load the app's image on the worker: %v\n%s", err, out)
	}

	p.must("deploy")
	var onWorker string
	waitUntil(t, 60*time.Second, "an app task on the worker", func() bool {
		for _, line := range p.appTasks() {
			if f := strings.Fields(line); len(f) >= 2 && f[1] == worker {
				onWorker = f[0]
				return true
			}
		}
		return false
	})
	addr := docker(t, "inspect", "--type", "task", "--format", `{{range .NetworksAttachments}}{{if eq .Network.Spec.Name "`+p.name+`-net"}}{{index .Addresses 0}}{{end}}{{end}}`, onWorker)
	addr, _, _ = strings.Cut(addr, "/")
	if addr == "" {
		t.Fatalf("the worker's task %s has no address on the stack's network", onWorker)
	}
	if status := p.must("status", "-once"); !strings.Contains(status, "on "+worker) {
		t.Errorf("status does not show the task on %s:\n%s", worker, status)
	}

	// The worker's task joins nginx's pool once the manager's DNS lists it
	// (the nodes gossip their tasks' addresses) and nginx asked again (1 s):
	// rounds of 40 requests until one reaches it, for up to 30 s.
	nginx := strings.Fields(docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+p.name+"_nginx"))
	if len(nginx) != 1 {
		t.Fatalf("nginx containers: %v", nginx)
	}
	since := time.Now()
	var logs string
	var fromWorker, rounds int
	for fromWorker == 0 && time.Since(since) < 30*time.Second {
		rounds++
		for range 40 {
			if resp, body := p.get("/"); resp.StatusCode != 200 {
				t.Fatalf("GET / through nginx: %d %q", resp.StatusCode, body)
			}
		}
		time.Sleep(1500 * time.Millisecond) // nginx flushes its log every second
		logs = docker(t, "logs", "--since", since.Format(time.RFC3339Nano), nginx[0])
		fromWorker = strings.Count(logs, " | "+addr+":3000 | GET / ")
	}
	answered := strings.Count(logs, " | 200 | ")
	t.Logf("of %d requests through nginx in %s, %d were answered by the task on %s (%s)", rounds*40, time.Since(since).Round(time.Second), fromWorker, worker, addr)
	if fromWorker == 0 {
		upstreams := map[string]int{}
		for _, line := range strings.Split(logs, "\n") {
			if f := strings.Split(line, " | "); len(f) == 5 {
				upstreams[f[1]+" "+f[3]]++
			}
		}
		t.Errorf("no request through nginx was answered by the task on %s (%s); nginx logged %d answers, by status and upstream: %v", worker, addr, answered, upstreams)
	}

	// A switch across both nodes, under load: swarm replaces the task on
	// the worker and the one here, one at a time.
	load := startHTTPLoad(t, p.url("/"), 20)
	switchUnder(t, p, "promote", "canary")
	load.stop()
	t.Logf("20 clients through a promote across two nodes: %s", load)
	if load.non2xx.Load() != 0 || load.errs.Load() != 0 || load.ok.Load() == 0 {
		t.Errorf("20 clients through a promote across two nodes: %s; want no failed request", load)
	}
	onNodes := map[string]bool{}
	for _, line := range p.appTasks() {
		if f := strings.Fields(line); len(f) >= 2 {
			onNodes[f[1]] = true
		}
	}
	// Swarm places the new tasks as it sees fit (here both often go to the
	// worker, which runs fewer tasks); promote confirmed through nginx that
	// it answers from them, wherever they run.
	if !onNodes[worker] {
		t.Errorf("after the promote the app's tasks run on %v, none on %s", onNodes, worker)
	}
}
