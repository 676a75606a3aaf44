// Package history appends to and reads history.jsonl, the append-only record of
// everything SwiftDeploy did and decided.
//
// Each line is one JSON object whose first two keys are "timestamp" (RFC 3339, UTC)
// and "event"; the other fields follow sorted by key, so lines diff and grep well.
// Several writers may append at once (status refreshing while promote runs, or two
// terminals): Append takes an exclusive flock and writes each line with one write
// call, so lines never interleave and none is lost. Readers skip malformed lines and
// report them instead of failing: a history must stay readable after a crash.
// Reader.Next decodes every field; Reader.NextRaw validates the line but decodes
// only what its accessors, or Raw.Decode into an event's payload struct, are
// asked for, which is what makes an audit of a million lines take about a second.
//
// Events written by SwiftDeploy, each with its payload struct in events.go, the
// one spelling of the history's contract for the commands that write it and the
// audit that reads it. Every event may carry Outcome's "result" ("ok", "failed",
// "denied", "invalid" or "noop") and "error".
//
//	event            payload         fields
//	---------------  --------------  ----------------------------------------------------
//	setup            Setup           result, elapsed_seconds, error
//	init             Init            result, mode, files, error
//	validate         Validate        checks, failed
//	deploy           Deploy          result, mode, release, elapsed_seconds, error
//	deploy_blocked   Blocked         domain, violations[{rule, observed, limit, message}]
//	promote          Promote         from, to, overridden, result, elapsed_seconds, error
//	promote_blocked  Blocked         from, to, action, domain, violations
//	rollback         Rollback        from, to | from_image, from_version, to_image,
//	                                 to_version | release ("undone", "aborted");
//	                                 overridden, result, elapsed_seconds, error
//	recover          Recover         action, from, to, phase, pid,
//	                                 result ("finished", "undone")
//	chaos            Chaos           mode ("slow", "error", "recover"), target, duration,
//	                                 rate, instances, result, error
//	teardown         Teardown        clean, result, error
//	audit            Audit           result, events, skipped, report
//	replay           Replay          result, releases, steps, changed, unjudged, error
//	policy_decision  PolicyDecision  domain, action, input (internal/gate's input of the
//	                                 domain), decision{allow, domain, checked, violations,
//	                                 notes, verdict, overridden, override_reason,
//	                                 retry_seconds}, overridden (true when break-glass
//	                                 let a denied action through), error
//	status_scrape    StatusScrape    mode, chaos, window{window_seconds, requests, errors,
//	                                 error_rate_percent, p99_latency_ms, no_traffic,
//	                                 counter_reset}, req_per_sec, sample{at, requests,
//	                                 errors, buckets[{le, count}], uptime_seconds, mode,
//	                                 chaos} | release (during a release)
//	metrics_sample   Sample          the fields of status_scrape's sample, at the top level
//	release          ReleaseEvent    result ("started", "completed", "aborted", "error"),
//	                                 strategy, from_image, from_version, to_image,
//	                                 to_version, steps, step, weight, reasons,
//	                                 elapsed_seconds, first_bad_to_abort_seconds, error
//	release_step     ReleaseStep     step, steps, weight, extension, window_seconds,
//	                                 step_seconds, final, verdict, canary, stable,
//	                                 canary_app, stable_app, reasons, notes, evidence
//	                                 (internal/judge), looks[{seconds, canary, stable}],
//	                                 canary_sample, stable_sample{ms, n},
//	                                 first_bad_to_verdict_seconds
//	<command>        Outcome         result, error: a command that could not take the
//	                                 stack's lock, under its first word
//	error            CommandError    command, message (older histories; commands now
//	                                 record their own failure)
package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"
)

// File is the history's name in each stack's folder.
const File = "history.jsonl"

// Event is the fields of one event as passed to Append: everything but
// "timestamp" and "event", which Append writes itself.
type Event map[string]any

// Keys every line starts with; callers cannot set them through fields.
const (
	keyTimestamp = "timestamp"
	keyEvent     = "event"
)

