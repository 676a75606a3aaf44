package host

import (
	"bytes"
	"strings"
	"testing"

	"github.com/swiftdeploy/swiftdeploy/internal/docker/dockertest"
)

func TestEngineThatAnswersIsLeftAlone(t *testing.T) {
	f := dockertest.New(t).On("info --format {{.ServerVersion}}", "24.0.7\n")
	note, err := hostIn(t, new(bytes.Buffer)).Engine(within(t))
	if err != nil || note != "engine 24.0.7 answers" || len(f.Calls()) != 1 {
		t.Errorf("Engine() = %q, %v (calls %q)", note, err, f.Calls())
	}
}

func TestComposeThatAnswersIsLeftAlone(t *testing.T) {
	dockertest.New(t).On("compose version --short", "2.29.1\n")
	if note, err := hostIn(t, new(bytes.Buffer)).Compose(within(t)); err != nil || note != "version 2.29.1" {
		t.Errorf("Compose() = %q, %v", note, err)
	}
}

func TestFirstLineKeepsOneLineShortEnoughForTheOutput(t *testing.T) {
	long := strings.Repeat("x", 200)
	for in, want := range map[string]string{
		"pull access denied\nmore": "pull access denied",
		long:                       long[:160] + "…",
		"":                         "",
	} {
		if got := firstLine(in); got != want {
			t.Errorf("firstLine(%.20q…) = %q, want %q", in, got, want)
		}
	}
}
