//go:build nometrics

package main

// instrumented is false in a `nometrics` build: the benchmark-only binary that
// serves without the metrics middleware (see middleware_on.go). /metrics still
// answers, with no request series.
const instrumented = false