// Append writes one line for event at time at to the history file at path,
// creating the file when missing. payload is the event's struct from
// events.go, or a map of fields; either way it must not hold "timestamp" or
// "event".
func Append(path string, at time.Time, event string, payload any) error {
	line, err := encodeLine(at, event, payload)
	if err != nil {
		return fmt.Errorf("history: encode %q event: %w", event, err)
	}
	if err := appendLine(path, line); err != nil {
		return fmt.Errorf("history: append to %s: %w", path, err)
	}
	return nil
}

// field is one top-level key of a line and its encoded value.
type field struct {
	key   string
	value []byte
}

// encodeLine renders the line by hand because encoding/json would not put
// timestamp and event first.
func encodeLine(at time.Time, event string, payload any) ([]byte, error) {
	var errs []error
	if event == "" {
		errs = append(errs, errors.New("event name is empty"))
	}
	fields, err := fieldsOf(payload)
	if err != nil {
		errs = append(errs, err)
	}
	fields = slices.DeleteFunc(fields, func(f field) bool {
		if f.key == keyTimestamp || f.key == keyEvent {
			errs = append(errs, fmt.Errorf("field %q is reserved", f.key))
			return true
		}
		return false
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.key, b.key) })

	line := []byte(`{"` + keyTimestamp + `":"` + at.UTC().Format(time.RFC3339Nano) + `","` + keyEvent + `":`)
	name, _ := encode(event) // a string always encodes
	line = append(line, name...)
	for _, f := range fields {
		key, _ := encode(f.key)
		line = append(append(append(append(line, ','), key...), ':'), f.value...)
	}
	return append(line, '}', '\n'), nil
}

// fieldsOf encodes payload's top-level fields. A map's values are encoded one
// by one, so that an error names its field; a struct is encoded whole and
// split, so that its nested values keep the order its type gives them.
func fieldsOf(payload any) ([]field, error) {
	if m, ok := payload.(map[string]any); ok {
		return mapFields(m)
	}
	if m, ok := payload.(Event); ok {
		return mapFields(m)
	}
	data, err := encode(payload)
	if err != nil {
		return nil, err
	}
	if string(data) == "null" {
		return nil, nil // a nil payload: an event with no fields
	}
	members, err := splitObject(data, nil)
	if err != nil {
		return nil, fmt.Errorf("payload %T: %w", payload, err)
	}
	fields := make([]field, len(members))
	for i, m := range members {
		fields[i] = field{key: m.name(), value: m.value}
	}
	return fields, nil
}

func mapFields(m map[string]any) ([]field, error) {
	var errs []error
	fields := make([]field, 0, len(m))
	for k, v := range m {
		data, err := encode(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %q: %w", k, err))
			continue
		}
		fields = append(fields, field{key: k, value: data})
	}
	return fields, errors.Join(errs...)
}

// encode is json.Marshal without HTML escaping, so that messages like
// "p99 > 500 ms" stay readable in the file.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil // Encode ends every value with a newline
}

// appendLine writes line at the end of path under an exclusive flock. The lock
// makes concurrent appends from other processes wait, and the single write call
// keeps a line whole. A previous writer that died mid-line left no newline; the
// line is then started on a fresh line so that only the broken one is lost.
func appendLine(path string, line []byte) (err error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		if uerr := syscall.Flock(fd, syscall.LOCK_UN); err == nil && uerr != nil {
			err = fmt.Errorf("unlock: %w", uerr)
		}
	}()
	if !endsWithNewline(f) {
		line = append([]byte{'\n'}, line...)
	}
	_, err = f.Write(line)
	return err
}

// endsWithNewline reports whether the file is empty or its last byte is a newline.
func endsWithNewline(f *os.File) bool {
	info, err := f.Stat()
	if err != nil || info.Size() == 0 {
		return true
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, info.Size()-1); err != nil && err != io.EOF {
		return true
	}
	return last[0] == '\n'
}
