package benchreport

import (
	"runtime"
	"testing"
	"time"
)

func TestDescribeMachineReadsTheHostFiles(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	got := describeMachine("testdata/host", at)
	want := Machine{
		CPU: "AMD EPYC 7R13 Processor", Cores: runtime.NumCPU(), MemoryGB: 23.5, Kernel: "6.1.0-18-amd64",
		OS: "Debian GNU/Linux 12 (bookworm)", Go: runtime.Version(), At: at.UTC(),
	}
	if got != want {
		t.Errorf("describeMachine =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDescribeMachineLeavesUnreadableFilesEmpty(t *testing.T) {
	got := describeMachine(t.TempDir(), time.Time{})
	if got.CPU != "" || got.MemoryGB != 0 || got.Kernel != "" || got.OS != "" || got.Go != runtime.Version() {
		t.Errorf("describeMachine on an empty root = %+v, want only cores and Go", got)
	}
}
