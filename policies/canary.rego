# Package swiftdeploy.canary decides whether a mode change is safe, from what the service's
# own metrics showed over the last window: its error rate and its P99 latency. Every limit
# lives in data.swiftdeploy.thresholds.canary (policies/data.json, overridable per
# environment in the manifest's policy section).
#
# A rollback is the emergency path: always allowed, with what would have blocked a promote
# kept as notes. An empty window is allowed with a note, since there is nothing to judge;
# raise min_requests to demand traffic before a promote.
package swiftdeploy.canary

# Without this import, `not f(input.x)` with input.x undefined is itself undefined and a
# missing field would fail open; with it, the negation holds as intended.
import future.keywords.not

import data.swiftdeploy.lib.checks

limits := data.swiftdeploy.thresholds.canary

labels := ["current_mode", "target_mode", "action"]

threshold_keys := ["max_error_rate_percent", "max_p99_latency_ms", "window_seconds", "min_requests"]

actions := {"promote", "rollback"}

default no_traffic := false

no_traffic if input.no_traffic == true

no_traffic if input.requests == 0

# The error rate and P99 of an empty window do not exist, so they are asked for only when
# there was traffic.
measured := ["window_seconds", "requests"] if no_traffic

else := ["window_seconds", "requests", "error_rate_percent", "p99_latency_ms"]

window := input.window_seconds if {
	is_number(input.window_seconds)
} else := limits.window_seconds

# findings are what would block a promote; a rollback reports them as notes instead.
findings contains checks.missing_input(field, "a string") if {
	some field in labels
	not is_string(input[field])
}

findings contains checks.missing_input(field, "a number") if {
	some field in measured
	not is_number(input[field])
}

findings contains checks.missing_threshold("canary", key) if {
	some key in threshold_keys
	not is_number(limits[key])
}

findings contains {
	"rule": "unknown_action",
	"observed": input.action,
	"limit": "promote or rollback",
	"message": sprintf("action %q is neither promote nor rollback", [input.action]),
} if {
	is_string(input.action)
	not input.action in actions
}

findings contains {
	"rule": "error_rate",
	"observed": input.error_rate_percent,
	"limit": limits.max_error_rate_percent,
	"message": sprintf("error rate %s%% exceeds the %s%% limit", [checks.fixed2(input.error_rate_percent), checks.fixed2(limits.max_error_rate_percent)]),
} if {
	checks.above(input.error_rate_percent, limits.max_error_rate_percent)
}

findings contains {
	"rule": "p99_latency",
	"observed": input.p99_latency_ms,
	"limit": limits.max_p99_latency_ms,
	"message": sprintf("P99 latency %s ms exceeds the %s ms limit", [checks.fixed2(input.p99_latency_ms), checks.fixed2(limits.max_p99_latency_ms)]),
} if {
	checks.above(input.p99_latency_ms, limits.max_p99_latency_ms)
}

findings contains {
	"rule": "min_requests",
	"observed": input.requests,
	"limit": limits.min_requests,
	"message": sprintf("%v requests in the last %v s window are fewer than the %v required", [input.requests, window, limits.min_requests]),
} if {
	checks.below(input.requests, limits.min_requests)
}

rollback if input.action == "rollback"

violations := set() if rollback

else := findings

notes contains sprintf("no traffic in the last %s s window", [format_int(window, 10)]) if no_traffic

notes contains "rollback is the emergency path: allowed whatever the metrics say" if rollback

notes contains sprintf("ignored for rollback: %s", [f.message]) if {
	rollback
	some f in findings
}

allow := violations == set()

default checked := null

checked := input

decision := {
	"allow": allow,
	"domain": "canary",
	"checked": checked,
	"violations": violations,
	"notes": notes,
}
