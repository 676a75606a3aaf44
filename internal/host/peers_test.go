package host

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// peerHost is a host whose package tools (dpkg-query, apt-get, update-rc.d)
// are fakes first on PATH, each recording its calls; its policy-rc.d and proc
// filesystem are in a folder of the test's own. apt-get also records what
// policy-rc.d answers for each service while it runs.
type peerHost struct {
	t             *testing.T
	h             *Host
	bin, proc     string
	policy, calls string
	stopped       []int
}

// newPeerHost fakes a host on which dpkg lists installed as installed.
func newPeerHost(t *testing.T, installed ...string) *peerHost {
	t.Helper()
	dir := t.TempDir()
	ph := &peerHost{t: t, bin: filepath.Join(dir, "bin"), proc: filepath.Join(dir, "proc"),
		policy: filepath.Join(dir, "policy-rc.d"), calls: filepath.Join(dir, "calls")}
	for _, d := range []string{ph.bin, filepath.Join(ph.proc, "self", "ns")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ph.link("self/ns/mnt", "mnt:[4026531841]")
	var listed strings.Builder
	for _, p := range installed {
		listed.WriteString(p + " ii \n")
	}
	ph.fake("dpkg-query", "printf '%s' "+quoteSh(listed.String())+"\nexit 1")
	ph.fake("apt-get", `for s in haproxy caddy nginx; do
  if [ -x `+quoteSh(ph.policy)+` ]; then `+quoteSh(ph.policy)+` $s start; echo "policy $s $?" >> `+quoteSh(ph.calls)+`; else echo "policy $s none" >> `+quoteSh(ph.calls)+`; fi
done`)
	ph.fake("update-rc.d", "")
	ph.fake("systemctl", "")
	if err := os.MkdirAll(filepath.Join(dir, "init.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, script := range []string{"haproxy", "nginx"} { // caddy has only a systemd unit
		if err := os.WriteFile(filepath.Join(dir, "init.d", script), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", ph.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	ph.h = hostIn(t, new(bytes.Buffer))
	ph.h.PeerFiles = PeerFiles{
		PolicyRC:   ph.policy,
		Proc:       ph.proc,
		CanInstall: func() error { return nil },
		InitD:      filepath.Join(dir, "init.d"),
		Systemd:    filepath.Join(dir, "systemd"),
		Stop: func(pid int) error {
			ph.stopped = append(ph.stopped, pid)
			return os.RemoveAll(filepath.Join(ph.proc, strconv.Itoa(pid)))
		},
	}
	return ph
}

// fake writes a program that records its name and arguments, then runs body.
func (ph *peerHost) fake(name, body string) {
	ph.t.Helper()
	script := "#!/bin/sh\nprintf '%s\\n' \"" + name + " $*\" >> " + quoteSh(ph.calls) + "\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(ph.bin, name), []byte(script), 0o755); err != nil {
		ph.t.Fatal(err)
	}
}

func (ph *peerHost) link(name, target string) {
	ph.t.Helper()
	path := filepath.Join(ph.proc, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		ph.t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		ph.t.Fatal(err)
	}
}

// process adds a process running program in mount namespace ns.
func (ph *peerHost) process(pid int, program, ns string) {
	ph.link(strconv.Itoa(pid)+"/exe", program)
	ph.link(strconv.Itoa(pid)+"/ns/mnt", ns)
	if err := os.WriteFile(filepath.Join(ph.proc, strconv.Itoa(pid), "status"), []byte("Name:\tx\nState:\tS (sleeping)\n"), 0o644); err != nil {
		ph.t.Fatal(err)
	}
}

func (ph *peerHost) callList() []string {
	ph.t.Helper()
	data, err := os.ReadFile(ph.calls)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		ph.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func quoteSh(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestPeerProxiesAlreadyInstalledAreLeftAlone(t *testing.T) {
	ph := newPeerHost(t, "haproxy", "caddy", "nginx-light")
	note, err := ph.h.PeerProxies(within(t))
	if err != nil || note != "haproxy, caddy, nginx-light present" {
		t.Errorf("PeerProxies() = %q, %v", note, err)
	}
	if calls := ph.callList(); len(calls) != 1 || !strings.HasPrefix(calls[0], "dpkg-query ") {
		t.Errorf("calls = %q, want only the dpkg query", calls)
	}
}

func TestPeerProxiesInstallTheMissingOnesWithEveryServiceStartHeld(t *testing.T) {
	ph := newPeerHost(t, "haproxy")
	note, err := ph.h.PeerProxies(within(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "installed caddy, nginx-light, services off at boot and not running"; note != want {
		t.Errorf("note = %q, want %q", note, want)
	}
	calls := ph.callList()
	for _, want := range []string{
		"apt-get update",
		"apt-get install -y --no-install-recommends caddy nginx-light",
		"policy caddy 101", "policy nginx 101",
		"update-rc.d nginx disable",
	} {
		if !slices.Contains(calls, want) {
			t.Errorf("calls lack %q: %q", want, calls)
		}
	}
	for _, c := range calls {
		if strings.Contains(c, "caddy disable") {
			t.Errorf("caddy's unit was disabled on a host without systemd: %q", c)
		}
	}
	if slices.Contains(calls, "update-rc.d haproxy disable") {
		t.Errorf("the installed haproxy's service was touched: %q", calls)
	}
	if _, err := os.Stat(ph.policy); !os.IsNotExist(err) {
		t.Errorf("the policy-rc.d written for the install is still there (%v)", err)
	}
}

func TestPeerProxiesTurnCaddysUnitOffUnderSystemd(t *testing.T) {
	ph := newPeerHost(t, "haproxy", "nginx-light")
	if err := os.MkdirAll(ph.h.PeerFiles.Systemd, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.h.PeerProxies(within(t)); err != nil {
		t.Fatal(err)
	}
	if calls := ph.callList(); !slices.Contains(calls, "systemctl disable caddy") {
		t.Errorf("calls = %q, want caddy's unit disabled", calls)
	}
}

func TestPeerProxiesKeepAPolicyThatRefusesStartsAlready(t *testing.T) {
	ph := newPeerHost(t)
	own := "#!/bin/sh\n# the image's own\nexit 101\n"
	if err := os.WriteFile(ph.policy, []byte(own), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ph.h.PeerProxies(within(t)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(ph.policy); string(got) != own {
		t.Errorf("policy-rc.d = %q, want the host's own left as it was", got)
	}
	if calls := ph.callList(); !slices.Contains(calls, "policy haproxy 101") {
		t.Errorf("apt-get ran without the host's policy refusing starts: %q", calls)
	}
}

func TestPeerProxiesRefuseToInstallUnderAPolicyThatLetsServicesStart(t *testing.T) {
	ph := newPeerHost(t)
	own := "#!/bin/sh\nexit 0\n"
	if err := os.WriteFile(ph.policy, []byte(own), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := ph.h.PeerProxies(within(t))
	if err == nil || !strings.Contains(err.Error(), "lets the haproxy service start") {
		t.Errorf("PeerProxies() = %v, want a refusal naming the service", err)
	}
	for _, c := range ph.callList() {
		if strings.HasPrefix(c, "apt-get") {
			t.Errorf("apt-get ran: %q", c)
		}
	}
	if got, _ := os.ReadFile(ph.policy); string(got) != own {
		t.Errorf("policy-rc.d = %q, want it untouched", got)
	}
}

func TestPeerProxiesStopAServiceTheInstallStartedAndNothingElse(t *testing.T) {
	ph := newPeerHost(t)
	ph.process(100, "/usr/sbin/nginx", "mnt:[4026531841]") // the operator's, running before
	ph.process(200, "/usr/sbin/nginx", "mnt:[4026532000]") // a container's
	// apt-get starts haproxy on the host despite the policy.
	ph.fake("apt-get", "[ \"$1\" = install ] || exit 0\nmkdir -p "+quoteSh(filepath.Join(ph.proc, "300", "ns"))+
		" && ln -s /usr/sbin/haproxy "+quoteSh(filepath.Join(ph.proc, "300", "exe"))+
		" && ln -s 'mnt:[4026531841]' "+quoteSh(filepath.Join(ph.proc, "300", "ns", "mnt"))+
		" && printf 'State:\\tS\\n' > "+quoteSh(filepath.Join(ph.proc, "300", "status")))
	note, err := ph.h.PeerProxies(within(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ph.stopped, []int{300}) {
		t.Errorf("stopped %v, want only the haproxy the install started (300)", ph.stopped)
	}
	if !strings.Contains(note, "stopped haproxy (pid 300), which the install started") {
		t.Errorf("note = %q", note)
	}
}

func TestAZombieIsNotAlive(t *testing.T) {
	ph := newPeerHost(t)
	ph.process(7, "/usr/sbin/nginx", "mnt:[1]")
	if !alive(ph.proc, 7) {
		t.Error("a sleeping process is not alive")
	}
	os.WriteFile(filepath.Join(ph.proc, "7", "status"), []byte("State:\tZ (zombie)\n"), 0o644)
	if alive(ph.proc, 7) || alive(ph.proc, 8) {
		t.Error("a zombie or a missing process is alive")
	}
}
