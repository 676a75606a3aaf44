package swiftdeploy.release_test

import data.swiftdeploy.release

figures(requests, rate, p99) := {"requests": requests, "error_rate_percent": rate, "p99_latency_ms": p99}

good := {
	"window_seconds": 30,
	"weight": 25,
	"extensions": 0,
	"canary": object.union(figures(300, 0, 12), {"app": figures(300, 0, 10)}),
	"stable": object.union(figures(900, 0, 11), {"app": figures(900, 0, 9)}),
}

with_canary(fields) := object.union(good, {"canary": object.union(good.canary, fields)})

rules(d) := {v.rule | some v in d.violations}

test_a_good_canary_is_promoted if {
	d := release.decision with input as good
	d.allow
	d.verdict == "promote"
	d.domain == "release"
	d.violations == set()
	d.checked == good
}

test_a_failing_canary_aborts_with_a_message_that_reads_right if {
	d := release.decision with input as with_canary({"error_rate_percent": 50, "app": figures(300, 49.5, 10)})
	not d.allow
	d.verdict == "abort"
	rules(d) == {"error_rate", "error_rate_vs_stable"}
	some v in d.violations
	v.message == "canary error rate 50.00% (as clients saw it at nginx) exceeds the 1.00% limit"
}

test_errors_only_the_app_counted_abort_too if {
	d := release.decision with input as with_canary({"app": figures(300, 5, 10)})
	d.verdict == "abort"
	some v in d.violations
	v.message == "canary error rate 5.00% (from its /metrics) exceeds the 1.00% limit"
}

test_a_canary_worse_than_stable_within_absolute_limits_aborts if {
	inp := object.union(with_canary(figures(300, 0.9, 12)), {"stable": figures(900, 0.1, 11)})
	d := release.decision with input as inp
	d.verdict == "abort"
	rules(d) == {"error_rate_vs_stable"}
}

test_a_slower_canary_aborts_only_when_slower_by_a_factor_and_a_margin if {
	slow := release.decision with input as with_canary({"p99_latency_ms": 200, "app": figures(300, 0, 190)})
	rules(slow) == {"p99_vs_stable"}

	# 3x stable's 11 ms, but only 22 ms more: noise.
	fast := release.decision with input as with_canary({"p99_latency_ms": 33})
	fast.verdict == "promote"
}

test_relative_limits_wait_for_enough_stable_traffic if {
	inp := object.union(with_canary(figures(300, 0.9, 12)), {"stable": figures(5, 0, 11)})
	d := release.decision with input as inp
	d.verdict == "promote"
	some n in d.notes
	n == "stable had 5 requests, fewer than 20: limits relative to stable not applied"
}

test_too_few_canary_requests_hold_the_step if {
	d := release.decision with input as with_canary(figures(3, 0, 10))
	not d.allow
	d.verdict == "hold"
	d.violations == set()
}

test_a_step_inconclusive_after_every_extension_aborts if {
	inp := object.union(with_canary(figures(3, 0, 10)), {"extensions": 2})
	d := release.decision with input as inp
	d.verdict == "abort"
	rules(d) == {"inconclusive"}
}

test_few_requests_that_fail_abort_at_once if {
	d := release.decision with input as with_canary(figures(3, 66.7, 10))
	d.verdict == "abort"
}

test_a_canary_without_metrics_is_judged_from_nginx_alone_and_says_so if {
	inp := json.remove(good, ["canary/app"])
	d := release.decision with input as inp
	d.verdict == "promote"
	some n in d.notes
	n == "the canary has no /metrics: judged from nginx's counts alone"
}

test_missing_figures_fail_closed if {
	d := release.decision with input as {"window_seconds": 30, "weight": 10, "extensions": 0, "canary": {}, "stable": {}}
	d.verdict == "abort"
	"missing_input" in rules(d)
}

test_missing_thresholds_fail_closed if {
	d := release.decision with input as good with data.swiftdeploy.thresholds.release as {}
	d.verdict == "abort"
	"missing_threshold" in rules(d)
}
