package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeUpstream answers every A question with 192.0.2.1 (a documentation
// address), as Docker's embedded DNS would answer with the app's address.
func fakeUpstream(t *testing.T) string {
	addr, _ := upstreamAnswering(t, func() bool { return true })
	return addr
}

// upstreamAnswering is a Docker's DNS that answers A questions with
// 192.0.2.1 while knows says so, NXDOMAIN otherwise (an engine restarted
// that does not know the containers yet); stop shuts it down (the engine
// gone).
func upstreamAnswering(t *testing.T, knows func() bool) (addr string, stop func()) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if knows() {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 600}, A: net.ParseIP("192.0.2.1")})
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	var once sync.Once
	stop = func() { once.Do(func() { srv.Shutdown() }) }
	t.Cleanup(stop)
	return pc.LocalAddr().String(), stop
}

// startResolver runs the resolver on a free loopback port with its routes
// and served files in a temporary folder.
func startResolver(t *testing.T) (addr string, cfg config) {
	t.Helper()
	// One port for both protocols, held from the start: other tests' TCP
	// connections may take a port that is only free for UDP.
	var pc net.PacketConn
	var l net.Listener
	for try := 0; pc == nil; try++ {
		if try == 100 {
			t.Fatal("no port free for both UDP and TCP in 100 tries")
		}
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if pc, err = net.ListenPacket("udp", tcp.Addr().String()); err != nil {
			tcp.Close()
			continue
		}
		l = tcp
	}
	addr = l.Addr().String()
	dir := t.TempDir()
	cfg = testConfig(dir, fakeUpstream(t))
	cfg.listen = addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, 10*time.Millisecond, pc, l)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return addr, cfg
}

func testConfig(dir, upstream string) config {
	return config{routes: filepath.Join(dir, "routes.json"), served: filepath.Join(dir, "served.json"), upstream: upstream,
		app: "app", canary: "canary", port: 3000, zone: "swiftdeploy"}
}

