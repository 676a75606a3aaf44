package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

type config struct {
	listen   string // address to serve DNS on, UDP and TCP
	pins     string // path of the pin file
	upstream string // the DNS server to forward to
}

// pinTTL is the TTL of a pinned answer: nginx re-resolves at its own `valid`
// pace anyway, and nothing else should cache a pin.
const pinTTL = 1

// Pins maps a name to the IPv4 addresses it must resolve to, as SwiftDeploy
// writes it: {"app": ["172.20.0.3"]}. A name not in the file is forwarded.
type Pins map[string][]string

// pinTable is the parsed pin file: fully qualified lower-case names to addresses.
type pinTable map[string][]net.IP

func parsePins(data []byte) (pinTable, error) {
	var raw Pins
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("pin file: %w", err)
	}
	table := pinTable{}
	for name, addrs := range raw {
		var ips []net.IP
		for _, a := range addrs {
			ip := net.ParseIP(a).To4()
			if ip == nil {
				return nil, fmt.Errorf("pin file: %q for %q is not an IPv4 address", a, name)
			}
			ips = append(ips, ip)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("pin file: %q has no address", name)
		}
		table[dns.Fqdn(strings.ToLower(name))] = ips
	}
	return table, nil
}

// handler answers pinned names itself and forwards everything else.
type handler struct {
	pins     atomic.Pointer[pinTable]
	upstream string
	client   *dns.Client
}

func newHandler(upstream string) *handler {
	h := &handler{upstream: upstream, client: &dns.Client{Timeout: 2 * time.Second}}
	h.pins.Store(&pinTable{})
	return h
}

func (h *handler) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	if answer := h.pinned(q); answer != nil {
		w.WriteMsg(answer)
		return
	}
	w.WriteMsg(h.forward(q, w.RemoteAddr().Network()))
}

// pinned answers q from the pin table, or returns nil when q is not about a
// pinned name. An AAAA question for a pinned name gets an empty answer.
func (h *handler) pinned(q *dns.Msg) *dns.Msg {
	if len(q.Question) != 1 {
		return nil
	}
	question := q.Question[0]
	ips, ok := (*h.pins.Load())[strings.ToLower(question.Name)]
	if !ok || question.Qclass != dns.ClassINET {
		return nil
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	if question.Qtype == dns.TypeA || question.Qtype == dns.TypeANY {
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: pinTTL},
				A:   ip,
			})
		}
	}
	return m
}

// forward asks the upstream server, over the protocol the question came in on
// (TCP again when a UDP answer was truncated); a failure is SERVFAIL.
func (h *handler) forward(q *dns.Msg, network string) *dns.Msg {
	c := *h.client
	c.Net = network
	answer, _, err := c.Exchange(q, h.upstream)
	if err == nil && answer.Truncated && network == "udp" {
		c.Net = "tcp"
		answer, _, err = c.Exchange(q, h.upstream)
	}
	if err != nil {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeServerFailure)
		return m
	}
	return answer
}

// watchPins reloads the pin file whenever it is replaced (SwiftDeploy writes
// it by rename, which two pins of the same size within a second would hide
// from a look at the size and time alone) or its time or size changes, checking every interval, until ctx ends. A missing file means no
// pins; a file that does not parse keeps the previous pins and is reported.
func (h *handler) watchPins(ctx context.Context, path string, interval time.Duration, report func(error)) {
	var last os.FileInfo
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		info, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if last != nil {
				h.pins.Store(&pinTable{})
			}
			last = nil
		case err != nil:
			report(err)
		case last == nil || !os.SameFile(info, last) || !info.ModTime().Equal(last.ModTime()) || info.Size() != last.Size():
			if err := h.load(path); err != nil {
				report(err)
			}
			last = info
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (h *handler) load(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	table, err := parsePins(data)
	if err != nil {
		return err
	}
	h.pins.Store(&table)
	return nil
}

// run serves DNS on cfg.listen over UDP and TCP until ctx ends.
func run(ctx context.Context, cfg config, pollEvery time.Duration) error {
	pc, err := net.ListenPacket("udp", cfg.listen)
	if err != nil {
		return fmt.Errorf("serve %s: %w", cfg.listen, err)
	}
	l, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		pc.Close()
		return fmt.Errorf("serve %s: %w", cfg.listen, err)
	}
	return serve(ctx, cfg, pollEvery, pc, l)
}

// serve answers DNS on pc (UDP) and l (TCP) until ctx ends.
func serve(ctx context.Context, cfg config, pollEvery time.Duration, pc net.PacketConn, l net.Listener) error {
	h := newHandler(cfg.upstream)
	go h.watchPins(ctx, cfg.pins, pollEvery, func(err error) { fmt.Fprintln(os.Stderr, "swiftdeploy-resolver:", err) })
	servers := []*dns.Server{
		{PacketConn: pc, Handler: h},
		{Listener: l, Handler: h},
	}
	failed := make(chan error, len(servers))
	for _, s := range servers {
		go func() { failed <- s.ActivateAndServe() }()
	}
	select {
	case err := <-failed:
		return fmt.Errorf("serve %s: %w", pc.LocalAddr(), err)
	case <-ctx.Done():
	}
	for _, s := range servers {
		s.Shutdown()
	}
	return nil
}
