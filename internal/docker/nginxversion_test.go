package docker

import "testing"

func TestParseNginxVersionReadsWhatNginxPrints(t *testing.T) {
	for out, want := range map[string]string{
		"nginx version: nginx/1.30.6\n":          "1.30.6",
		"nginx version: nginx/1.22.1 (Debian)\n": "1.22.1",
		"nginx version: nginx/1.27.3":            "1.27.3",
	} {
		if got, ok := ParseNginxVersion(out); !ok || got != want {
			t.Errorf("ParseNginxVersion(%q) = %q, %v; want %q", out, got, ok, want)
		}
	}
	for _, out := range []string{"", "exec: nginx: not found", "nginx version: nginx/"} {
		if got, ok := ParseNginxVersion(out); ok {
			t.Errorf("ParseNginxVersion(%q) = %q, want no version", out, got)
		}
	}
}
