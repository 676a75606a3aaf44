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
// only what its accessors are asked for, which is what makes an audit of a
// million lines take about a second.
//
// Events written by SwiftDeploy and the fields they carry (every event may also
// carry "result": "ok", "failed", "denied" or "noop"):
//
//	event            fields
//	---------------  ------------------------------------------------------------------
//	init             mode, files
//	validate         checks, failed
//	deploy           mode, result
//	promote          from, to, result, overridden
//	rollback         from, to, result
//	chaos            mode ("slow", "error", "recover"), rate, duration, result
//	teardown         clean, result
//	policy_decision  domain, action, input,
//	                 decision{allow, violations[{rule, observed, limit, message}], notes},
//	                 overridden (true when break-glass let a denied action through)
//	deploy_blocked   domain, violations[{rule, observed, limit, message}]
//	promote_blocked  from, to, domain, violations[{rule, observed, limit, message}]
//	status_scrape    mode, chaos,
//	                 window{requests, error_rate_percent, p99_latency_ms, window_seconds,
//	                        no_traffic},
//	                 sample{at, requests, errors, buckets[[le, count]...], uptime_seconds,
//	                        mode, chaos}
//	metrics_sample   the fields of status_scrape's sample, at the top level
//	error            command, message (older histories; commands now record
//	                 their own failure with result "failed" and an error field)
package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"
	"time"
)

// Event is the fields of one event as passed to Append: everything but
// "timestamp" and "event", which Append writes itself.
type Event map[string]any

// Keys every line starts with; callers cannot set them through fields.
const (
	keyTimestamp = "timestamp"
	keyEvent     = "event"
)

// Append writes one line for event at time at to the history file at path,
// creating the file when missing. fields must not hold "timestamp" or "event".
func Append(path string, at time.Time, event string, fields map[string]any) error {
	line, err := encodeLine(at, event, fields)
	if err != nil {
		return fmt.Errorf("history: encode %q event: %w", event, err)
	}
	if err := appendLine(path, line); err != nil {
		return fmt.Errorf("history: append to %s: %w", path, err)
	}
	return nil
}

// encodeLine renders the line by hand because encoding/json sorts map keys and
// would not put timestamp and event first.
func encodeLine(at time.Time, event string, fields map[string]any) ([]byte, error) {
	var errs []error
	if event == "" {
		errs = append(errs, errors.New("event name is empty"))
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if k == keyTimestamp || k == keyEvent {
			errs = append(errs, fmt.Errorf("field %q is reserved", k))
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // messages like "p99 > 500 ms" stay readable
	put := func(key string, value any) {
		buf.WriteByte(',')
		_ = enc.Encode(key) // a string always encodes
		buf.Truncate(buf.Len() - 1)
		buf.WriteByte(':')
		if err := enc.Encode(value); err != nil {
			errs = append(errs, fmt.Errorf("field %q: %w", key, err))
			return
		}
		buf.Truncate(buf.Len() - 1) // Encode ends every value with a newline
	}
	put(keyTimestamp, at.UTC().Format(time.RFC3339Nano))
	put(keyEvent, event)
	for _, k := range keys {
		put(k, fields[k])
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	line := buf.Bytes()
	line[0] = '{'
	return append(line, '}', '\n'), nil
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
