# Package swiftdeploy.release judges a release step look by look: the new build (canary) and
# the build serving before it (stable), measured side by side over the step's window so far.
# Each build is measured from nginx's view (what clients saw: status codes, including the
# 502/504 nginx answered when it could not reach the build, and upstream time) and, at the
# step's end, from its own /metrics where it has them ("app"). SwiftDeploy computes the
# evidence (internal/judge): the canary's error proportion against stable's (Fisher's exact
# test), its request times against stable's (Mann-Whitney U), and lower confidence bounds of
# its error rate and P99, each test at the nominal level the alpha spending rule leaves this
# look. This policy keeps the decision. Every limit lives in data.swiftdeploy.thresholds.release
# (policies/data.json, overridable in the manifest).
#
# The verdict is one of:
#   promote - at the step's end (input.final): no test shows the canary worse, it is within
#             the limits, and the window could have shown it worse;
#   hold    - before the step's end, nothing shows the canary worse: the step runs on; or, at
#             its end, inconclusive: the window could not have shown a failing canary worse
#             at that confidence, and the step runs step_seconds longer, at most
#             max_inconclusive_extensions times;
#   abort   - a test shows the canary worse than stable, or above a limit, at any look; or
#             the step stayed inconclusive after every extension.
package swiftdeploy.release

# Without this import, `not f(input.x)` with input.x undefined is itself undefined and a
# missing field would fail open; with it, the negation holds as intended.
import future.keywords.not

import data.swiftdeploy.lib.checks

limits := data.swiftdeploy.thresholds.release

threshold_keys := ["max_error_rate_percent", "max_p99_latency_ms", "confidence", "look_seconds", "latency_margin_percent", "latency_warmup_seconds", "max_inconclusive_extensions"]

builds := ["canary", "stable"]

figures := ["requests", "error_rate_percent", "p99_latency_ms"]

evidence_numbers := [
	"confidence", "spending.look", "spending.total", "errors.p_value", "errors.alpha", "errors.step_errors_needed",
	"errors.canary.rate_percent", "errors.stable.rate_percent",
	"errors.difference_points.lower", "errors.difference_points.upper",
	"latency.p_value", "latency.alpha", "latency.probability_slower", "latency.margin_percent", "latency.slack_ms", "latency.warmup_seconds",
	"latency.canary_median_ms", "latency.stable_median_ms",
	"error_limit.lower_percent", "error_limit.alpha", "p99_limit.lower_ms", "p99_limit.alpha",
]

final if input.final == true

# At 100 % stable serves no user's request: the canary is compared with it only when it had
# some (rollout.smoke's, which go to both builds whatever the weight).
compared if input.weight < 100

compared if input.stable.requests > 0

ev := input.evidence

# The views a build was measured from: nginx's always, the app's own when it has /metrics.
views(build) := {"nginx"} if {
	not is_object(input[build].app)
} else := {"nginx", "app"}

view(build, v) := input[build] if v == "nginx"

view(build, v) := input[build].app if v == "app"

findings contains checks.missing_input(field, "a number") if {
	some field in ["window_seconds", "weight", "extensions"]
	not is_number(input[field])
}

findings contains checks.missing_input("final", "a boolean") if not is_boolean(input.final)

findings contains checks.missing_input(sprintf("%s.%s", [b, f]), "a number") if {
	some b in builds
	some f in figures
	not is_number(input[b][f])
}

findings contains checks.missing_input(sprintf("evidence.%s", [path]), "a number") if {
	some path in evidence_numbers
	not is_number(object.get(input, array.concat(["evidence"], split(path, ".")), null))
}

findings contains checks.missing_threshold("release", key) if {
	some key in threshold_keys
	not is_number(limits[key])
}

findings contains {
	"rule": "missing_threshold",
	"observed": null,
	"limit": "alpha_spending",
	"message": "threshold data.swiftdeploy.thresholds.release.alpha_spending is missing or not a name",
} if not is_string(limits.alpha_spending)

# The evidence must have been computed at the confidence this policy asks for.
findings contains {
	"rule": "evidence_confidence",
	"observed": ev.confidence,
	"limit": limits.confidence,
	"message": sprintf("the evidence was computed at confidence %v, the policy asks for %v", [ev.confidence, limits.confidence]),
} if {
	is_number(ev.confidence)
	is_number(limits.confidence)
	ev.confidence != limits.confidence
}