func lookup(t *testing.T, addr, name string, qtype uint16) []string {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	var answer *dns.Msg
	var err error
	for range 50 { // the servers may still be starting
		if answer, _, err = new(dns.Client).Exchange(q, addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("ask %s for %s: %v", addr, name, err)
	}
	var got []string
	for _, rr := range answer.Answer {
		if a, ok := rr.(*dns.A); ok {
			got = append(got, a.A.String())
		}
	}
	slices.Sort(got)
	return got
}

// eventually polls lookup until it gives want: the pin file is watched, not pushed.
func eventually(t *testing.T, addr, name string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := lookup(t, addr, name, dns.TypeA)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s resolves to %v, want %v", name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestUnpinnedNamesAreForwardedWithTTL0AndPinnedOnesAnsweredFromTheRoutesFile(t *testing.T) {
	addr, cfg := startResolver(t)
	eventually(t, addr, "app", "192.0.2.1")
	if ttls := answerTTLs(t, addr, "app", dns.TypeA); !slices.Equal(ttls, []uint32{0}) {
		t.Errorf("a forwarded answer has TTLs %v, want 0: nginx must ask again within a second", ttls)
	}

	write(t, cfg.routes, `{"generation": 1, "pins": {"app": ["198.51.100.7", "198.51.100.8"]}}`)
	eventually(t, addr, "app", "198.51.100.7", "198.51.100.8")
	eventually(t, addr, "APP.", "198.51.100.7", "198.51.100.8")
	eventually(t, addr, "nginx", "192.0.2.1")
	if got := lookup(t, addr, "app", dns.TypeAAAA); len(got) != 0 {
		t.Errorf("AAAA for a pinned name answered %v, want nothing", got)
	}

	write(t, cfg.routes, `{"generation": 2, "pins": {"app": ["198.51.100.8"]}}`)
	eventually(t, addr, "app", "198.51.100.8")

	if err := os.Remove(cfg.routes); err != nil {
		t.Fatal(err)
	}
	eventually(t, addr, "app", "192.0.2.1")
}

func TestTheCanaryNameStandsForTheStableBuildOutsideARelease(t *testing.T) {
	addr, cfg := startResolver(t)
	write(t, cfg.routes, `{"generation": 1, "pins": {"app": ["198.51.100.7"]}}`)
	eventually(t, addr, "canary", "198.51.100.7")
	write(t, cfg.routes, `{"generation": 2, "pins": {"app": ["198.51.100.7"]}, "canary": {"weight": 0}}`)
	eventually(t, addr, "canary", "192.0.2.1") // Docker's answer for the canary service
}

// srv is a weighted line's answer: "address weight" per target, sorted.
func srv(t *testing.T, addr, line string) []string {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion("_http._tcp."+line+".swiftdeploy.", dns.TypeSRV)
	answer, _, err := new(dns.Client).Exchange(q, addr)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range answer.Answer {
		s := rr.(*dns.SRV)
		if s.Port != 3000 || s.Hdr.Ttl != 0 {
			t.Errorf("%s: port %d, TTL %d; want 3000 and 0", line, s.Port, s.Hdr.Ttl)
		}
		// The target resolves to its instance's address.
		ips := lookup(t, addr, s.Target, dns.TypeA)
		if len(ips) != 1 {
			t.Fatalf("the target %s resolves to %v, want one address", s.Target, ips)
		}
		got = append(got, fmt.Sprintf("%s %d", ips[0], s.Weight))
	}
	slices.Sort(got)
	return got
}

func TestTheWeightedLinesGiveTheCanaryItsShareWhateverEachBuildsInstanceCount(t *testing.T) {
	addr, cfg := startResolver(t)
	stable := `"app": ["198.51.100.1", "198.51.100.2"]`
	canary := `"canary": ["198.51.100.9"]`
	for _, c := range []struct {
		routes                 string
		stable, canary, backup []string
	}{
		{`{"generation": 1, "pins": {` + stable + `}}`,
			[]string{"198.51.100.1 100", "198.51.100.2 100"}, []string{"198.51.100.1 1", "198.51.100.2 1"}, []string{"198.51.100.1 1", "198.51.100.2 1"}},
		{`{"generation": 2, "pins": {` + stable + `, ` + canary + `}, "canary": {"weight": 0}}`,
			[]string{"198.51.100.1 100", "198.51.100.2 100"}, []string{"198.51.100.1 1", "198.51.100.2 1"}, []string{"198.51.100.1 1", "198.51.100.2 1"}},
		// 20 %: the canary's one instance weighs 20·2 = 40 against 80·1 for each of stable's two.
		{`{"generation": 3, "pins": {` + stable + `, ` + canary + `}, "canary": {"weight": 20}}`,
			[]string{"198.51.100.1 80", "198.51.100.2 80"}, []string{"198.51.100.9 40"}, []string{"198.51.100.1 1", "198.51.100.2 1"}},
		{`{"generation": 4, "pins": {` + stable + `, ` + canary + `}, "canary": {"weight": 100}}`,
			[]string{"198.51.100.9 1"}, []string{"198.51.100.9 100"}, []string{"198.51.100.1 1", "198.51.100.2 1"}},
	} {
		write(t, cfg.routes, c.routes)
		deadline := time.Now().Add(3 * time.Second)
		for !slices.Equal(srv(t, addr, "backup"), c.backup) || !slices.Equal(srv(t, addr, "canary"), c.canary) {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for line, want := range map[string][]string{"stable": c.stable, "canary": c.canary, "backup": c.backup} {
			if got := srv(t, addr, line); !slices.Equal(got, want) {
				t.Errorf("%s: the %s line answers %v, want %v", c.routes, line, got, want)
			}
		}
	}
	if got := srv(t, addr, "other"); len(got) != 0 {
		t.Errorf("an unknown line answers %v", got)
	}
}

func TestTheServedFileSaysWhichGenerationEachLineWasAnsweredFrom(t *testing.T) {
	addr, cfg := startResolver(t)
	write(t, cfg.routes, `{"generation": 7, "pins": {"app": ["198.51.100.1"], "canary": ["198.51.100.9"]}, "canary": {"weight": 50}}`)
	eventually(t, addr, "canary", "198.51.100.9")
	srv(t, addr, "stable")
	srv(t, addr, "stable")
	srv(t, addr, "canary")
	deadline := time.Now().Add(3 * time.Second)
	for {
		var served map[string]Served
		data, _ := os.ReadFile(cfg.served)
		json.Unmarshal(data, &served)
		if served["stable"].Generation == 7 && served["stable"].Answers == 2 && served["canary"].Answers == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the served file says %s, want the stable line answered twice and the canary line once from generation 7", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestABrokenRoutesFileIsReportedAndKeepsThePreviousRoutes(t *testing.T) {
	cfg := testConfig(t.TempDir(), "127.0.0.1:9") // never asked: only pinned names are
	h := newHandler(cfg)
	reports := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.watch(ctx, 10*time.Millisecond, func(err error) { reports <- err })
	answer := func() []string {
		q := new(dns.Msg)
		q.SetQuestion("app.", dns.TypeA)
		m := h.answer(q, "udp")
		if m == nil {
			return nil
		}
		var got []string
		for _, rr := range m.Answer {
			got = append(got, rr.(*dns.A).A.String())
		}
		return got
	}
	waitFor := func(want ...string) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Second); !slices.Equal(answer(), want); {
			if time.Now().After(deadline) {
				t.Fatalf("pinned answer %v, want %v", answer(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	write(t, cfg.routes, `{"pins": {"app": ["198.51.100.7"]}}`)
	waitFor("198.51.100.7")
	write(t, cfg.routes, `{"pins": {"app": ["not-an-address"]}}`)
	select {
	case err := <-reports:
		if !strings.Contains(err.Error(), "not an IPv4 address") {
			t.Errorf("reported %v, want the bad address", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the broken routes file was not reported")
	}
	if got := answer(); !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Errorf("after a broken routes file the answer is %v, want the previous pins", got)
	}
	// The same size again, by rename: still noticed.
	write(t, cfg.routes, `{"pins": {"app": ["198.51.100.8"]}}`)
	waitFor("198.51.100.8")
}

func TestParseRoutesRefusesWhatNginxCouldNotUse(t *testing.T) {
	for in, want := range map[string]string{
		`{"pins": {"app": []}}`:           "no address",
		`{"pins": {"app": ["::1"]}}`:      "not an IPv4 address",
		`{"pins": {"app": "10.0.0.1"}}`:   "cannot unmarshal",
		`not json`:                        "invalid character",
		`{"pins": {"app": ["10.0.0.x"]}}`: "not an IPv4 address",
		`{"canary": {"weight": 101}}`:     "not a percentage",
	} {
		if _, err := parseRoutes([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseRoutes(%s) = %v, want an error saying %q", in, err, want)
		}
	}
}

func answerTTLs(t *testing.T, addr, name string, qtype uint16) []uint32 {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	answer, _, err := new(dns.Client).Exchange(q, addr)
	if err != nil {
		t.Fatal(err)
	}
	var ttls []uint32
	for _, rr := range answer.Answer {
		ttls = append(ttls, rr.Header().Ttl)
	}
	return ttls
}

func TestWhenDockersDNSDoesNotAnswerItsLastAnswerIsGivenAgain(t *testing.T) {
	upstream, stop := upstreamAnswering(t, func() bool { return true })
	h := newHandler(testConfig(t.TempDir(), upstream))
	h.client.Timeout = 200 * time.Millisecond
	ask := func(name string) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		return h.forward(q, "udp")
	}
	if m := ask("app."); len(m.Answer) != 1 {
		t.Fatalf("forwarded %v", m)
	}
	stop() // the engine restarts
	if m := ask("app."); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("with Docker's DNS down the app resolves to %v, want its last answer", m)
	}
	if m := ask("never-asked."); m.Rcode != dns.RcodeServerFailure {
		t.Errorf("a name never answered resolves to %v with Docker's DNS down, want SERVFAIL", m)
	}
	// The weighted lines keep their instances too.
	if got, _ := h.weigh(h.routes.Load(), lineStable, "udp"); len(got) != 1 || got[0].ip.String() != "192.0.2.1" {
		t.Errorf("the stable line answers %v with Docker's DNS down, want the app's last address", got)
	}
}

func TestTheStableBuildKeepsItsLastAddressesWhenDockerKnowsNoneForAWhile(t *testing.T) {
	known := atomic.Bool{}
	known.Store(true)
	upstream, _ := upstreamAnswering(t, known.Load)
	h := newHandler(testConfig(t.TempDir(), upstream))
	a := func(name string) []string {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		var got []string
		for _, rr := range h.answerOrForward(q).Answer {
			got = append(got, rr.(*dns.A).A.String())
		}
		return got
	}
	if got := a("app."); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("app resolves to %v", got)
	}
	a("canary.")
	h.routes.Store(&table{pins: map[string][]net.IP{}, canary: &Canary{Weight: 50}})
	known.Store(false)
	if got := a("app."); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("with Docker knowing no app the app resolves to %v, want its last address", got)
	}
	if got, _ := h.weigh(h.routes.Load(), lineBackup, "udp"); len(got) != 1 {
		t.Errorf("the backup line answers %v, want the stable build's last address", got)
	}
	if got := a("canary."); len(got) != 0 {
		t.Errorf("a canary Docker no longer knows resolves to %v, want nothing: it must leave nginx's pool", got)
	}
}

// answerOrForward is what ServeDNS writes for q.
func (h *handler) answerOrForward(q *dns.Msg) *dns.Msg {
	if m := h.answer(q, "udp"); m != nil {
		return m
	}
	return h.forward(q, "udp")
}
