package swiftdeploy.release_test

import data.swiftdeploy.release

figures(requests, rate, p99) := {"requests": requests, "error_rate_percent": rate, "p99_latency_ms": p99}

# The evidence of the last look of a 30 s step (look 30 of 90 planned), a canary like stable:
# internal/judge's numbers for 300 canary requests against 2700, stable failing once.
evidence := {
	"confidence": 0.95,
	"spending": {"spending": "pocock", "look": 30, "information_fraction": 0.3333333333333333, "alpha": 0.00015266823930713217, "spent": 0.0056604053157992724, "total": 0.0125},
	"errors": {
		"test": "fisher_exact_greater",
		"canary": {"requests": 300, "errors": 0, "rate_percent": 0},
		"stable": {"requests": 2700, "errors": 1, "rate_percent": 0.037037037037037035},
		"p_value": 1,
		"alpha": 0.00015266823930713217,
		"difference_points": {"estimate": -0.037037037037037035, "lower": -0.20950470319387937, "upper": 1.2276278949195725, "confidence": 0.95, "method": "newcombe_hybrid_score"},
		"reachable": true,
		"errors_needed": 5,
		"step_errors_needed": 3,
	},
	"latency": {
		"test": "mann_whitney_greater", "method": "normal", "canary_n": 300, "stable_n": 2700, "margin": 0.1, "margin_percent": 10, "slack_ms": 1, "warmup_seconds": 2,
		"u": 405000, "z": -0.000035854979585024505, "p_value": 0.5000143040673163, "probability_slower": 0.5,
		"min_p_value": 2.9662591470308786e-147, "alpha": 0.00015266823930713217, "reachable": true,
		"canary_median_ms": 3, "stable_median_ms": 3,
	},
	"error_limit": {"alpha": 0.00015266823930713217, "lower_percent": 0},
	"p99_limit": {"alpha": 0.00015266823930713217, "lower_ms": 5, "sample_n": 300},
}

good := {
	"window_seconds": 30,
	"weight": 25,
	"extensions": 0,
	"step": 2,
	"steps": 4,
	"final": true,
	"canary": object.union(figures(300, 0, 12), {"app": figures(300, 0, 10)}),
	"stable": object.union(figures(2700, 0.037037037037037035, 11), {"app": figures(2700, 0.037037037037037035, 9)}),
	"evidence": evidence,
}

mid_step := object.union(good, {"final": false, "window_seconds": 12})

with_evidence(base, patch) := object.union(base, {"evidence": object.union(evidence, patch)})

with_canary(base, fields) := object.union(base, {"canary": object.union(base.canary, fields)})

rules(d) := {v.rule | some v in d.violations}

test_a_good_canary_is_promoted_at_the_steps_end_with_its_evidence if {
	d := release.decision with input as good
	d.allow
	d.verdict == "promote"
	d.domain == "release"
	d.violations == set()
	d.checked == good
	"errors: canary 0.00% of 300, stable 0.04% of 2700; p = 1 against α = 0.00015 at look 30 (Fisher's exact test, pocock spending); the difference is -0.21 to 1.23 points (95% interval)" in d.notes
	"latency: canary median 3.00 ms of 300, stable 3.00 ms of 2700; a canary request slower than a stable one by more than 10% and 1 ms in 50.00% of pairs; p = 0.5 against α = 0.00015 (Mann-Whitney U)" in d.notes
}

test_a_good_canary_waits_its_step_out if {
	d := release.decision with input as mid_step
	not d.allow
	d.verdict == "hold"
	d.violations == set()
	"look 30 at 12s: nothing shows the canary worse yet; the step runs on" in d.notes
}

# errors_vs_stable: significant exactly when p ≤ α, at any look.
test_a_canary_failing_more_than_stable_aborts_at_any_look if {
	worse := {"errors": object.union(evidence.errors, {"p_value": 0.00015266823930713217})}
	some inp in [with_evidence(good, worse), with_evidence(mid_step, worse)]
	d := release.decision with input as inp
	d.verdict == "abort"
	rules(d) == {"errors_vs_stable"}
}

test_a_canary_failing_a_little_more_than_alpha_allows_is_not_aborted if {
	d := release.decision with input as with_evidence(mid_step, {"errors": object.union(evidence.errors, {"p_value": 0.000153})})
	d.verdict == "hold"
}

test_a_look_with_no_alpha_left_shows_nothing if {
	d := release.decision with input as with_evidence(mid_step, {"errors": object.union(evidence.errors, {"p_value": 0, "alpha": 0})})
	d.verdict == "hold"
}

