package swiftdeploy.canary_test

import data.swiftdeploy.canary

healthy := {
	"current_mode": "stable",
	"target_mode": "canary",
	"action": "promote",
	"window_seconds": 30,
	"requests": 1200,
	"error_rate_percent": 0.25,
	"p99_latency_ms": 87.5,
	"no_traffic": false,
}

with_fields(fields) := object.union(healthy, fields)

rules(d) := {v.rule | some v in d.violations}

test_a_healthy_canary_is_promoted if {
	d := canary.decision with input as healthy
	d.allow
	d.domain == "canary"
	d.checked == healthy
	d.violations == set()
	d.notes == set()
}

test_a_high_error_rate_is_denied_with_a_message_that_reads_right if {
	d := canary.decision with input as with_fields({"error_rate_percent": 56.45})
	not d.allow
	d.violations == {{
		"rule": "error_rate",
		"observed": 56.45,
		"limit": 1,
		"message": "error rate 56.45% exceeds the 1.00% limit",
	}}
}

test_a_slow_p99_is_denied_with_a_message_that_reads_right if {
	d := canary.decision with input as with_fields({"p99_latency_ms": 812})
	not d.allow
	d.violations == {{
		"rule": "p99_latency",
		"observed": 812,
		"limit": 500,
		"message": "P99 latency 812.00 ms exceeds the 500.00 ms limit",
	}}
}

test_both_failing_rules_are_reported_at_once if {
	d := canary.decision with input as with_fields({"error_rate_percent": 5, "p99_latency_ms": 900.1})
	rules(d) == {"error_rate", "p99_latency"}
}

test_exactly_at_each_limit_is_allowed if {
	d := canary.decision with input as with_fields({"error_rate_percent": 1, "p99_latency_ms": 500.0})
	d.allow
}

test_just_past_each_limit_is_denied if {
	d := canary.decision with input as with_fields({"error_rate_percent": 1.001, "p99_latency_ms": 500.01})
	rules(d) == {"error_rate", "p99_latency"}
}

test_a_missing_metric_fails_closed_naming_the_field if {
	d := canary.decision with input as object.remove(healthy, ["p99_latency_ms"])
	not d.allow
	d.violations == {{
		"rule": "missing_input",
		"observed": null,
		"limit": "a number",
		"message": "input p99_latency_ms is missing or not a number",
	}}
}

test_a_metric_that_is_not_a_number_fails_closed if {
	d := canary.decision with input as with_fields({"error_rate_percent": "0.5"})
	not d.allow
	some v in d.violations
	v.rule == "missing_input"
	v.observed == "0.5"
}

test_a_missing_mode_fails_closed if {
	d := canary.decision with input as object.remove(healthy, ["target_mode"])
	not d.allow
	some v in d.violations
	v.message == "input target_mode is missing or not a string"
}

test_an_unknown_action_is_denied if {
	d := canary.decision with input as with_fields({"action": "deploy"})
	rules(d) == {"unknown_action"}
}

test_no_input_at_all_fails_closed if {
	d := canary.decision
	not d.allow
	d.checked == null
	rules(d) == {"missing_input"}
}

test_a_rollback_is_allowed_whatever_the_metrics_say if {
	d := canary.decision with input as with_fields({
		"current_mode": "canary",
		"target_mode": "stable",
		"action": "rollback",
		"error_rate_percent": 56.45,
		"p99_latency_ms": 812,
	})
	d.allow
	d.violations == set()
	"ignored for rollback: error rate 56.45% exceeds the 1.00% limit" in d.notes
	"ignored for rollback: P99 latency 812.00 ms exceeds the 500.00 ms limit" in d.notes
	"rollback is the emergency path: allowed whatever the metrics say" in d.notes
}

test_a_rollback_is_allowed_with_no_metrics_at_all if {
	d := canary.decision with input as {"current_mode": "canary", "target_mode": "stable", "action": "rollback"}
	d.allow
	"ignored for rollback: input requests is missing or not a number" in d.notes
}

test_an_empty_window_is_allowed_with_a_note if {
	d := canary.decision with input as object.remove(with_fields({"requests": 0, "no_traffic": true}), ["error_rate_percent", "p99_latency_ms"])
	d.allow
	d.notes == {"no traffic in the last 30 s window"}
}

test_zero_requests_alone_count_as_no_traffic if {
	d := canary.decision with input as with_fields({"requests": 0, "no_traffic": false, "error_rate_percent": null, "p99_latency_ms": null})
	d.allow
	"no traffic in the last 30 s window" in d.notes
}

test_an_empty_window_is_denied_when_data_demands_traffic if {
	d := canary.decision with input as with_fields({"requests": 0, "no_traffic": true})
		with data.swiftdeploy.thresholds.canary.min_requests as 50
	not d.allow
	some v in d.violations
	v.message == "0 requests in the last 30 s window are fewer than the 50 required"
}

test_thresholds_come_from_data if {
	d := canary.decision with input as with_fields({"error_rate_percent": 56.45})
		with data.swiftdeploy.thresholds.canary.max_error_rate_percent as 60
	d.allow
}

test_a_missing_threshold_fails_closed if {
	d := canary.decision with input as healthy
		with data.swiftdeploy.thresholds.canary as {"max_error_rate_percent": 1, "window_seconds": 30, "min_requests": 0}
	not d.allow
	{v.limit | some v in d.violations} == {"max_p99_latency_ms"}
}
