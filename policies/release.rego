# Package swiftdeploy.release judges one step of a release: the new build (canary) and the
# build serving before it (stable), measured side by side over the same window. Each build
# is measured from nginx's view (what clients saw: status codes, including the 502/504 nginx
# answered when it could not reach the build, and upstream time) and, where the build has
# them, from its own /metrics ("app"). Every limit lives in
# data.swiftdeploy.thresholds.release (policies/data.json, overridable in the manifest).
#
# The verdict is one of:
#   promote - the canary may take the next step;
#   hold    - too few canary requests to judge (inconclusive): the step runs step_seconds
#             longer, its window growing, at most max_inconclusive_extensions times;
#   abort   - a rule is broken, or the step stayed inconclusive after every extension.
# A broken rule aborts whatever the traffic: a canary whose few requests fail is not given
# the benefit of the doubt.
package swiftdeploy.release

import future.keywords.not

import data.swiftdeploy.lib.checks

limits := data.swiftdeploy.thresholds.release

threshold_keys := [
	"max_error_rate_percent", "max_p99_latency_ms", "max_error_rate_over_stable_percent",
	"max_p99_ratio_to_stable", "min_p99_excess_ms", "min_requests", "max_inconclusive_extensions",
]

builds := ["canary", "stable"]

figures := ["requests", "error_rate_percent", "p99_latency_ms"]

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

findings contains checks.missing_input(sprintf("%s.%s", [b, f]), "a number") if {
	some b in builds
	some f in figures
	not is_number(input[b][f])
}

findings contains checks.missing_threshold("release", key) if {
	some key in threshold_keys
	not is_number(limits[key])
}

# A view with no request has no error rate or P99 to judge.
measured(build, v) if view(build, v).requests > 0

findings contains {
	"rule": "error_rate",
	"observed": view("canary", v).error_rate_percent,
	"limit": limits.max_error_rate_percent,
	"message": sprintf("canary error rate %s%% (%s) exceeds the %s%% limit", [checks.fixed2(view("canary", v).error_rate_percent), source(v), checks.fixed2(limits.max_error_rate_percent)]),
} if {
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
	some v in views("canary")
	measured("canary", v)
	checks.above(view("canary", v).p99_latency_ms, limits.max_p99_latency_ms)
}

# Relative limits need stable traffic in the same window to compare with.
comparable(v) if {
	v in views("canary")
	v in views("stable")
	measured("canary", v)
	view("stable", v).requests >= limits.min_requests
}

findings contains {
	"rule": "error_rate_vs_stable",
	"observed": view("canary", v).error_rate_percent,
	"limit": limit,
	"message": sprintf("canary error rate %s%% (%s) exceeds stable's %s%% plus the %s-point margin", [checks.fixed2(view("canary", v).error_rate_percent), source(v), checks.fixed2(view("stable", v).error_rate_percent), checks.fixed2(limits.max_error_rate_over_stable_percent)]),
} if {
	some v in views("canary")
	comparable(v)
	limit := view("stable", v).error_rate_percent + limits.max_error_rate_over_stable_percent
	checks.above(view("canary", v).error_rate_percent, limit)
}

# A P99 a few milliseconds above a fast stable's is noise, not a regression: the canary must
# be both a factor slower and min_p99_excess_ms slower.
findings contains {
	"rule": "p99_vs_stable",
	"observed": view("canary", v).p99_latency_ms,
	"limit": limit,
	"message": sprintf("canary P99 %s ms (%s) exceeds %s x stable's %s ms", [checks.fixed2(view("canary", v).p99_latency_ms), source(v), checks.fixed2(limits.max_p99_ratio_to_stable), checks.fixed2(view("stable", v).p99_latency_ms)]),
} if {
	some v in views("canary")
	comparable(v)
	limit := view("stable", v).p99_latency_ms * limits.max_p99_ratio_to_stable
	checks.above(view("canary", v).p99_latency_ms, limit)
	checks.above(view("canary", v).p99_latency_ms - view("stable", v).p99_latency_ms, limits.min_p99_excess_ms)
}

source(v) := "as clients saw it at nginx" if v == "nginx"

source(v) := "from its /metrics" if v == "app"

inconclusive if {
	is_number(input.canary.requests)
	checks.below(input.canary.requests, limits.min_requests)
}

extensions_left if checks.below(input.extensions, limits.max_inconclusive_extensions)

stuck := {{
	"rule": "inconclusive",
	"observed": input.canary.requests,
	"limit": limits.min_requests,
	"message": sprintf("only %v canary requests after %v extensions of the step: fewer than the %v needed to judge it", [input.canary.requests, input.extensions, limits.min_requests]),
}} if {
	inconclusive
	not extensions_left
} else := set()

violations := findings | stuck

default verdict := "abort"

verdict := "promote" if {
	violations == set()
	not inconclusive
}

verdict := "hold" if {
	violations == set()
	inconclusive
}

notes contains sprintf("inconclusive: %v canary requests, %v needed; the step is extended (%v of %v extensions)", [input.canary.requests, limits.min_requests, input.extensions + 1, limits.max_inconclusive_extensions]) if verdict == "hold"

notes contains "the canary has no /metrics: judged from nginx's counts alone" if not is_object(input.canary.app)

notes contains sprintf("stable had %v requests, fewer than %v: limits relative to stable not applied", [input.stable.requests, limits.min_requests]) if {
	is_number(input.stable.requests)
	checks.below(input.stable.requests, limits.min_requests)
	input.weight < 100
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