test_the_errors_message_reads_right if {
	broken := {
		"spending": object.union(evidence.spending, {"look": 2}),
		"errors": object.union(evidence.errors, {
			"canary": {"requests": 312, "errors": 150, "rate_percent": 48.07692307692308},
			"stable": {"requests": 2809, "errors": 0, "rate_percent": 0},
			"p_value": 1.2e-120,
			"difference_points": object.union(evidence.errors.difference_points, {"lower": 42.5, "upper": 53.6}),
		}),
	}
	d := release.decision with input as with_evidence(mid_step, broken)
	some v in d.violations
	v.message == "the canary fails more often than stable: 48.08% of 312 requests against 0.00% of 2809, p = 1.2e-120 at or under α = 0.00015 (Fisher's exact test at look 2); 42.50 to 53.60 points more (95% interval)"
}

# latency_vs_stable: the same, on the latency test.
test_a_slower_canary_aborts_at_any_look if {
	slower := {"latency": object.union(evidence.latency, {"p_value": 0.0001, "probability_slower": 0.93, "canary_median_ms": 25})}
	d := release.decision with input as with_evidence(mid_step, slower)
	d.verdict == "abort"
	rules(d) == {"latency_vs_stable"}
	some v in d.violations
	v.message == "the canary is slower than stable by more than 10% and 1 ms: median 25.00 ms of 300 requests against 3.00 ms of 2700, a canary request the slower of a pair by that much in 93.00% of pairs, p = 0.0001 at or under α = 0.00015 (Mann-Whitney U at look 30, on the requests after the step's first 2 s)"
}

test_a_canary_slower_by_chance_is_not_aborted if {
	d := release.decision with input as with_evidence(good, {"latency": object.union(evidence.latency, {"p_value": 0.0002})})
	d.verdict == "promote"
}

# Before the step's end, an absolute limit aborts on the lower bound, not on what was measured.
test_before_the_end_the_error_limit_aborts_on_the_bound_above_it if {
	above := release.decision with input as with_evidence(mid_step, {"error_limit": {"alpha": 0.0001, "lower_percent": 1.01}})
	above.verdict == "abort"
	rules(above) == {"error_rate"}

	at := release.decision with input as with_evidence(mid_step, {"error_limit": {"alpha": 0.0001, "lower_percent": 1}})
	at.verdict == "hold"
}

test_before_the_end_one_failure_in_a_few_requests_is_not_an_abort if {
	inp := with_canary(mid_step, figures(3, 33.333333333333336, 10))
	d := release.decision with input as with_evidence(inp, {"error_limit": {"alpha": 0.0001, "lower_percent": 0.6}})
	d.verdict == "hold"
}

test_before_the_end_the_p99_limit_aborts_on_the_bound_above_it if {
	above := release.decision with input as with_evidence(mid_step, {"p99_limit": {"alpha": 0.0001, "lower_ms": 500.5, "sample_n": 300}})
	above.verdict == "abort"
	rules(above) == {"p99_latency"}
	some v in above.violations
	v.message == "canary P99 latency (as clients saw it at nginx) exceeds the 500.00 ms limit: at least 500.50 ms at look 30 (one-sided bound at α = 0.0001, of 300 request times)"

	at := release.decision with input as with_evidence(mid_step, {"p99_limit": {"alpha": 0.0001, "lower_ms": 500, "sample_n": 300}})
	at.verdict == "hold"
}

# At the step's end the limits are the plain comparisons of what was measured, in either view.
test_at_the_end_the_error_limit_is_what_was_measured if {
	above := release.decision with input as with_canary(good, {"error_rate_percent": 1.01})
	above.verdict == "abort"
	some v in above.violations
	v.message == "canary error rate 1.01% (as clients saw it at nginx) exceeds the 1.00% limit"

	at := release.decision with input as with_canary(good, {"error_rate_percent": 1})
	at.verdict == "promote"

	app := release.decision with input as with_canary(good, {"app": figures(300, 5, 10)})
	some w in app.violations
	w.message == "canary error rate 5.00% (from its /metrics) exceeds the 1.00% limit"
}

test_at_the_end_the_p99_limit_is_what_was_measured if {
	above := release.decision with input as with_canary(good, {"p99_latency_ms": 500.5})
	rules(above) == {"p99_latency"}

	at := release.decision with input as with_canary(good, {"p99_latency_ms": 500})
	at.verdict == "promote"
}

test_looser_limits_in_data_let_the_same_canary_through if {
	inp := with_canary(good, {"error_rate_percent": 1.5})
	d := release.decision with input as inp with data.swiftdeploy.thresholds.release.max_error_rate_percent as 2
	d.verdict == "promote"
}

# Inconclusive, computed: the window could not have shown a failing canary worse.
test_a_window_that_could_not_judge_the_canary_holds_the_step if {
	quiet := {"errors": object.union(evidence.errors, {"canary": {"requests": 1, "errors": 0, "rate_percent": 0}, "stable": {"requests": 10, "errors": 0, "rate_percent": 0}, "step_errors_needed": -1})}
	d := release.decision with input as with_evidence(good, quiet)
	not d.allow
	d.verdict == "hold"
	d.violations == set()
	"inconclusive: 1 canary requests against stable's 0 failures in 10: not even all of them failing would show the canary worse at α = 0.013; the step is extended (1 of 2 extensions)" in d.notes
}

