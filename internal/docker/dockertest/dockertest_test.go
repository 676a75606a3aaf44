package dockertest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func docker(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestTheFakeAnswersTheFirstRuleWhosePatternMatchesTheArguments(t *testing.T) {
	New(t).On("ps -q --filter label=a=*", "one\n").On("ps *", "any\n").On("it's * [x]?", "quoted\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ps", "-q", "--filter", "label=a=b"}, "one\n"},
		{[]string{"ps", "-a"}, "any\n"},
		{[]string{"it's", "a\tformat", "[x]?"}, "quoted\n"},
	} {
		if got, status := docker(t, c.args...); got != c.want || status != 0 {
			t.Errorf("docker %q = %q, %d; want %q, 0", c.args, got, status, c.want)
		}
	}
	if got, status := docker(t, "it's", "a", "xx"); status != 99 || !strings.Contains(got, "no answer for: it's a xx") {
		t.Errorf("a pattern's [x]? is literal text, yet it matched: %q, %d", got, status)
	}
}

func TestTheFakeMovesThroughItsOutputsAndRepeatsTheLast(t *testing.T) {
	f := New(t).On("service ls*", "first", "second")
	var got []string
	for range 3 {
		out, _ := docker(t, "service", "ls")
		got = append(got, out)
	}
	if want := []string{"first", "second", "second"}; !slices.Equal(got, want) {
		t.Errorf("outputs = %q, want %q", got, want)
	}
	f.On("service ls*", "again")
	if out, _ := docker(t, "service", "ls"); out != "again" {
		t.Errorf("a replaced answer gave %q, want its own output", out)
	}
}

func TestTheFakeFailsAsTheEngineRefusesAndRecordsEveryCall(t *testing.T) {
	f := New(t).Fail("volume rm *", "Error: volume is in use", 1)
	if out, status := docker(t, "volume", "rm", "v"); status != 1 || out != "Error: volume is in use" {
		t.Errorf("docker volume rm = %q, %d; want the refusal and status 1", out, status)
	}
	if out, status := docker(t, "info"); status != 99 || !strings.Contains(out, "no answer for: info") {
		t.Errorf("an unanswered call = %q, %d; want status 99 naming it", out, status)
	}
	if got, want := f.Calls(), []string{"volume rm v", "info"}; !slices.Equal(got, want) {
		t.Errorf("Calls() = %q, want %q", got, want)
	}
	if n := f.Count("volume "); n != 1 {
		t.Errorf(`Count("volume ") = %d, want 1`, n)
	}
}
