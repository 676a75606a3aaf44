package edge

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/http01"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"
)

// ACME is where and as whom a stack's certificates are ordered.
type ACME struct {
	Directory string `json:"directory"`
	Email     string `json:"email,omitempty"`
	// CAFile is a PEM file of roots for the directory's own HTTPS ("" for
	// the system's), as the edge keeps it (a copy of the manifest's).
	CAFile string `json:"ca_file,omitempty"`
}

// challengesDir is the web root the edge serves HTTP-01 answers from:
// challengesDir/.well-known/acme-challenge/TOKEN, on every host name.
const challengesDir = "acme/challenges"

// account is an ACME account as lego wants it.
type account struct {
	email string
	reg   *acme.ExtendedAccount
	key   crypto.Signer
}

func (a *account) GetEmail() string                       { return a.email }
func (a *account) GetRegistration() *acme.ExtendedAccount { return a.reg }
func (a *account) GetPrivateKey() crypto.Signer           { return a.key }

// webroot answers HTTP-01 challenges by writing each key authorization
// where the edge serves it.
type webroot struct{ dir string }

func (w webroot) Present(_ context.Context, _, token, keyAuth string) error {
	path := filepath.Join(w.dir, http01.ChallengePath(token))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(keyAuth), 0o644)
}

func (w webroot) CleanUp(_ context.Context, _, token, _ string) error {
	err := os.Remove(filepath.Join(w.dir, http01.ChallengePath(token)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// httpClient trusts the system's roots, and a.CAFile's besides.
func (a ACME) httpClient() (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if a.CAFile != "" {
		data, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("the ACME directory's CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("the ACME directory's CA file %s holds no PEM certificate", a.CAFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// accountDir keeps one account per directory and email.
func (e *Edge) accountDir(a ACME) string {
	sum := sha256.Sum256([]byte(a.Directory + "\x00" + a.Email))
	return e.path("acme", "accounts", hex.EncodeToString(sum[:])[:16])
}

// client returns a lego client for a, with its account registered (once,
// then kept in the edge's folder).
func (e *Edge) client(ctx context.Context, a ACME) (*lego.Client, error) {
	hc, err := a.httpClient()
	if err != nil {
		return nil, err
	}
	dir := e.accountDir(a)
	acct := &account{email: a.Email}
	keyPath, regPath := filepath.Join(dir, "key.pem"), filepath.Join(dir, "account.json")
	if data, err := os.ReadFile(keyPath); err == nil {
		if acct.key, err = certcrypto.ParsePEMPrivateKey(data); err != nil {
			return nil, fmt.Errorf("ACME account key %s: %w", keyPath, err)
		}
		if data, err := os.ReadFile(regPath); err == nil {
			acct.reg = new(acme.ExtendedAccount)
			if err := json.Unmarshal(data, acct.reg); err != nil {
				return nil, fmt.Errorf("ACME account %s: %w", regPath, err)
			}
		}
	} else {
		if acct.key, err = certcrypto.GeneratePrivateKey(certcrypto.EC256); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(keyPath, certcrypto.PEMEncode(acct.key), 0o600); err != nil {
			return nil, err
		}
	}
	cfg := lego.NewConfig(acct)
	cfg.CADirURL, cfg.HTTPClient, cfg.UserAgent = a.Directory, hc, "swiftdeploy"
	client, err := lego.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("ACME directory %s: %w", a.Directory, err)
	}
	if err := client.Challenge.SetHTTP01Provider(webroot{dir: e.path(challengesDir)}); err != nil {
		return nil, err
	}
	if acct.reg == nil {
		reg, err := client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
		if err != nil {
			return nil, fmt.Errorf("ACME account at %s: %w", a.Directory, err)
		}
		acct.reg = reg
		data, err := json.MarshalIndent(reg, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(regPath, data, 0o600); err != nil {
			return nil, err
		}
	}
	return client, nil
}

// Obtain orders a certificate for each host from a's directory through the
// HTTP-01 flow, answered by the edge on its HTTP port, and installs each
// one: the edge serves it from its next handshake on. Each host is ordered
// on its own, so one failed name leaves the others' certificates served.
func (e *Edge) Obtain(ctx context.Context, a ACME, hosts []string) ([]Cert, error) {
	client, err := e.client(ctx, a)
	if err != nil {
		return nil, err
	}
	var out []Cert
	var errs []error
	for _, h := range hosts {
		res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: []string{h}, Bundle: true, KeyType: certcrypto.EC256})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h, err))
			continue
		}
		c, err := e.install(h, "acme", a.Directory, res.Certificate, res.PrivateKey)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// SelfCheck proves, before a CA is asked, that each host's name leads to
// this edge: it puts a token where the edge serves HTTP-01 answers and
// fetches it through the name, as the CA will. A CA limits failed
// validations, so a name that points elsewhere is reported here instead.
// lookup resolves a name (nil: the system's resolver).
func (e *Edge) SelfCheck(ctx context.Context, hosts []string, httpPort int, lookup func(ctx context.Context, host string) ([]string, error)) error {
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	token := fmt.Sprintf("swiftdeploy-selfcheck-%d", time.Now().UnixNano())
	w := webroot{dir: e.path(challengesDir)}
	if err := w.Present(ctx, "", token, token); err != nil {
		return err
	}
	defer w.CleanUp(ctx, "", token, "")
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, h := range hosts {
		addrs, err := lookup(ctx, h)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("edge.hosts: %s does not resolve (%v): point its DNS A record at this host before the CA is asked", h, err)
		}
		var reached bool
		var why []string
		for _, addr := range addrs {
			if ip := net.ParseIP(addr); ip == nil || ip.To4() == nil {
				continue
			}
			url := fmt.Sprintf("http://%s%s", net.JoinHostPort(addr, fmt.Sprint(httpPort)), http01.ChallengePath(token))
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			req.Host = h
			resp, err := client.Do(req)
			if err != nil {
				why = append(why, fmt.Sprintf("%s: %v", addr, err))
				continue
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, int64(len(token))+1))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(body) == token {
				reached = true
				break
			}
			why = append(why, fmt.Sprintf("%s answered %s", addr, resp.Status))
		}
		if !reached {
			return fmt.Errorf("edge.hosts: %s resolves to %s, which does not lead to this host's edge on port %d (%s): point the name here, or open the port, before the CA is asked (CAs limit failed validations)",
				h, strings.Join(addrs, ", "), httpPort, strings.Join(why, "; "))
		}
	}
	return nil
}
