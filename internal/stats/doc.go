// Package stats holds the statistics of the release judge: tests of whether
// the canary is worse than stable over the same window, how sure that is,
// whether the window could have told at all, and how to look at a step
// again and again without the looks inflating the false-abort rate. It is
// pure Go on the standard library's math, and every result is a struct of
// finite numbers and strings with JSON tags, to be put as it is in the
// release policy's input (gate.ReleaseStep) and in the history, so that
// Rego keeps the decision and replay can re-judge it.
//
// # Errors: CompareErrors
//
// Fisher's exact test, one-sided (FisherGreater): given both builds'
// requests and the window's failures in all, the probability that chance
// alone put at least as many of them on the canary. Exact, so valid for a
// quiet service's handful of requests; the hypergeometric tail is summed in
// log space by Loader's method (as R's dhyper): within 1.2e-14, relatively,
// of exact sums on every table up to 30 requests a side, and 5e-15 of
// mpmath at a million requests a build. The difference of
// error rates, in percentage points, comes with Newcombe's hybrid score
// interval (NewcombeInterval) for the verdict's text: "the canary fails
// more often than stable by between x and y points". The interval is an
// approximation and the more liberal of the two: let the p-value decide.
// Whenever the test is significant at α ≥ 0.001, the 1-2α interval lies
// above 0 on every window tested (TestASignificantTestHasAnIntervalAbove0).
//
// # Latency: CompareLatency
//
// The Mann-Whitney U test, one-sided (MannWhitneyGreater), on each
// request's duration in seconds against stable's scaled by 1 + a margin,
// with the common-language effect size ProbabilitySlower (the chance a
// canary request took longer than a scaled stable one) and both medians.
// Exact below ExactBelow requests a side, ties included (the permutation
// distribution of midrank sums); the normal
// approximation with tie and continuity corrections above, as R's
// wilcox.test. Sort plus one merge: 100,000 requests a side in 20-40 ms.
// It compares whole distributions by rank, not one percentile, and needs
// no model of latency; keep the absolute P99 limit beside it.
//
// # Inconclusive, computed: Reachable
//
// Each evidence says whether its test could have reached its alpha with
// these counts, whatever the canary's requests had done: ErrorsNeeded is the
// fewest canary failures Fisher's test would call significant against
// stable's counts (-1: none would), MinPValue the Mann-Whitney p-value had
// the canary been the slowest of all. 1 canary request against 0 failures
// in 10 stable ones can never be significant at 0.05 (p ≥ 1/11); against 0
// in 300 it can (p = 1/301). Not reachable means "not enough data for that
// confidence": the step holds rather than promotes.
//
// # Looking every second: Sequential
//
// A Sequential spends one test's one-sided alpha over a step's looks by a
// Lan-DeMets spending function α(t) of the information fraction t (Pocock-
// or O'Brien-Fleming-type, by name from data.json): look k gets the
// nominal level α(t_k) - α(t_{k-1}), and its test is significant when
// p ≤ that. By the union bound the chance of any look calling a good
// build worse is at most alpha, whatever the looks' correlation, and for
// tests whose statistic is not normal; it is conservative, since looks at
// one growing window share most of their data (see Sequential). In
// simulation (TestSpendingKeepsFalseAbortsUnderAlpha: 30 looks at 10 % of
// 50 requests a second, both builds failing 1 %), testing every look at
// 0.05 called the good canary worse in 7.3 % of steps, Pocock spending in
// 0.3 %, O'Brien-Fleming in 0.4 %. A canary failing half its requests was
// caught at the first or second look with Pocock in 94 % of steps, and by
// the fourth in 93 % with O'Brien-Fleming; Pocock is the one for early
// aborts (TestPocockCatchesABrokenCanaryAtTheFirstLooks).
//
// # Where they are used
//
// internal/judge runs these at every look at a release step: CompareErrors,
// CompareLatency (with a margin: "slower by more than 10 %", a
// non-inferiority test, since without one thousands of requests a side show
// differences nobody would abort for), WilsonLower for the error limit and
// QuantileLowerBound for the P99's, each at the level one Sequential per
// step leaves the look, the step's 1 - confidence split over the four
// tests. The release policy (policies/release.rego) reads the evidence as
// plain numbers and keeps the decision; internal/judge's package doc and
// docs/releases.md say how.
//
// # References
//
// The unit tests check every function against published or independently
// computed values, each test saying where its numbers come from: R's
// documented examples for fisher.test and wilcox.test, Newcombe's 1998
// tables, exact sums in big integers and enumeration of every arrangement
// of small samples, and mpmath (Python, 40-50 digits) for the normal
// distribution, large hypergeometric tails, the normal approximation of U
// and the spending functions.
package stats
