package benchreport

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/golden"
)

var measuredAt = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// fixtureReport is the report of testdata/bench-output.txt on a fixed machine.
func fixtureReport(t *testing.T) Report {
	results := parseFixture(t)
	return Report{
		Machine: Machine{
			CPU: "AMD EPYC 7R13 Processor", Cores: 2, MemoryGB: 23.5, Kernel: "6.1.0-18-amd64",
			OS: "Debian GNU/Linux 12 (bookworm)", Go: "go1.26.8", Docker: "27.5.1", Nginx: "1.27.4", At: measuredAt,
		},
		Figures: Figures(results),
		Peers:   PeerRows(results),
		Raw:     results,
	}
}

func TestTableMatchesTheGoldenMarkdown(t *testing.T) {
	checkGolden(t, "testdata/table.golden.md", []byte(Table(fixtureReport(t))))
}

func TestJSONMatchesTheGoldenFileAndReadsBackUnchanged(t *testing.T) {
	report := fixtureReport(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, report); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/report.golden.json", buf.Bytes())
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !reflect.DeepEqual(back, report) {
		t.Errorf("JSON round trip changed the report:\n%+v\nwant\n%+v", back, report)
	}
}

func TestTableLeavesOutWhatIsNotKnownAboutTheMachine(t *testing.T) {
	got := describe(Machine{Cores: 2, Go: "go1.26.8"})
	want := "Measured on unknown CPU, 2 cores, 0 GB memory; go1.26.8."
	if got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	golden.Check(t, path, got)
}
