package edge

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

// certsDir holds one PEM file per host name, HOST.pem: the certificate
// chain, leaf first, then its key. One file, replaced by rename, so that
// nginx never loads a new certificate with an old key. HOST.json says where
// it came from.
const certsDir = "certs"

// nginxUser owns the key files: the edge's nginx runs as it and must read them.
const nginxUser = 65534

// Cert is what SwiftDeploy knows of one host name's certificate.
type Cert struct {
	Host      string    `json:"host"`
	Source    string    `json:"source"` // manifest.TLSACME or manifest.TLSFiles
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Directory string    `json:"directory,omitempty"` // the ACME directory it came from
	Installed time.Time `json:"installed"`
}

// MaxRenewWindow is the longest a certificate is renewed before it expires.
const MaxRenewWindow = 30 * 24 * time.Hour

// RenewAfter is when c is due for renewal by the standard rule: when a third
// of its lifetime is left, as Let's Encrypt advises (30 days of a 90-day
// certificate, 2 of a 6-day one), or 30 days, whichever comes later (30 days
// of a year-long one).
func (c Cert) RenewAfter() time.Time {
	return c.NotAfter.Add(-min(c.NotAfter.Sub(c.NotBefore)/3, MaxRenewWindow))
}

// Certificate returns host's installed certificate; ok is false when none is.
func (e *Edge) Certificate(host string) (Cert, bool, error) {
	data, err := os.ReadFile(e.path(certsDir, host+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Cert{}, false, nil
	}
	if err != nil {
		return Cert{}, false, fmt.Errorf("edge: %w", err)
	}
	var c Cert
	if err := json.Unmarshal(data, &c); err != nil {
		return Cert{}, false, fmt.Errorf("edge: %s: %w", host+".json", err)
	}
	if _, err := os.Stat(e.path(certsDir, host+".pem")); err != nil {
		return Cert{}, false, nil
	}
	return c, true, nil
}

// install checks that chain and key make a certificate for host, valid now,
// and installs them where the edge's nginx loads host's certificate from at
// its next handshake (within its cache's few seconds).
func (e *Edge) install(host, source, directory string, chain, key []byte) (Cert, error) {
	leaf, err := checkPair(host, chain, key, time.Now())
	if err != nil {
		return Cert{}, err
	}
	if err := os.MkdirAll(e.path(certsDir), 0o755); err != nil {
		return Cert{}, fmt.Errorf("edge: %w", err)
	}
	pemFile := append(append(bytes.TrimSpace(chain), '\n'), bytes.TrimSpace(key)...)
	pemFile = append(pemFile, '\n')
	// Written owned by nginx's user, readable by it alone, then renamed
	// into place: nginx sees the old file or the new one, never half.
	path := e.path(certsDir, host+".pem")
	if err := atomicfile.WriteFrom(path, 0o600, func(w io.Writer) error {
		if f, ok := w.(*os.File); ok && os.Geteuid() == 0 {
			if err := f.Chown(nginxUser, nginxUser); err != nil {
				return err
			}
		}
		_, err := w.Write(pemFile)
		return err
	}); err != nil {
		return Cert{}, fmt.Errorf("edge: %w", err)
	}
	c := Cert{Host: host, Source: source, Issuer: leaf.Issuer.String(), Serial: fmt.Sprintf("%X", leaf.SerialNumber),
		NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC(), Directory: directory, Installed: time.Now().UTC()}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return Cert{}, err
	}
	if err := atomicfile.Write(e.path(certsDir, host+".json"), append(data, '\n'), 0o644); err != nil {
		return Cert{}, fmt.Errorf("edge: %w", err)
	}
	return c, nil
}

// checkPair parses a PEM chain (leaf first) and key and says why they do not
// make a certificate for host at now.
func checkPair(host string, chain, key []byte, now time.Time) (*x509.Certificate, error) {
	pair, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, fmt.Errorf("%w: the certificate and key for %s do not make a pair: %v", fail.ErrInvalid, host, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%w: the certificate for %s does not parse: %v", fail.ErrInvalid, host, err)
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return nil, fmt.Errorf("%w: the certificate is not for %s: %v", fail.ErrInvalid, host, err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: the certificate for %s is valid from %s to %s, not now", fail.ErrInvalid, host,
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if !supportedKey(pair.PrivateKey) {
		return nil, fmt.Errorf("%w: the key for %s is of a kind nginx does not load here", fail.ErrInvalid, host)
	}
	return leaf, nil
}

func supportedKey(k crypto.PrivateKey) bool {
	switch k.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		return true
	}
	return false
}

// CheckFiles says why the operator's certificate and key would not be
// installed for hosts, installing nothing.
func CheckFiles(hosts []string, certFile, keyFile string) error {
	_, _, err := checkedPair(hosts, certFile, keyFile)
	return err
}

// checkedPair reads the operator's files and checks them for every host.
func checkedPair(hosts []string, certFile, keyFile string) (chain, key []byte, err error) {
	if chain, key, err = readPair(certFile, keyFile); err != nil {
		return nil, nil, err
	}
	for _, h := range hosts {
		if _, err := checkPair(h, chain, key, time.Now()); err != nil {
			return nil, nil, err
		}
	}
	return chain, key, nil
}

func readPair(certFile, keyFile string) (chain, key []byte, err error) {
	if chain, err = os.ReadFile(certFile); err != nil {
		return nil, nil, fmt.Errorf("%w: edge.tls.cert: %v", fail.ErrInvalid, err)
	}
	if key, err = os.ReadFile(keyFile); err != nil {
		return nil, nil, fmt.Errorf("%w: edge.tls.key: %v", fail.ErrInvalid, err)
	}
	return chain, key, nil
}

// InstallFiles installs the operator's certificate and key (edge.tls.mode:
// files) for each host, after checking that they are a pair, cover every
// host and are valid now.
func (e *Edge) InstallFiles(hosts []string, certFile, keyFile string) ([]Cert, error) {
	chain, key, err := checkedPair(hosts, certFile, keyFile) // every host first: nothing is installed for a file that fails one
	if err != nil {
		return nil, err
	}
	var out []Cert
	for _, h := range hosts {
		if old, ok, _ := e.Certificate(h); ok && old.Source == "files" && samePEM(e.path(certsDir, h+".pem"), chain, key) {
			out = append(out, old)
			continue
		}
		c, err := e.install(h, "files", "", chain, key)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func samePEM(path string, chain, key []byte) bool {
	have, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	want := append(append(bytes.TrimSpace(chain), '\n'), bytes.TrimSpace(key)...)
	return bytes.Equal(bytes.TrimSpace(have), want)
}
