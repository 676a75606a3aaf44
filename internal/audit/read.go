package audit

import "github.com/swiftdeploy/swiftdeploy/internal/history"

// line is what the audit reads of one history line: decoded where the line
// was parsed, on the reading goroutines, and collected in file order.
type line struct {
	// result is how the line's command ended, as every event may say.
	result string
	// scrape is a status scrape's refresh: nearly every line of a long
	// history is one, kept out of payload so that it costs no allocation.
	scrape history.Refresh
	// payload is the payload struct of any other event the report reads, as
	// a pointer; nil for one it only counts.
	payload any
	// err says payload did not fit the line. Each reading takes what fits
	// (a history must stay readable) except a release's, whose figures half
	// read would mislead.
	err error
}

// scrapeLine is what the audit reads of a status scrape.
type scrapeLine struct {
	history.Outcome
	history.Refresh
}

// newDecode gives each reading goroutine its decoder of lines.
func newDecode() func(history.Raw) line {
	var d history.Decoder
	var scrape scrapeLine // decoded in place, line after line
	return func(raw history.Raw) line {
		if raw.Event == history.EventStatusScrape {
			scrape = scrapeLine{}
			_ = d.Decode(raw, &scrape)
			return line{result: scrape.Result, scrape: scrape.Refresh}
		}
		var outcome history.Outcome
		_ = d.Decode(raw, &outcome)
		l := line{result: outcome.Result, payload: payloadOf(raw.Event)}
		if l.payload != nil {
			l.err = d.Decode(raw, l.payload)
		}
		return l
	}
}

// payloadOf is a new payload struct for an event the report reads.
func payloadOf(event string) any {
	switch event {
	case history.EventPolicyDecision:
		return &history.PolicyDecision{}
	case history.EventDeployBlocked, history.EventPromoteBlocked:
		return &history.Blocked{}
	case history.EventDeploy:
		return &history.Deploy{}
	case history.EventPromote:
		return &history.Promote{}
	case history.EventRollback:
		return &history.Rollback{}
	case history.EventTeardown:
		return &history.Teardown{}
	case history.EventChaos:
		return &history.Chaos{}
	case history.EventRecover:
		return &history.Recover{}
	case history.EventRelease:
		return &history.ReleaseEvent{}
	case history.EventReleaseStep:
		return &history.ReleaseStep{}
	case history.EventInit:
		return &history.Init{}
	case history.EventError:
		return &history.CommandError{}
	case history.EventCertificate:
		return &history.Certificate{}
	case history.EventEdge:
		return &history.Edge{}
	}
	return nil
}
