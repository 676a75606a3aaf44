package history

// Event names: what the "event" of every history line says. The commands
// that write history (internal/stack) and the audit that reads it share
// them, so that an event cannot be spelled one way by a writer and another
// by the report.
const (
	EventSetup          = "setup"
	EventInit           = "init"
	EventValidate       = "validate"
	EventDeploy         = "deploy"
	EventDeployBlocked  = "deploy_blocked"
	EventPromote        = "promote"
	EventPromoteBlocked = "promote_blocked"
	EventRollback       = "rollback"
	EventRecover        = "recover" // a switch a killed command left, finished or undone
	EventChaos          = "chaos"
	EventTeardown       = "teardown"
	EventAudit          = "audit"
	EventPolicyDecision = "policy_decision"
	EventStatusScrape   = "status_scrape"
	EventMetricsSample  = "metrics_sample"
	EventError          = "error" // a command that failed before it could say what it was
)
