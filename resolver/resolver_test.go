package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeUpstream answers every A question with 192.0.2.1 (a documentation
// address), as Docker's embedded DNS would answer with the app's address.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 600}, A: net.ParseIP("192.0.2.1")})
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// startResolver runs the resolver on a free loopback port with its pin file in
// a temporary folder.
func startResolver(t *testing.T) (addr, pins string) {
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
	pins = filepath.Join(t.TempDir(), "pins.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, config{listen: addr, pins: pins, upstream: fakeUpstream(t)}, 10*time.Millisecond, pc, l)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return addr, pins
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

func TestUnpinnedNamesAreForwardedAndPinnedOnesAnsweredFromThePinFile(t *testing.T) {
	addr, pins := startResolver(t)
	eventually(t, addr, "app", "192.0.2.1")

	write(t, pins, `{"app": ["198.51.100.7", "198.51.100.8"]}`)
	eventually(t, addr, "app", "198.51.100.7", "198.51.100.8")
	eventually(t, addr, "APP.", "198.51.100.7", "198.51.100.8")
	eventually(t, addr, "nginx", "192.0.2.1")
	if got := lookup(t, addr, "app", dns.TypeAAAA); len(got) != 0 {
		t.Errorf("AAAA for a pinned name answered %v, want nothing", got)
	}

	write(t, pins, `{"app": ["198.51.100.8"]}`)
	eventually(t, addr, "app", "198.51.100.8")

	if err := os.Remove(pins); err != nil {
		t.Fatal(err)
	}
	eventually(t, addr, "app", "192.0.2.1")
}

func TestABrokenPinFileIsReportedAndKeepsThePreviousPins(t *testing.T) {
	pins := filepath.Join(t.TempDir(), "pins.json")
	h := newHandler("127.0.0.1:9") // never asked: only pinned names are
	reports := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.watchPins(ctx, pins, 10*time.Millisecond, func(err error) { reports <- err })
	answer := func() []string {
		q := new(dns.Msg)
		q.SetQuestion("app.", dns.TypeA)
		m := h.pinned(q)
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
	write(t, pins, `{"app": ["198.51.100.7"]}`)
	waitFor("198.51.100.7")
	write(t, pins, `{"app": ["not-an-address"]}`)
	select {
	case err := <-reports:
		if !strings.Contains(err.Error(), "not an IPv4 address") {
			t.Errorf("reported %v, want the bad address", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the broken pin file was not reported")
	}
	if got := answer(); !slices.Equal(got, []string{"198.51.100.7"}) {
		t.Errorf("after a broken pin file the answer is %v, want the previous pins", got)
	}
	// The same size again, by rename: still noticed.
	write(t, pins, `{"app": ["198.51.100.8"]}`)
	waitFor("198.51.100.8")
}

func TestParsePinsRefusesWhatNginxCouldNotUse(t *testing.T) {
	for in, want := range map[string]string{
		`{"app": []}`:           "no address",
		`{"app": ["::1"]}`:      "not an IPv4 address",
		`{"app": "10.0.0.1"}`:   "cannot unmarshal",
		`not json`:              "invalid character",
		`{"app": ["10.0.0.x"]}`: "not an IPv4 address",
	} {
		if _, err := parsePins([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parsePins(%s) = %v, want an error saying %q", in, err, want)
		}
	}
}
