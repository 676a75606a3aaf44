package manifest

import (
	"net/url"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// TLS modes of edge.tls.mode.
const (
	TLSACME  = "acme"  // certificates from an ACME CA, obtained and renewed by SwiftDeploy
	TLSFiles = "files" // the operator's own certificate and key
	TLSOff   = "off"   // plain HTTP on the edge's HTTP port, no redirect
)

// ACME directories: Let's Encrypt's production (the default) and staging.
const (
	LetsEncryptDirectory        = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStagingDirectory = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// Default ports of the edge on the host.
const (
	DefaultEdgeHTTPPort  = 80
	DefaultEdgeHTTPSPort = 443
)

// Edge says that the host's edge serves this stack: it terminates TLS on
// HTTPSPort, redirects HTTPPort to it, and routes requests for Hosts to this
// stack's nginx. nil in a Manifest without an edge section.
type Edge struct {
	Hosts []string
	// HTTPPort and HTTPSPort are the edge's ports on the host. The edge is
	// one per host, so every stack it serves names the same ports.
	HTTPPort  int
	HTTPSPort int
	// HSTS adds Strict-Transport-Security to this app's HTTPS answers.
	HSTS bool
	TLS  EdgeTLS
}

// EdgeTLS is how the edge gets this app's certificates.
type EdgeTLS struct {
	Mode string // TLSACME, TLSFiles or TLSOff
	// Directory is the ACME directory URL (TLSACME).
	Directory string
	// Email is the ACME account's contact ("" for none).
	Email string
	// CAFile is a PEM file of roots to trust for the ACME directory's own
	// HTTPS (a private CA such as pebble or step-ca), relative to the
	// project folder; "" trusts the system's roots.
	CAFile string
	// Cert and Key are the operator's PEM files (TLSFiles), relative to the
	// project folder: the certificate chain, leaf first, and its key.
	Cert, Key string
}

// HTTPS reports whether the edge serves this app over HTTPS.
func (e *Edge) HTTPS() bool { return e != nil && e.TLS.Mode != TLSOff }

func (c *checker) edge(n *yaml.Node, path string, m *Manifest) {
	e := &Edge{HTTPPort: DefaultEdgeHTTPPort, HTTPSPort: DefaultEdgeHTTPSPort, TLS: EdgeTLS{Mode: TLSACME}}
	m.Edge = e
	var staging *yaml.Node
	var portNodes []*yaml.Node
	t := &e.TLS
	tls := []field{
		{"mode", false, func(c *checker, n *yaml.Node, p string) { t.Mode = c.text(n, p, tlsModeRule) }},
		{"directory", false, func(c *checker, n *yaml.Node, p string) { t.Directory = c.text(n, p, directoryRule) }},
		{"staging", false, func(c *checker, n *yaml.Node, p string) {
			if c.boolean(n, p) {
				staging = n
			}
		}},
		{"email", false, func(c *checker, n *yaml.Node, p string) { t.Email = c.text(n, p, emailRule) }},
		{"ca_file", false, func(c *checker, n *yaml.Node, p string) { t.CAFile = c.text(n, p, projectFileRule) }},
		{"cert", false, func(c *checker, n *yaml.Node, p string) { t.Cert = c.text(n, p, projectFileRule) }},
		{"key", false, func(c *checker, n *yaml.Node, p string) { t.Key = c.text(n, p, projectFileRule) }},
	}
	var tlsNode *yaml.Node
	fields := []field{
		{"hosts", true, func(c *checker, n *yaml.Node, p string) { e.Hosts = c.hostNames(n, p) }},
		{"http_port", false, func(c *checker, n *yaml.Node, p string) {
			e.HTTPPort = c.integer(n, p, 1, 65535, "")
			portNodes = append(portNodes, n)
		}},
		{"https_port", false, func(c *checker, n *yaml.Node, p string) {
			e.HTTPSPort = c.integer(n, p, 1, 65535, "")
			portNodes = append(portNodes, n)
		}},
		{"hsts", false, func(c *checker, n *yaml.Node, p string) { e.HSTS = c.boolean(n, p) }},
		{"tls", false, func(c *checker, n *yaml.Node, p string) { tlsNode = n; c.mapping(n, p, tls) }},
	}
	c.mapping(n, path, fields)
	if tlsNode == nil {
		tlsNode = n
	}
	if e.HTTPPort != 0 && e.HTTPPort == e.HTTPSPort {
		at := n
		if len(portNodes) > 0 {
			at = portNodes[len(portNodes)-1]
		}
		c.report(at, path+".https_port", "must differ from edge.http_port (%d)", e.HTTPPort)
	}
	switch t.Mode {
	case TLSACME:
		if t.Directory == "" {
			t.Directory = LetsEncryptDirectory
			if staging != nil {
				t.Directory = LetsEncryptStagingDirectory
			}
		} else if staging != nil {
			c.report(staging, path+".tls.staging", "says Let's Encrypt's staging directory, but edge.tls.directory names another: keep one")
		}
		if t.Cert != "" || t.Key != "" {
			c.report(tlsNode, path+".tls", "cert and key are for mode: files; with mode: acme SwiftDeploy obtains the certificate")
		}
	case TLSFiles:
		if t.Cert == "" || t.Key == "" {
			c.report(tlsNode, path+".tls", "mode: files needs both cert and key (PEM files in the project folder)")
		}
		if t.Directory != "" || staging != nil || t.Email != "" || t.CAFile != "" {
			c.report(tlsNode, path+".tls", "directory, staging, email and ca_file are for mode: acme")
		}
	case TLSOff:
		if e.HSTS {
			c.report(n, path+".hsts", "needs HTTPS: HSTS with edge.tls.mode: off would tell browsers to use a port that does not serve this app")
		}
	}
}

// hostNames checks a list of DNS host names: lower case, no wildcard, no
// repeats.
func (c *checker) hostNames(n *yaml.Node, path string) []string {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		c.report(n, path, "must be a list of host names, such as [shop.example.com], got %s", describe(n))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		name := c.text(item, path, hostNameRule)
		if name == "" {
			continue
		}
		if contains(out, name) {
			c.report(item, path, "%q is listed twice", name)
			continue
		}
		out = append(out, name)
	}
	return out
}

// ValidHostName reports whether s is a host name the edge can route and an
// ACME CA can validate over HTTP-01: lower-case letters, digits and hyphens
// in dot-separated labels of 1-63 characters, at least two labels, no
// wildcard, and not an IP address.
func ValidHostName(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != "" // 10.0.0.1 is an address, not a name
}

var (
	hostNameRule  = textRule{"a lower-case DNS host name such as shop.example.com (no wildcard, no IP address)", ValidHostName}
	tlsModeRule   = textRule{"one of acme, files, off", oneOf(TLSACME, TLSFiles, TLSOff)}
	directoryRule = textRule{"an https:// ACME directory URL", func(s string) bool {
		u, err := url.Parse(s)
		return err == nil && u.Scheme == "https" && u.Host != ""
	}}
	emailRule = textRule{"an email address such as ops@example.com", func(s string) bool {
		at := strings.IndexByte(s, '@')
		return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n\"'<>,;") && strings.Count(s, "@") == 1
	}}
	projectFileRule = textRule{"a path inside the project folder, such as certs/shop.pem", func(s string) bool {
		if s == "" || filepath.IsAbs(s) || strings.ContainsAny(s, "\x00\r\n") {
			return false
		}
		clean := filepath.Clean(s)
		return clean != ".." && !strings.HasPrefix(clean, "../")
	}}
)

// edgeFits checks the edge against the rest of the manifest; n is where the
// edge section was written (nil when it was not).
func (c *checker) edgeFits(m *Manifest, n *yaml.Node) {
	if m.Edge == nil || n == nil {
		return
	}
	for _, p := range []int{m.Edge.HTTPPort, m.Edge.HTTPSPort} {
		if p != 0 && p == m.Nginx.Port {
			c.report(n, "edge", "port %d is both nginx.port and an edge port: with an edge, nginx.port is the stack's own port on this host's loopback; pick another", p)
		}
	}
}
