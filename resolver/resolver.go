package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

type config struct {
	listen   string // address to serve DNS on, UDP and TCP
	routes   string // path of the routes file SwiftDeploy writes
	served   string // path of the file the resolver says what it served in ("": nowhere)
	upstream string // the DNS server to forward to
	app      string // the app's name on the stack's network (the compose service)
	canary   string // the canary build's name on it
	port     int    // the app's port, in the SRV records
	zone     string // the names only this resolver answers: the weighted lines and their targets
}

// ttl is the TTL of every answer: nginx asks again one second after an
// answer with TTL 0 (ngx_http_upstream_zone_resolve_handler), so a pin or
// a weight reaches it within a second, and nothing else may cache one.
const ttl = 0

// Routes is the file SwiftDeploy writes: which addresses a name must
// resolve to (pins), and the canary release under way, if any, with the
// canary's share of requests. Each write has a new generation.
type Routes struct {
	Generation int64               `json:"generation"`
	Pins       map[string][]string `json:"pins,omitempty"`
	Canary     *Canary             `json:"canary,omitempty"`
}

// Canary is a release under way: the canary build runs, and gets Weight %
// of the requests nginx weighs (0-100).
type Canary struct {
	Weight int `json:"weight"`
}

// table is a parsed routes file: pins by fully qualified lower-case name.
type table struct {
	generation int64
	pins       map[string][]net.IP
	canary     *Canary
}

func parseRoutes(data []byte) (*table, error) {
	var raw Routes
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("routes file: %w", err)
	}
	t := &table{generation: raw.Generation, pins: map[string][]net.IP{}, canary: raw.Canary}
	if c := raw.Canary; c != nil && (c.Weight < 0 || c.Weight > 100) {
		return nil, fmt.Errorf("routes file: a canary weight of %d is not a percentage", c.Weight)
	}
	for name, addrs := range raw.Pins {
		var ips []net.IP
		for _, a := range addrs {
			ip := net.ParseIP(a).To4()
			if ip == nil {
				return nil, fmt.Errorf("routes file: %q for %q is not an IPv4 address", a, name)
			}
			ips = append(ips, ip)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("routes file: %q has no address", name)
		}
		t.pins[dns.Fqdn(strings.ToLower(name))] = ips
	}
	return t, nil
}

// The weighted lines of nginx's `app` upstream, each asked as
// _http._tcp.LINE.ZONE: the stable build, the canary build, and the
// stable build again as the backup for a canary that fails.
const (
	lineStable = "stable"
	lineCanary = "canary"
	lineBackup = "backup"
)

// handler answers the zone's names and pinned names itself and forwards
// everything else.
type handler struct {
	cfg    config
	zone   string // fully qualified
	routes atomic.Pointer[table]
	client *dns.Client
	served *servedLog
	// lastAnswers holds the upstream's last good answer to each question
	// (name/type), for when it does not answer.
	lastAnswers sync.Map
	// lastApp is the stable build's last addresses Docker gave ([]net.IP).
	lastApp atomic.Value
}

func newHandler(cfg config) *handler {
	h := &handler{cfg: cfg, zone: dns.Fqdn(strings.ToLower(cfg.zone)), client: &dns.Client{Timeout: 2 * time.Second}, served: newServedLog()}
	h.routes.Store(&table{pins: map[string][]net.IP{}})
	return h
}

func (h *handler) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	if answer := h.answer(q, w.RemoteAddr().Network()); answer != nil {
		w.WriteMsg(answer)
		return
	}
	w.WriteMsg(h.forward(q, w.RemoteAddr().Network()))
}

// answer answers q itself, or returns nil when q is for Docker's DNS: a
// name of the zone (a weighted line, or one of its targets), a pinned
// name, or the canary's name outside a release (it stands for the stable
// build then, so that nginx's canary pool is never empty).
func (h *handler) answer(q *dns.Msg, network string) *dns.Msg {
	if len(q.Question) != 1 || q.Question[0].Qclass != dns.ClassINET {
		return nil
	}
	question := q.Question[0]
	name := strings.ToLower(question.Name)
	t := h.routes.Load()
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	switch {
	case strings.HasSuffix(name, "."+h.zone):
		local := strings.TrimSuffix(name, "."+h.zone)
		if line, ok := strings.CutPrefix(local, "_http._tcp."); ok {
			if question.Qtype != dns.TypeSRV && question.Qtype != dns.TypeANY {
				return m
			}
			targets, ok := h.weigh(t, line, network)
			if !ok {
				m.Rcode = dns.RcodeNameError
				return m
			}
			for _, tg := range targets {
				m.Answer = append(m.Answer, &dns.SRV{
					Hdr:      dns.RR_Header{Name: question.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl},
					Priority: 10, Weight: tg.weight, Port: uint16(h.cfg.port), Target: targetName(tg.ip, h.zone),
				})
			}
			h.served.answered(line, t.generation)
			return m
		}
		ip := targetIP(local)
		if ip == nil {
			m.Rcode = dns.RcodeNameError
			return m
		}
		return withA(m, question, []net.IP{ip})
	case t.pins[name] != nil:
		return withA(m, question, t.pins[name])
	case name == dns.Fqdn(strings.ToLower(h.cfg.app)):
		return withA(m, question, h.addrs(t, h.cfg.app, network))
	case name == dns.Fqdn(h.cfg.canary) && t.canary == nil:
		return withA(m, question, h.addrs(t, h.cfg.app, network))
	}
	return nil
}