findings contains {
	"rule": "evidence_margin",
	"observed": ev.latency.margin_percent,
	"limit": limits.latency_margin_percent,
	"message": sprintf("the latency test was computed with a %v%% margin, the policy asks for %v%%", [ev.latency.margin_percent, limits.latency_margin_percent]),
} if {
	is_number(ev.latency.margin_percent)
	is_number(limits.latency_margin_percent)
	ev.latency.margin_percent != limits.latency_margin_percent
}

significant(test) if {
	is_number(test.p_value)
	is_number(test.alpha)
	test.alpha > 0
	test.p_value <= test.alpha
}

findings contains {
	"rule": "errors_vs_stable",
	"observed": ev.errors.p_value,
	"limit": ev.errors.alpha,
	"message": sprintf("the canary fails more often than stable: %s%% of %v requests against %s%% of %v, p = %s at or under α = %s (Fisher's exact test at look %v); %s to %s points more (%s interval)", [
		checks.fixed2(ev.errors.canary.rate_percent), ev.errors.canary.requests,
		checks.fixed2(ev.errors.stable.rate_percent), ev.errors.stable.requests,
		checks.sig(ev.errors.p_value), checks.sig(ev.errors.alpha), ev.spending.look,
		checks.fixed2(ev.errors.difference_points.lower), checks.fixed2(ev.errors.difference_points.upper),
		percent(ev.confidence),
	]),
} if {
	compared
	significant(ev.errors)
}

findings contains {
	"rule": "latency_vs_stable",
	"observed": ev.latency.p_value,
	"limit": ev.latency.alpha,
	"message": sprintf("the canary is slower than stable by more than %v%% and %v ms: median %s ms of %v requests against %s ms of %v, a canary request the slower of a pair by that much in %s%% of pairs, p = %s at or under α = %s (Mann-Whitney U at look %v, on the requests after the step's first %v s)", [
		ev.latency.margin_percent, ev.latency.slack_ms,
		checks.fixed2(ev.latency.canary_median_ms), ev.latency.canary_n,
		checks.fixed2(ev.latency.stable_median_ms), ev.latency.stable_n,
		checks.fixed2(100 * ev.latency.probability_slower),
		checks.sig(ev.latency.p_value), checks.sig(ev.latency.alpha), ev.spending.look, ev.latency.warmup_seconds,
	]),
} if {
	compared
	significant(ev.latency)
}

# Before the step's end, an absolute limit aborts only when a lower confidence bound of the
# canary's figure is above it: a few requests, one of which failed or was slow, say nothing yet.
findings contains {
	"rule": "error_rate",
	"observed": ev.error_limit.lower_percent,
	"limit": limits.max_error_rate_percent,
	"message": sprintf("canary error rate %s%% of %v requests (as clients saw it at nginx) exceeds the %s%% limit: at least %s%% at look %v (one-sided bound at α = %s)", [
		checks.fixed2(input.canary.error_rate_percent), input.canary.requests, checks.fixed2(limits.max_error_rate_percent),
		checks.fixed2(ev.error_limit.lower_percent), ev.spending.look, checks.sig(ev.error_limit.alpha),
	]),
} if {
	not final
	checks.above(ev.error_limit.lower_percent, limits.max_error_rate_percent)
}

findings contains {
	"rule": "p99_latency",
	"observed": ev.p99_limit.lower_ms,
	"limit": limits.max_p99_latency_ms,
	"message": sprintf("canary P99 latency (as clients saw it at nginx) exceeds the %s ms limit: at least %s ms at look %v (one-sided bound at α = %s, of %v request times)", [
		checks.fixed2(limits.max_p99_latency_ms), checks.fixed2(ev.p99_limit.lower_ms), ev.spending.look,
		checks.sig(ev.p99_limit.alpha), ev.p99_limit.sample_n,
	]),
} if {
	not final
	checks.above(ev.p99_limit.lower_ms, limits.max_p99_latency_ms)
}

# At the step's end, the limits are what was measured, in either view.
measured(build, v) if view(build, v).requests > 0

findings contains {
	"rule": "error_rate",
	"observed": view("canary", v).error_rate_percent,
	"limit": limits.max_error_rate_percent,
	"message": sprintf("canary error rate %s%% (%s) exceeds the %s%% limit", [checks.fixed2(view("canary", v).error_rate_percent), source(v), checks.fixed2(limits.max_error_rate_percent)]),
} if {
	final
	some v in views("canary")
	measured("canary", v)
	checks.above(view("canary", v).error_rate_percent, limits.max_error_rate_percent)
}

