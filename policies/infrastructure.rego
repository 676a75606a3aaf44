# Package swiftdeploy.infrastructure decides, before a deploy, whether this host has the
# room to run the stack: free disk on Docker's data root, the 1-minute CPU load and the
# share of free memory. Every limit lives in data.swiftdeploy.thresholds.infrastructure
# (policies/data.json, overridable per environment in the manifest's policy section).
#
# The answer is the document `decision`; the command line acts on it and never decides itself.
package swiftdeploy.infrastructure

# Without this import, `not is_number(input.x)` with input.x undefined is itself undefined
# and a missing field would fail open; with it, the negation holds as intended.
import future.keywords.not

import data.swiftdeploy.lib.checks

limits := data.swiftdeploy.thresholds.infrastructure

measured := ["disk_free_gb", "cpu_load_1m", "mem_free_percent"]

threshold_keys := ["min_disk_free_gb", "max_cpu_load_1m", "min_mem_free_percent"]

violations contains checks.missing_input(field, "a number") if {
	some field in measured
	not is_number(input[field])
}

violations contains checks.missing_threshold("infrastructure", key) if {
	some key in threshold_keys
	not is_number(limits[key])
}

violations contains {
	"rule": "disk_free",
	"observed": input.disk_free_gb,
	"limit": limits.min_disk_free_gb,
	"message": sprintf("disk free %s GB is below the %s GB minimum", [checks.fixed2(input.disk_free_gb), checks.fixed2(limits.min_disk_free_gb)]),
} if {
	checks.below(input.disk_free_gb, limits.min_disk_free_gb)
}

violations contains {
	"rule": "cpu_load",
	"observed": input.cpu_load_1m,
	"limit": limits.max_cpu_load_1m,
	"message": sprintf("CPU load %s exceeds the %s maximum", [checks.fixed2(input.cpu_load_1m), checks.fixed2(limits.max_cpu_load_1m)]),
} if {
	checks.above(input.cpu_load_1m, limits.max_cpu_load_1m)
}

violations contains {
	"rule": "mem_free",
	"observed": input.mem_free_percent,
	"limit": limits.min_mem_free_percent,
	"message": sprintf("free memory %s%% is below the %s%% minimum", [checks.fixed2(input.mem_free_percent), checks.fixed2(limits.min_mem_free_percent)]),
} if {
	checks.below(input.mem_free_percent, limits.min_mem_free_percent)
}

allow := violations == set()

# A CPU load spike (a build that just finished) passes by itself. When it is the only
# problem, the decision says for how long the caller may measure and ask again;
# every other violation is final (null: do not ask again).
transient_rules := {"cpu_load"}

default retry_seconds := null

retry_seconds := limits.cpu_settle_seconds if {
	violations != set()
	every v in violations {
		v.rule in transient_rules
	}
	is_number(limits.cpu_settle_seconds)
}

default checked := null

checked := input

decision := {
	"allow": allow,
	"domain": "infrastructure",
	"checked": checked,
	"violations": violations,
	"notes": [],
	"retry_seconds": retry_seconds,
}