// withA answers question with ips when it asks for A records (an AAAA
// question gets an empty answer: the stack is IPv4).
func withA(m *dns.Msg, question dns.Question, ips []net.IP) *dns.Msg {
	if question.Qtype == dns.TypeA || question.Qtype == dns.TypeANY {
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip})
		}
	}
	return m
}

type target struct {
	ip     net.IP
	weight uint16
}

// weigh gives a weighted line's targets, each instance of a build its own
// (nginx applies an SRV weight to each address of a target: one address
// per target keeps the weights exact whatever each build's instance
// count). nginx shares requests over all the lines' peers in proportion to
// their weights (one smooth weighted round robin), and an SRV weight of 0
// counts as 1 there: a build that gets no share is left out instead, and a
// line with no share "parks" on the other build's instances, so that no
// line ever resolves to nothing (nginx would log it every second).
//
//	          stable line                canary line              backup line
//	steady    stable, 100 each           parked: stable, 1 each   stable
//	w %       stable, (100-w)·canaries   canary, w·stables        stable
//	100 %     parked: canary, 1 each     canary, 100 each         stable
//
// A parked line weighs 1 against 100, so that a request whose connection
// to an instance failed is retried on another instance, not on the same
// one through the parked line, unless it is the only one.
//
// A canary at 0 % (starting), or one that does not resolve, leaves the
// steady answers.
func (h *handler) weigh(t *table, line, network string) ([]target, bool) {
	stable := h.addrs(t, h.cfg.app, network)
	var canary []net.IP
	w := 0
	if t.canary != nil && t.canary.Weight > 0 {
		if canary = h.addrs(t, h.cfg.canary, network); len(canary) > 0 {
			w = t.canary.Weight
		}
	}
	each := func(ips []net.IP, weight int) []target {
		out := make([]target, len(ips))
		for n, ip := range ips {
			out[n] = target{ip: ip, weight: uint16(max(weight, 1))}
		}
		return out
	}
	switch line {
	case lineStable:
		switch {
		case w == 100:
			return each(canary, 1), true
		case w > 0:
			return each(stable, (100-w)*len(canary)), true
		}
		return each(stable, 100), true
	case lineCanary:
		if w > 0 && w < 100 {
			return each(canary, w*max(len(stable), 1)), true
		}
		if w == 100 {
			return each(canary, 100), true
		}
		return each(stable, 1), true
	case lineBackup:
		return each(stable, 1), true
	}
	return nil, false
}

// addrs resolves name as nginx would: its pins, else Docker's answer.
func (h *handler) addrs(t *table, name, network string) []net.IP {
	fqdn := dns.Fqdn(strings.ToLower(name))
	if pinned := t.pins[fqdn]; pinned != nil {
		return pinned
	}
	q := new(dns.Msg)
	q.SetQuestion(fqdn, dns.TypeA)
	var ips []net.IP
	for _, rr := range h.forward(q, network).Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A)
		}
	}
	slices.SortFunc(ips, func(a, b net.IP) int { return strings.Compare(a.String(), b.String()) })
	// The stable build never resolves to nothing while it had addresses:
	// while the engine restarts, Docker's DNS answers before it knows the
	// containers again, which would empty nginx's pools. If it is really
	// gone there is nothing else to send requests to anyway. The canary gets
	// no such grace: one that died must leave nginx's pool.
	if fqdn == dns.Fqdn(strings.ToLower(h.cfg.app)) {
		if len(ips) == 0 {
			if last, ok := h.lastApp.Load().([]net.IP); ok {
				return last
			}
		} else {
			h.lastApp.Store(ips)
		}
	}
	return ips
}

// targetName is the zone's name for one instance's address:
// i-172-20-0-3.ZONE.
func targetName(ip net.IP, zone string) string {
	return "i-" + strings.ReplaceAll(ip.String(), ".", "-") + "." + zone
}