findings contains {
	"rule": "p99_latency",
	"observed": view("canary", v).p99_latency_ms,
	"limit": limits.max_p99_latency_ms,
	"message": sprintf("canary P99 latency %s ms (%s) exceeds the %s ms limit", [checks.fixed2(view("canary", v).p99_latency_ms), source(v), checks.fixed2(limits.max_p99_latency_ms)]),
} if {
	final
	some v in views("canary")
	measured("canary", v)
	checks.above(view("canary", v).p99_latency_ms, limits.max_p99_latency_ms)
}

source(v) := "as clients saw it at nginx" if v == "nginx"

source(v) := "from its /metrics" if v == "app"

percent(x) := sprintf("%v%%", [round(100 * x)]) if is_number(x)

# Inconclusive, computed: at the step's end, not even every canary request failing would have
# shown the canary worse than stable at the errors test's level for the step (the latency test
# can show a slower canary whenever this one can show a failing one), or, at 100 %, no
# request reached the canary at all.
inconclusive if {
	final
	compared
	checks.below(ev.errors.step_errors_needed, 0)
}

inconclusive if {
	final
	not compared
	input.canary.requests == 0
}

extensions_left if checks.below(input.extensions, limits.max_inconclusive_extensions)

why_inconclusive := sprintf("%v canary requests against stable's %v failures in %v: not even all of them failing would show the canary worse at α = %s", [
	ev.errors.canary.requests, ev.errors.stable.errors, ev.errors.stable.requests, checks.sig(ev.spending.total),
]) if compared

else := sprintf("no request reached the canary at %v%%", [input.weight])

stuck := {{
	"rule": "inconclusive",
	"observed": input.canary.requests,
	"limit": ev.errors.step_errors_needed,
	"message": sprintf("inconclusive after %v extensions of the step: %s", [input.extensions, why_inconclusive]),
}} if {
	inconclusive
	not extensions_left
} else := set()

violations := findings | stuck

default verdict := "abort"

verdict := "promote" if {
	final
	violations == set()
	not inconclusive
}

verdict := "hold" if {
	not final
	violations == set()
}

verdict := "hold" if {
	final
	violations == set()
	inconclusive
}

# The evidence, as the verdict's notes.
notes contains sprintf("errors: canary %s%% of %v, stable %s%% of %v; p = %s against α = %s at look %v (Fisher's exact test, %s spending); the difference is %s to %s points (%s interval)", [
	checks.fixed2(ev.errors.canary.rate_percent), ev.errors.canary.requests,
	checks.fixed2(ev.errors.stable.rate_percent), ev.errors.stable.requests,
	checks.sig(ev.errors.p_value), checks.sig(ev.errors.alpha), ev.spending.look, ev.spending.spending,
	checks.fixed2(ev.errors.difference_points.lower), checks.fixed2(ev.errors.difference_points.upper), percent(ev.confidence),
]) if compared

notes contains sprintf("latency: canary median %s ms of %v, stable %s ms of %v; a canary request slower than a stable one by more than %v%% and %v ms in %s%% of pairs; p = %s against α = %s (Mann-Whitney U)", [
	checks.fixed2(ev.latency.canary_median_ms), ev.latency.canary_n,
	checks.fixed2(ev.latency.stable_median_ms), ev.latency.stable_n,
	ev.latency.margin_percent, ev.latency.slack_ms, checks.fixed2(100 * ev.latency.probability_slower), checks.sig(ev.latency.p_value), checks.sig(ev.latency.alpha),
]) if compared

notes contains sprintf("look %v at %vs: nothing shows the canary worse yet; the step runs on", [ev.spending.look, input.window_seconds]) if {
	not final
	verdict == "hold"
}

notes contains sprintf("inconclusive: %s; the step is extended (%v of %v extensions)", [why_inconclusive, input.extensions + 1, limits.max_inconclusive_extensions]) if {
	final
	verdict == "hold"
}

notes contains "stable served no request at 100%: the canary is judged on the absolute limits alone" if {
	final
	not compared
}

notes contains "the canary has no /metrics: judged from nginx's counts alone" if {
	final
	not is_object(input.canary.app)
}

allow := verdict == "promote"

default checked := null

checked := input

decision := {
	"allow": allow,
	"domain": "release",
	"verdict": verdict,
	"checked": checked,
	"violations": violations,
	"notes": notes,
}
