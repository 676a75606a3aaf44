package manifest

import (
	"errors"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

// FuzzParse checks that no input panics and that every refusal is invalid input
// listing at least one problem. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("manifest.yaml", data)
		if err == nil {
			if m == nil || !ValidMode(m.Services.Mode) {
				t.Fatalf("accepted manifest %+v", m)
			}
			return
		}
		var merr *Error
		if !errors.Is(err, fail.ErrInvalid) || !errors.As(err, &merr) || len(merr.Problems) == 0 {
			t.Fatalf("error %v does not wrap fail.ErrInvalid with problems", err)
		}
	})
}

// FuzzSetMode checks that rewriting the mode of any manifest that loads gives a
// manifest that loads with the new mode, or a clear refusal, never a broken file.
func FuzzSetMode(f *testing.F) {
	f.Add([]byte(minimal), true)
	f.Add([]byte("services: {image: a, port: 1, mode: 'stable'}\nnginx: {image: b, port: 2}\nnetwork: {name: n, driver_type: bridge}\n"), true)
	f.Add([]byte("services:\r\n  mode: \"canary\"\r\n  image: a\r\n  port: 1\r\nnginx: {image: b, port: 2}\r\nnetwork: {name: n, driver_type: bridge}\r\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, canary bool) {
		mode := ModeStable
		if canary {
			mode = ModeCanary
		}
		_, loadErr := Parse("manifest.yaml", data)
		out, err := rewriteMode("manifest.yaml", data, mode)
		switch {
		case loadErr != nil && err == nil:
			t.Fatalf("rewrote a manifest that does not load: %v", loadErr)
		case loadErr != nil || errors.Is(err, errUneditable):
			return
		case err != nil:
			t.Fatalf("refused a valid manifest: %v", err)
		}
		m, err := Parse("manifest.yaml", out)
		if err != nil || m.Services.Mode != mode {
			t.Fatalf("result %q loads to %+v, err %v; want mode %s", out, m, err, mode)
		}
	})
}