test_one_failure_needed_is_enough_to_judge if {
	d := release.decision with input as with_evidence(good, {"errors": object.union(evidence.errors, {"step_errors_needed": 1})})
	d.verdict == "promote"
}

test_a_step_inconclusive_after_every_extension_aborts if {
	quiet := with_evidence(good, {"errors": object.union(evidence.errors, {"step_errors_needed": -1})})
	last := release.decision with input as object.union(quiet, {"extensions": 2})
	last.verdict == "abort"
	rules(last) == {"inconclusive"}

	one_left := release.decision with input as object.union(quiet, {"extensions": 1})
	one_left.verdict == "hold"
}

test_before_the_end_a_quiet_window_only_waits if {
	inp := object.union(with_evidence(mid_step, {"errors": object.union(evidence.errors, {"step_errors_needed": -1})}), {"extensions": 2})
	d := release.decision with input as inp
	d.verdict == "hold"
	d.violations == set()
}

# At 100 % stable serves nothing: the comparisons are not applied.
test_at_100_percent_the_canary_is_judged_on_the_limits_alone if {
	alone := object.union(good, {"weight": 100, "stable": figures(0, 0, 0)})
	significant := with_evidence(alone, {"errors": object.union(evidence.errors, {"p_value": 0, "step_errors_needed": -1})})
	d := release.decision with input as significant
	d.verdict == "promote"
	"stable served no request at 100%: the canary is judged on the absolute limits alone" in d.notes

	empty := release.decision with input as with_canary(alone, figures(0, 0, 0))
	empty.verdict == "hold"
}

# rollout.smoke sends stable requests at 100 % too: the canary is compared with it.
test_at_100_percent_a_stable_build_with_smoke_requests_is_compared_with if {
	smoked := object.union(good, {"weight": 100, "stable": figures(30, 0, 3)})
	worse := with_evidence(smoked, {"errors": object.union(evidence.errors, {"p_value": 0.0001})})
	d := release.decision with input as worse
	d.verdict == "abort"
	rules(d) == {"errors_vs_stable"}
}

# The evidence must be computed at the policy's own confidence.
test_evidence_at_another_confidence_aborts if {
	d := release.decision with input as with_evidence(good, {"confidence": 0.9})
	d.verdict == "abort"
	rules(d) == {"evidence_confidence"}

	agreed := release.decision with input as with_evidence(good, {"confidence": 0.9}) with data.swiftdeploy.thresholds.release.confidence as 0.9
	agreed.verdict == "promote"
}

test_evidence_with_another_latency_margin_aborts if {
	d := release.decision with input as with_evidence(good, {"latency": object.union(evidence.latency, {"margin": 0, "margin_percent": 0})})
	d.verdict == "abort"
	rules(d) == {"evidence_margin"}

	agreed := release.decision with input as with_evidence(good, {"latency": object.union(evidence.latency, {"margin": 0, "margin_percent": 0})}) with data.swiftdeploy.thresholds.release.latency_margin_percent as 0
	agreed.verdict == "promote"
}

test_a_canary_without_metrics_is_judged_from_nginx_alone_and_says_so if {
	inp := json.remove(good, ["canary/app"])
	d := release.decision with input as inp
	d.verdict == "promote"
	"the canary has no /metrics: judged from nginx's counts alone" in d.notes

	# before the end no build's /metrics are read: nothing to note.
	mid := release.decision with input as json.remove(mid_step, ["canary/app"])
	count({n | some n in mid.notes; contains(n, "/metrics")}) == 0
}

test_missing_figures_fail_closed if {
	d := release.decision with input as {"window_seconds": 30, "weight": 10, "extensions": 0, "final": true, "canary": {}, "stable": {}}
	d.verdict == "abort"
	"missing_input" in rules(d)
}

test_missing_evidence_fails_closed if {
	for_look := json.remove(mid_step, ["evidence/errors/p_value", "evidence/p99_limit"])
	d := release.decision with input as for_look
	d.verdict == "abort"
	{v.observed | some v in d.violations} == {null}
	{v.message | some v in d.violations} == {
		"input evidence.errors.p_value is missing or not a number",
		"input evidence.p99_limit.lower_ms is missing or not a number",
		"input evidence.p99_limit.alpha is missing or not a number",
	}
}

test_missing_thresholds_fail_closed if {
	d := release.decision with input as good with data.swiftdeploy.thresholds.release as {}
	d.verdict == "abort"
	"missing_threshold" in rules(d)
	some v in d.violations
	v.message == "threshold data.swiftdeploy.thresholds.release.alpha_spending is missing or not a name"
}
