package host

import (
	"strings"
	"testing"
)

func TestVersionAtLeastComparesEachNumberInTurn(t *testing.T) {
	for _, c := range []struct {
		have, want string
		ok         bool
	}{
		{"1.30.6", "1.27.3", true},
		{"1.27.3", "1.27.3", true},
		{"1.27.10", "1.27.3", true},
		{"1.27.2", "1.27.3", false},
		{"1.22.1", "1.27.3", false},
		{"2.0", "1.27.3", true},
		{"1.27", "1.27.3", false},
		{"1.27.3.1", "1.27.3", true},
		{"", "1.27.3", false},
		{"1.x.3", "1.27.3", false},
	} {
		if got := versionAtLeast(c.have, c.want); got != c.ok {
			t.Errorf("versionAtLeast(%q, %q) = %v, want %v", c.have, c.want, got, c.ok)
		}
	}
}

func TestTooOldNginxSaysWhatItFoundWhatItNeedsAndWhatToDo(t *testing.T) {
	msg := NginxTooOld("nginx:1.22", "1.22.1")
	for _, want := range []string{"nginx:1.22 has nginx 1.22.1", "needs nginx 1.27.3 or newer", "set nginx.image to nginx:latest", "run `setup`"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}