// targetIP reads the address back from a target's name (without the zone).
func targetIP(local string) net.IP {
	rest, ok := strings.CutPrefix(local, "i-")
	if !ok {
		return nil
	}
	return net.ParseIP(strings.ReplaceAll(rest, "-", ".")).To4()
}

// forward asks the upstream server, over the protocol the question came in on
// (TCP again when a UDP answer was truncated). The answer's TTLs become 0, so
// that nginx follows Docker's view as closely as the pins. When the upstream
// does not answer (Docker's DNS is served by the engine, which may be
// restarting while the containers run on), the last answer it gave to the
// same question is given again: nginx keeps the app's addresses, and the
// stack serves through the restart. With no earlier answer it is SERVFAIL.
func (h *handler) forward(q *dns.Msg, network string) *dns.Msg {
	c := *h.client
	c.Net = network
	answer, _, err := c.Exchange(q, h.cfg.upstream)
	if err == nil && answer.Truncated && network == "udp" {
		c.Net = "tcp"
		answer, _, err = c.Exchange(q, h.cfg.upstream)
	}
	key := ""
	if len(q.Question) == 1 {
		key = fmt.Sprintf("%s/%d", strings.ToLower(q.Question[0].Name), q.Question[0].Qtype)
	}
	if err != nil || answer.Rcode == dns.RcodeServerFailure {
		if last, ok := h.lastAnswers.Load(key); ok && key != "" {
			m := last.(*dns.Msg).Copy()
			m.Id = q.Id
			return m
		}
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeServerFailure)
		return m
	}
	for _, rr := range answer.Answer {
		rr.Header().Ttl = ttl
	}
	if key != "" && answer.Rcode == dns.RcodeSuccess {
		h.lastAnswers.Store(key, answer.Copy())
	}
	return answer
}

// servedLog counts, for each weighted line, the questions answered from
// each generation of the routes file. nginx asks a line again one second
// after it applied an answer (a failed or unanswered question is asked
// again after resolver_timeout instead), so a second question answered
// from a generation proves that nginx routes by it: SwiftDeploy waits for
// that proof (the served file) before it relies on a new weight.
type servedLog struct {
	mu    sync.Mutex
	lines map[string]Served
	dirty bool
}

// Served is what the resolver last answered for one weighted line: from
// which generation, how many times since that generation came, and when
// last.
type Served struct {
	Generation int64     `json:"generation"`
	Answers    int       `json:"answers"`
	Last       time.Time `json:"last"`
}

func newServedLog() *servedLog { return &servedLog{lines: map[string]Served{}} }

func (s *servedLog) answered(line string, generation int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lines[line]
	if l.Generation != generation {
		l = Served{Generation: generation}
	}
	l.Answers++
	l.Last = time.Now().UTC()
	s.lines[line], s.dirty = l, true
}

// write writes the served lines to path (atomically) when they changed.
func (s *servedLog) write(path string) error {
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	data, err := json.Marshal(s.lines)
	s.dirty = false
	s.mu.Unlock()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".served-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// watch reloads the routes file whenever it is replaced (SwiftDeploy writes
// it by rename, which two files of the same size within a second would hide
// from a look at the size and time alone) or its time or size changes, and
// writes the served file when it changed, every interval, until ctx ends. A
// missing routes file means no pins and no release; a file that does not
// parse keeps the previous routes and is reported.
func (h *handler) watch(ctx context.Context, interval time.Duration, report func(error)) {
	var last os.FileInfo
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		info, err := os.Stat(h.cfg.routes)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if last != nil {
				h.routes.Store(&table{pins: map[string][]net.IP{}})
			}
			last = nil
		case err != nil:
			report(err)
		case last == nil || !os.SameFile(info, last) || !info.ModTime().Equal(last.ModTime()) || info.Size() != last.Size():
			if err := h.load(); err != nil {
				report(err)
			}
			last = info
		}
		if h.cfg.served != "" {
			if err := h.served.write(h.cfg.served); err != nil {
				report(err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (h *handler) load() error {
	data, err := os.ReadFile(h.cfg.routes)
	if err != nil {
		return err
	}
	t, err := parseRoutes(data)
	if err != nil {
		return err
	}
	h.routes.Store(t)
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

// serve answers DNS on pc (UDP) and l (TCP) until ctx ends. It returns
// once the routes watch has stopped too, so that no write of the served
// file outlives it (a test's folder was removed under one).
func serve(ctx context.Context, cfg config, pollEvery time.Duration, pc net.PacketConn, l net.Listener) error {
	h := newHandler(cfg)
	ctx, cancel := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		h.watch(ctx, pollEvery, func(err error) { fmt.Fprintln(os.Stderr, "swiftdeploy-resolver:", err) })
	}()
	defer func() { cancel(); <-watching }()
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
