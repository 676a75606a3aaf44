//go:build !nometrics

package main

// instrumented says whether the metrics middleware wraps every request. It does in
// every normal build and in the image; only the `nometrics` build tag turns it off,
// for the benchmark that measures what the middleware costs end to end.
const instrumented = true
