package benchreport

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the figures were measured, so a reader can compare like with like.
type Machine struct {
	CPU      string  `json:"cpu"`
	Cores    int     `json:"cores"`
	MemoryGB float64 `json:"memory_gb"`
	Kernel   string  `json:"kernel"`
	OS       string  `json:"os"`
	Go       string  `json:"go"`
	// Docker and Nginx are filled in by the caller: this package runs no commands.
	Docker string    `json:"docker,omitempty"`
	Nginx  string    `json:"nginx,omitempty"`
	At     time.Time `json:"at"`
}

// DescribeMachine describes this host at the given time from /proc and /etc/os-release.
// What cannot be read is left empty rather than failing the report.
func DescribeMachine(at time.Time) Machine {
	return describeMachine("/", at)
}

// describeMachine reads the host files below root, so tests can point it at fixtures.
func describeMachine(root string, at time.Time) Machine {
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			return ""
		}
		return string(b)
	}
	return Machine{
		CPU:      keyValue(read("proc/cpuinfo"), "model name", ":"),
		Cores:    runtime.NumCPU(),
		MemoryGB: memTotalGB(keyValue(read("proc/meminfo"), "MemTotal", ":")),
		// The same string as uname -r, read as a file so that it builds everywhere.
		Kernel: strings.TrimSpace(read("proc/sys/kernel/osrelease")),
		OS:     strings.Trim(keyValue(read("etc/os-release"), "PRETTY_NAME", "="), `"'`),
		Go:     runtime.Version(),
		At:     at.UTC(),
	}
}

// keyValue returns the trimmed value of the first "key<sep>value" line of text.
func keyValue(text, key, sep string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memTotalGB turns meminfo's "24684084 kB" into gigabytes (GiB) with one decimal.
func memTotalGB(s string) float64 {
	kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "kB")), 64)
	if err != nil {
		return 0
	}
	return math.Round(kb/(1<<20)*10) / 10
}
