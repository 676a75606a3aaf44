package manifest

import (
	"reflect"
	"strings"
	"testing"
)

func TestAnEdgeSectionGetsItsDefaults(t *testing.T) {
	m, err := Parse("manifest.yaml", []byte(minimal+"edge:\n  hosts: [shop.example.com, www.shop.example.com]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Edge{Hosts: []string{"shop.example.com", "www.shop.example.com"}, HTTPPort: 80, HTTPSPort: 443,
		TLS: EdgeTLS{Mode: TLSACME, Directory: LetsEncryptDirectory}}
	if !reflect.DeepEqual(m.Edge, want) {
		t.Errorf("got  %+v\nwant %+v", m.Edge, want)
	}
	if !m.Edge.HTTPS() {
		t.Error("an acme edge does not serve HTTPS")
	}
	if m2, _ := Parse("manifest.yaml", []byte(minimal)); m2.Edge != nil || m2.Edge.HTTPS() {
		t.Errorf("a manifest without an edge section has edge %+v", m2.Edge)
	}
}

func TestEdgeSettingsAreReadAsWritten(t *testing.T) {
	m, err := Parse("manifest.yaml", []byte(minimal+`edge:
  hosts: [a.test]
  http_port: 8081
  https_port: 8443
  hsts: true
  tls:
    mode: acme
    staging: true
    email: ops@example.com
    ca_file: certs/ca.pem
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Edge{Hosts: []string{"a.test"}, HTTPPort: 8081, HTTPSPort: 8443, HSTS: true,
		TLS: EdgeTLS{Mode: TLSACME, Directory: LetsEncryptStagingDirectory, Email: "ops@example.com", CAFile: "certs/ca.pem"}}
	if !reflect.DeepEqual(m.Edge, want) {
		t.Errorf("got  %+v\nwant %+v", m.Edge, want)
	}
}

func TestEdgeMistakesAreReportedAtTheirField(t *testing.T) {
	cases := []struct{ edge, want string }{
		{"edge:\n  hosts: []\n", "edge.hosts: must be a list of host names"},
		{"edge:\n  tls: {mode: off}\n", "edge.hosts: required field is missing"},
		{"edge:\n  hosts: [Shop.Example.com]\n", `edge.hosts: must be a lower-case DNS host name`},
		{"edge:\n  hosts: ['*.example.com']\n", `edge.hosts: must be a lower-case DNS host name`},
		{"edge:\n  hosts: [10.0.0.1]\n", `edge.hosts: must be a lower-case DNS host name`},
		{"edge:\n  hosts: [localhost]\n", `edge.hosts: must be a lower-case DNS host name`},
		{"edge:\n  hosts: [a.test, a.test]\n", `edge.hosts: "a.test" is listed twice`},
		{"edge:\n  hosts: [a.test]\n  https_port: 80\n", "edge.https_port: must differ from edge.http_port (80)"},
		{"edge:\n  hosts: [a.test]\n  http_port: 8080\n", "port 8080 is both nginx.port and an edge port"},
		{"edge:\n  hosts: [a.test]\n  tls: {mode: files}\n", "mode: files needs both cert and key"},
		{"edge:\n  hosts: [a.test]\n  tls: {mode: files, cert: a.pem, key: a.key, email: x@y.z}\n", "directory, staging, email and ca_file are for mode: acme"},
		{"edge:\n  hosts: [a.test]\n  tls: {cert: a.pem}\n", "cert and key are for mode: files"},
		{"edge:\n  hosts: [a.test]\n  tls: {directory: 'http://ca.test/dir'}\n", "edge.tls.directory: must be an https:// ACME directory URL"},
		{"edge:\n  hosts: [a.test]\n  tls: {directory: 'https://ca.test/dir', staging: true}\n", "names another: keep one"},
		{"edge:\n  hosts: [a.test]\n  tls: {mode: files, cert: /etc/a.pem, key: a.key}\n", "edge.tls.cert: must be a path inside the project folder"},
		{"edge:\n  hosts: [a.test]\n  tls: {mode: files, cert: ../a.pem, key: a.key}\n", "edge.tls.cert: must be a path inside the project folder"},
		{"edge:\n  hosts: [a.test]\n  hsts: true\n  tls: {mode: off}\n", "edge.hsts: needs HTTPS"},
		{"edge:\n  hosts: [a.test]\n  tls: {mode: plain}\n", "edge.tls.mode: must be one of acme, files, off"},
	}
	for _, c := range cases {
		_, err := Parse("manifest.yaml", []byte(minimal+c.edge))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want a problem containing %q", c.edge, err, c.want)
		}
	}
}
