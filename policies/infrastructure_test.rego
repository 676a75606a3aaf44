package swiftdeploy.infrastructure_test

import data.swiftdeploy.infrastructure

roomy := {"disk_free_gb": 120.5, "cpu_load_1m": 0.4, "mem_free_percent": 63.2}

rules(d) := {v.rule | some v in d.violations}

test_a_roomy_host_is_allowed if {
	d := infrastructure.decision with input as roomy
	d.allow
	d.domain == "infrastructure"
	d.checked == roomy
	d.violations == set()
}

test_low_disk_is_denied_with_a_message_that_reads_right if {
	d := infrastructure.decision with input as object.union(roomy, {"disk_free_gb": 3.2})
	not d.allow
	d.violations == {{
		"rule": "disk_free",
		"observed": 3.2,
		"limit": 10,
		"message": "disk free 3.20 GB is below the 10.00 GB minimum",
	}}
}

test_high_cpu_load_is_denied if {
	d := infrastructure.decision with input as object.union(roomy, {"cpu_load_1m": 3})
	not d.allow
	some v in d.violations
	v.rule == "cpu_load"
	v.message == "CPU load 3.00 exceeds the 2.00 maximum"
}

test_low_free_memory_is_denied if {
	d := infrastructure.decision with input as object.union(roomy, {"mem_free_percent": 4.5})
	not d.allow
	some v in d.violations
	v.rule == "mem_free"
	v.message == "free memory 4.50% is below the 10.00% minimum"
}

test_every_failing_rule_is_reported_at_once if {
	d := infrastructure.decision with input as {"disk_free_gb": 1, "cpu_load_1m": 9.5, "mem_free_percent": 1}
	rules(d) == {"disk_free", "cpu_load", "mem_free"}
}

test_exactly_at_each_limit_is_allowed if {
	d := infrastructure.decision with input as {"disk_free_gb": 10, "cpu_load_1m": 2.0, "mem_free_percent": 10}
	d.allow
}

test_just_past_each_limit_is_denied if {
	d := infrastructure.decision with input as {"disk_free_gb": 9.99, "cpu_load_1m": 2.01, "mem_free_percent": 9.99}
	rules(d) == {"disk_free", "cpu_load", "mem_free"}
}

test_a_missing_measurement_fails_closed if {
	d := infrastructure.decision with input as {"disk_free_gb": 50, "cpu_load_1m": 0.1}
	not d.allow
	d.violations == {{
		"rule": "missing_input",
		"observed": null,
		"limit": "a number",
		"message": "input mem_free_percent is missing or not a number",
	}}
}

test_a_measurement_that_is_not_a_number_fails_closed if {
	d := infrastructure.decision with input as object.union(roomy, {"disk_free_gb": "lots"})
	not d.allow
	some v in d.violations
	v.rule == "missing_input"
	v.observed == "lots"
}

test_no_input_at_all_fails_closed if {
	d := infrastructure.decision
	not d.allow
	d.checked == null
	rules(d) == {"missing_input"}
	count(d.violations) == 3
}

test_thresholds_come_from_data if {
	d := infrastructure.decision with input as roomy
		with data.swiftdeploy.thresholds.infrastructure.min_disk_free_gb as 500
	not d.allow
	some v in d.violations
	v.message == "disk free 120.50 GB is below the 500.00 GB minimum"
}

test_a_missing_threshold_fails_closed if {
	d := infrastructure.decision with input as roomy
		with data.swiftdeploy.thresholds.infrastructure as {"min_disk_free_gb": 10, "max_cpu_load_1m": "2"}
	not d.allow
	{v.limit | some v in d.violations; v.rule == "missing_threshold"} == {"max_cpu_load_1m", "min_mem_free_percent"}
}

test_a_cpu_spike_alone_may_be_asked_again_within_the_settle_time if {
	d := infrastructure.decision with input as object.union(roomy, {"cpu_load_1m": 3})
	not d.allow
	d.retry_seconds == data.swiftdeploy.thresholds.infrastructure.cpu_settle_seconds
}

test_a_cpu_spike_with_low_disk_is_final if {
	d := infrastructure.decision with input as object.union(roomy, {"cpu_load_1m": 3, "disk_free_gb": 1})
	d.retry_seconds == null
}

test_an_allowed_deploy_has_nothing_to_retry if {
	d := infrastructure.decision with input as roomy
	d.retry_seconds == null
}
