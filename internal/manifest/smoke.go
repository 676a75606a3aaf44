package manifest

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/swiftdeploy/swiftdeploy/internal/routelog"
	"go.yaml.in/yaml/v3"
)

// Smoke is rollout.smoke: requests SwiftDeploy sends itself to each build
// (the canary and the stable one) during every step of a canary release,
// through nginx's admin listener, so that a quiet service's steps have
// enough requests to judge. Flagger's load tester, built in.
type Smoke struct {
	// Requests are sent in turn, the same to each build.
	Requests []SmokeRequest
	// Rate is how many requests per second each build gets.
	Rate float64
	// Headers go with every request, in the order written. Their values
	// are never printed or recorded.
	Headers []Header
}

// SmokeRequest is one request of rollout.smoke.paths: GET or HEAD, so that
// sending it again and again changes nothing.
type SmokeRequest struct {
	Method string // http.MethodGet or http.MethodHead
	Path   string // the path and query, as sent
}

// String is "GET /v1/items?limit=5".
func (r SmokeRequest) String() string { return r.Method + " " + r.Path }

// Header is a request header of rollout.smoke.headers.
type Header struct{ Name, Value string }

// Limits of rollout.smoke.
const (
	DefaultSmokeRate = 1
	// MinSmokeRate is one request every 100 s: below it a step hardly
	// sees one. MaxSmokeRate keeps smoke traffic what it is for, a few
	// requests a second to show a build's behaviour, not a load test.
	MinSmokeRate    = 0.01
	MaxSmokeRate    = 100
	maxSmokePaths   = 20
	maxSmokeHeaders = 20
	maxSmokePath    = 1024
	maxHeaderValue  = 4096
)

func (c *checker) smoke(n *yaml.Node, path string) *Smoke {
	s := &Smoke{Rate: DefaultSmokeRate}
	c.mapping(n, path, []field{
		{"paths", true, func(c *checker, n *yaml.Node, p string) { s.Requests = c.smokePaths(n, p) }},
		{"rate", false, func(c *checker, n *yaml.Node, p string) { s.Rate = c.smokeRate(n, p) }},
		{"headers", false, func(c *checker, n *yaml.Node, p string) { s.Headers = c.headers(n, p) }},
	})
	return s
}

// smokeFits checks rollout.smoke against the rest of the rollout.
func (c *checker) smokeFits(m *Manifest, n *yaml.Node) {
	if n != nil && m.Rollout.Strategy == StrategySwitch {
		c.report(n, "rollout.smoke", "is sent during the steps of a canary release, and strategy: switch has none: remove it, or use strategy: canary")
	}
}

func (c *checker) smokePaths(n *yaml.Node, path string) []SmokeRequest {
	const want = "a list of requests such as [/, HEAD /v1/items?limit=5]"
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 || len(n.Content) > maxSmokePaths {
		c.report(n, path, "must be %s (1 to %d of them), got %s", want, maxSmokePaths, describe(n))
		return nil
	}
	var out []SmokeRequest
	seen := map[SmokeRequest]int{}
	for i, item := range n.Content {
		ipath := fmt.Sprintf("%s[%d]", path, i)
		if item.Kind != yaml.ScalarNode || item.ShortTag() != "!!str" {
			c.report(item, ipath, "must be a request such as / or HEAD /v1/items, got %s", describe(item))
			continue
		}
		r, problem := ParseSmokeRequest(item.Value)
		if problem != "" {
			c.report(item, ipath, "%s, got %q", problem, truncate(item.Value, 60))
			continue
		}
		if first, dup := seen[r]; dup {
			c.report(item, ipath, "%s is listed twice (first at line %d)", r, first)
			continue
		}
		seen[r] = item.Line
		out = append(out, r)
	}
	return out
}

// safeMethods are the methods a smoke request may use: sending them again
// and again changes nothing on the server.
var safeMethods = []string{http.MethodGet, http.MethodHead}

