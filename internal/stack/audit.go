package stack

import (
	"fmt"

	"github.com/swiftdeploy/swiftdeploy/internal/audit"
	"github.com/swiftdeploy/swiftdeploy/internal/history"
)

// ReportFile is where audit writes its report.
const ReportFile = "audit_report.md"

// Audit streams history.jsonl into audit_report.md.
func (s *Stack) Audit() error {
	stats, err := audit.WriteFile(s.path(ReportFile), s.path(HistoryFile), audit.Options{Now: s.Now().UTC(), Source: HistoryFile})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	for _, skip := range stats.Skips {
		s.Out.Warn("%s line %d skipped: %s", HistoryFile, skip.Line, skip.Reason)
	}
	if stats.Skipped > len(stats.Skips) {
		s.Out.Warn("%d more malformed lines skipped", stats.Skipped-len(stats.Skips))
	}
	s.Out.OK("wrote %s from %d events in %s", ReportFile, stats.Events, HistoryFile)
	s.record(history.EventAudit, history.Audit{Result: "ok", Events: stats.Events, Skipped: stats.Skipped, Report: ReportFile})
	return nil
}
