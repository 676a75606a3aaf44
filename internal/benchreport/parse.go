// Package benchreport turns the text that `go test -bench` prints into the figures the
// `bench` target reports: a Markdown table for the README and the same figures as JSON,
// each compared with its target and labelled with the machine it was measured on.
//
// Every figure comes from a benchmark function; this package only reads their output,
// so it runs nothing and measures nothing itself.
package benchreport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Result is one benchmark line of `go test -bench` output.
type Result struct {
	// Package is the import path from the preceding "pkg:" line, empty if there was none.
	Package string `json:"package"`
	// Name is the benchmark's full name (sub-benchmarks included) without the -GOMAXPROCS suffix.
	Name string `json:"name"`
	// Procs is the GOMAXPROCS suffix, 1 when the name has none (go test omits "-1").
	Procs int `json:"procs"`
	// N is the number of iterations.
	N int `json:"n"`
	// Metrics maps each unit ("ns/op", "B/op", "p99-ms", ...) to its value.
	Metrics map[string]float64 `json:"metrics"`
}

// Parse reads `go test -bench` output and returns its benchmark results in order.
// Lines that are not results (goos, cpu, PASS, ok, logs) are ignored, tabs and spaces alike.
// A benchmark whose own output split its name from its figures is still read: the figures
// line that follows is joined to the name. Malformed result lines are all reported at once,
// with the results that could be read.
func Parse(r io.Reader) ([]Result, error) {
	var (
		results      []Result
		problems     []error
		pkg, pending string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for lineNo := 1; sc.Scan(); lineNo++ {
		fields := strings.Fields(sc.Text())
		name, figures, ok := splitResultLine(fields, pending)
		switch {
		case len(fields) == 2 && fields[0] == "pkg:":
			pkg, pending = fields[1], ""
		case ok:
			res, err := parseResult(pkg, name, figures)
			if err != nil {
				problems = append(problems, fmt.Errorf("line %d: %w", lineNo, err))
				continue
			}
			results, pending = append(results, res), ""
		case len(fields) > 0 && strings.HasPrefix(fields[0], "Benchmark"):
			// The name is printed before the benchmark runs; anything it writes to
			// stdout lands between the name and its figures.
			pending = fields[0]
		}
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, fmt.Errorf("read: %w", err))
	}
	if err := errors.Join(problems...); err != nil {
		return results, fmt.Errorf("parse bench output: %w", err)
	}
	return results, nil
}

// splitResultLine recognises "BenchmarkX-2 N v unit ..." and, after a name printed on
// its own line, "N v unit ...". It returns the name and the fields from N on.
func splitResultLine(fields []string, pending string) (string, []string, bool) {
	if len(fields) >= 2 && strings.HasPrefix(fields[0], "Benchmark") && isCount(fields[1]) {
		return fields[0], fields[1:], true
	}
	if pending != "" && len(fields) >= 3 && isCount(fields[0]) {
		return pending, fields, true
	}
	return "", nil, false
}

func isCount(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// parseResult reads the iteration count and value/unit pairs of one benchmark.
func parseResult(pkg, fullName string, figures []string) (Result, error) {
	name, procs := splitProcs(fullName)
	res := Result{Package: pkg, Name: name, Procs: procs, Metrics: map[string]float64{}}
	n, err := strconv.Atoi(figures[0])
	if err != nil {
		return res, fmt.Errorf("%s: iterations %q: %w", fullName, figures[0], err)
	}
	res.N = n
	pairs := figures[1:]
	if len(pairs) == 0 || len(pairs)%2 != 0 {
		return res, fmt.Errorf("%s: want value/unit pairs after the iteration count, got %q", fullName, strings.Join(pairs, " "))
	}
	var problems []error
	for i := 0; i < len(pairs); i += 2 {
		v, err := strconv.ParseFloat(pairs[i], 64)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("%s: value for %s: %w", fullName, pairs[i+1], err))
		case math.IsNaN(v) || math.IsInf(v, 0):
			// JSON cannot carry it, and no target can be compared with it.
			problems = append(problems, fmt.Errorf("%s: value for %s is %v, not a number", fullName, pairs[i+1], v))
		default:
			res.Metrics[pairs[i+1]] = v
		}
	}
	return res, errors.Join(problems...)
}

// splitProcs strips the -GOMAXPROCS suffix go test appends when GOMAXPROCS > 1.
func splitProcs(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, 1
	}
	procs, err := strconv.Atoi(name[i+1:])
	if err != nil || procs <= 0 {
		return name, 1
	}
	return name[:i], procs
}
