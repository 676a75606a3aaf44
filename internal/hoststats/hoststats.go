// Package hoststats measures the host figures the infrastructure policy judges: free disk
// on Docker's data root, the 1-minute load average and the share of available memory. It
// reads the kernel's files and statfs(2) directly and runs no command.
package hoststats

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Stats are one measurement of the host.
type Stats struct {
	DiskFreeGB     float64
	CPULoad1m      float64
	MemFreePercent float64
}

// bytesPerGB: the policy's GB are powers of ten, as disk vendors and df -H count.
const bytesPerGB = 1e9

// procFiles are where the kernel publishes load and memory; tests point them at fixtures.
type procFiles struct {
	loadavg string
	meminfo string
}

// Measure measures the host. Disk space is that of the filesystem holding dataRoot, or of
// its nearest existing parent when dataRoot does not exist yet (Docker creates its data root
// on first start, on the filesystem that holds the parent).
func Measure(dataRoot string) (Stats, error) {
	return measure(dataRoot, procFiles{loadavg: "/proc/loadavg", meminfo: "/proc/meminfo"})
}

func measure(dataRoot string, proc procFiles) (Stats, error) {
	disk, errDisk := diskFreeGB(dataRoot)
	load, errLoad := load1m(proc.loadavg)
	mem, errMem := memFreePercent(proc.meminfo)
	if err := errors.Join(errDisk, errLoad, errMem); err != nil {
		return Stats{}, err
	}
	return Stats{DiskFreeGB: disk, CPULoad1m: load, MemFreePercent: mem}, nil
}

func diskFreeGB(dataRoot string) (float64, error) {
	dir, err := existingAncestor(dataRoot)
	if err != nil {
		return 0, fmt.Errorf("host stats: disk free of %s: %w", dataRoot, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("host stats: disk free of %s: statfs %s: %w", dataRoot, dir, err)
	}
	// Bavail, not Bfree: blocks reserved for root are not there for Docker's images.
	return float64(st.Bavail) * float64(st.Bsize) / bytesPerGB, nil
}

// existingAncestor returns path itself or the nearest parent that exists.
func existingAncestor(path string) (string, error) {
	dir, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	for {
		_, err := os.Stat(dir)
		if err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, fs.ErrNotExist) || parent == dir {
			return "", err
		}
		dir = parent
	}
}

// load1m reads the first field of /proc/loadavg ("0.42 0.30 0.25 1/234 5678").
func load1m(path string) (float64, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("host stats: load average: %w", err)
	}
	fields := strings.Fields(string(src))
	if len(fields) == 0 {
		return 0, fmt.Errorf("host stats: load average: %s is empty", path)
	}
	load, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || load < 0 {
		return 0, fmt.Errorf("host stats: load average: %s: first field %q is not a load", path, fields[0])
	}
	return load, nil
}

// memFreePercent is MemAvailable over MemTotal from /proc/meminfo: available counts the
// page cache the kernel would give back, which MemFree does not.
func memFreePercent(path string) (float64, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("host stats: memory: %w", err)
	}
	kB, err := meminfoFields(src, "MemTotal", "MemAvailable")
	if err != nil {
		return 0, fmt.Errorf("host stats: memory: %s: %w", path, err)
	}
	total, available := kB["MemTotal"], kB["MemAvailable"]
	if total <= 0 {
		return 0, fmt.Errorf("host stats: memory: %s: MemTotal is %v", path, total)
	}
	return available / total * 100, nil
}

// meminfoFields reads the named "Name:   1234 kB" lines; each must be present.
func meminfoFields(src []byte, names ...string) (map[string]float64, error) {
	values := map[string]float64{}
	scanner := bufio.NewScanner(bytes.NewReader(src))
	for scanner.Scan() {
		name, rest, ok := strings.Cut(scanner.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[0], 64); err == nil {
			values[name] = v
		}
	}
	var missing []string
	for _, name := range names {
		if _, ok := values[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no %s line", strings.Join(missing, " or "))
	}
	return values, nil
}
