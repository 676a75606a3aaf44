package hoststats

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func fixtures(loadavg, meminfo string) procFiles {
	return procFiles{loadavg: filepath.Join("testdata", loadavg), meminfo: filepath.Join("testdata", meminfo)}
}

func TestMeasureReadsLoadAndAvailableMemoryFromProcFiles(t *testing.T) {
	s, err := measure(t.TempDir(), fixtures("loadavg", "meminfo"))
	if err != nil {
		t.Fatal(err)
	}
	if s.CPULoad1m != 0.42 {
		t.Errorf("CPULoad1m = %v, want 0.42", s.CPULoad1m)
	}
	// MemAvailable 4,000,000 of MemTotal 16,000,000 kB, not MemFree's 1,000,000.
	if s.MemFreePercent != 25 {
		t.Errorf("MemFreePercent = %v, want 25", s.MemFreePercent)
	}
	if s.DiskFreeGB <= 0 {
		t.Errorf("DiskFreeGB = %v, want a positive size", s.DiskFreeGB)
	}
}

func TestADataRootNotCreatedYetIsMeasuredOnItsNearestParent(t *testing.T) {
	parent := t.TempDir()
	there, err := diskFreeGB(parent)
	if err != nil {
		t.Fatal(err)
	}
	notYet, err := diskFreeGB(filepath.Join(parent, "docker", "not", "yet"))
	if err != nil {
		t.Fatal(err)
	}
	// The same filesystem, give or take what other processes write meanwhile.
	if math.Abs(there-notYet) > 1 {
		t.Errorf("disk free %v GB beside %v GB for its parent", notYet, there)
	}
}

func TestMeasureReportsEveryUnreadableSourceAtOnce(t *testing.T) {
	_, err := measure(t.TempDir(), fixtures("missing-loadavg", "meminfo-old-kernel"))
	if err == nil {
		t.Fatal("measure succeeded without a load average or MemAvailable")
	}
	for _, want := range []string{"host stats: load average:", "no MemAvailable line"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %q", err, want)
		}
	}
}

func TestAGarbledLoadAverageIsAnError(t *testing.T) {
	_, err := load1m(filepath.Join("testdata", "loadavg-garbled"))
	if err == nil || !strings.Contains(err.Error(), `first field "not-a-number" is not a load`) {
		t.Errorf("err = %v", err)
	}
}

func TestMeasureWorksOnThisHost(t *testing.T) {
	s, err := Measure("/var/lib/docker")
	if err != nil {
		t.Fatal(err)
	}
	if s.DiskFreeGB <= 0 || s.MemFreePercent <= 0 || s.MemFreePercent > 100 || s.CPULoad1m < 0 {
		t.Errorf("implausible stats %+v", s)
	}
}