// ParseSmokeRequest reads "/path?query" (a GET) or "METHOD /path?query",
// or says what is wrong with it.
func ParseSmokeRequest(s string) (SmokeRequest, string) {
	r := SmokeRequest{Method: http.MethodGet, Path: s}
	if method, p, ok := strings.Cut(s, " "); ok && !strings.HasPrefix(s, "/") {
		r.Method, r.Path = method, p
	}
	switch {
	case !contains(safeMethods, r.Method) && httpMethod.MatchString(r.Method):
		return r, fmt.Sprintf("must be safe to repeat: smoke requests are GET or HEAD only, not %s (SwiftDeploy sends each many times, to both builds)", r.Method)
	case !contains(safeMethods, r.Method):
		return r, "must be a path such as /v1/items, or GET or HEAD then a space and the path"
	case len(r.Path) > maxSmokePath || !requestTarget.MatchString(r.Path) || strings.HasPrefix(r.Path, "//") || dotSegment(r.Path):
		return r, fmt.Sprintf("must be a path starting with / (then letters, digits and -._~!$&'()*+,;=:@/%%, an optional ?query; no spaces, '#', '..' or '.' segments; at most %d characters)", maxSmokePath)
	}
	p, _, _ := strings.Cut(r.Path, "?")
	if routelog.Excluded(p) {
		return r, "is never judged (probes and SwiftDeploy's own calls are left out of a step's figures): name a path of the application"
	}
	return r, ""
}

var (
	httpMethod = regexp.MustCompile(`^[A-Z]+$`)
	// requestTarget is RFC 3986's path-absolute with an optional query:
	// unreserved and sub-delims characters, ':', '@', '/', and %XX escapes.
	requestTarget = regexp.MustCompile(`^/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*(?:\?(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?$`)
	hostHeader    = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
	// headerName is RFC 9110's token.
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

func dotSegment(p string) bool {
	p, _, _ = strings.Cut(p, "?")
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func (c *checker) smokeRate(n *yaml.Node, path string) float64 {
	if v, ok := number(n); ok && v >= MinSmokeRate && v <= MaxSmokeRate {
		return v
	}
	c.report(n, path, "must be a number of requests per second to each build, from %s to %d (such as 0.5 or 5), got %s", strconv.FormatFloat(MinSmokeRate, 'f', -1, 64), MaxSmokeRate, describe(n))
	return 0
}

// reservedHeaders are headers a smoke request may not set: the ones that
// frame the request or the connection, and the ones SwiftDeploy sets to pin
// it to a build and mark it as smoke.
var reservedHeaders = map[string]string{
	"Connection": "frames the connection", "Content-Length": "frames the request", "Transfer-Encoding": "frames the request",
	"Te": "frames the connection", "Trailer": "frames the request", "Upgrade": "frames the connection",
	"Keep-Alive": "frames the connection", "Proxy-Connection": "frames the connection", "Expect": "frames the request",
	"X-Canary": "SwiftDeploy sets it to send each request to one build", SmokeHeader: "SwiftDeploy sets it to mark its own requests",
}

// SmokeHeader marks SwiftDeploy's smoke requests; nginx logs it for the
// ones that came in on its admin listener.
const SmokeHeader = "X-Swiftdeploy-Smoke"

func (c *checker) headers(n *yaml.Node, path string) []Header {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode || len(n.Content)/2 > maxSmokeHeaders {
		c.report(n, path, "must be a mapping of header names to values, such as {Accept: application/json} (at most %d), got %s", maxSmokeHeaders, describe(n))
		return nil
	}
	var out []Header
	seen := map[string]int{}
	for _, e := range c.entries(n, path) {
		hpath := join(path, e.key)
		name := http.CanonicalHeaderKey(e.key)
		switch {
		case !headerName.MatchString(e.key) || len(e.key) > 64:
			c.report(e.keyNode, hpath, "must be a header name (letters, digits and !#$%%&'*+.^_`|~-, at most 64 characters), got %q", truncate(e.key, 60))
			continue
		case reservedHeaders[name] != "":
			c.report(e.keyNode, hpath, "cannot be set: %s", reservedHeaders[name])
			continue
		case seen[name] != 0:
			c.report(e.keyNode, hpath, "is the header given at line %d (header names ignore case)", seen[name])
			continue
		}
		seen[name] = e.keyNode.Line
		v := e.value
		if v.Kind != yaml.ScalarNode || isNull(v) || v.ShortTag() == "!!bool" || !headerValue(v.Value) {
			// The value may be a secret: it is not repeated in the message.
			c.report(v, hpath, "must be a header value: text of at most %d characters without control characters (quote it)", maxHeaderValue)
			continue
		}
		if name == "Host" && !hostHeader.MatchString(v.Value) {
			c.report(v, hpath, "must be a host name or address, with an optional :port, such as shop.example.com, got %q", truncate(v.Value, 60))
			continue
		}
		out = append(out, Header{Name: name, Value: v.Value})
	}
	return out
}

func headerValue(s string) bool {
	if len(s) > maxHeaderValue {
		return false
	}
	for _, r := range s {
		if r < ' ' && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}
