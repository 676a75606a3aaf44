package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxLine is the longest line a reader accepts; a longer one is skipped.
const MaxLine = 1 << 20

// maxStoredSkips bounds the skips a Summary keeps; it counts them all.
const maxStoredSkips = 100

// tooLongReason is the reason a line over MaxLine is skipped.
var tooLongReason = fmt.Sprintf("line longer than %d bytes", MaxLine)

// Summary tells what a read of the history did not pass on.
type Summary struct {
	Skipped int    // every skipped line
	Skips   []Skip // the first skipped lines (at most 100), in order
}

func (s *Summary) add(sk Skip) {
	s.Skipped++
	if len(s.Skips) < maxStoredSkips {
		s.Skips = append(s.Skips, sk)
	}
}

// parseLine parses history line number n into a Raw, reusing scratch for its
// members. It passes over a blank line (ok false, no reason) and says why a
// malformed one is skipped; last says the input ended without a newline after
// the line, the mark of a write cut short.
func parseLine(line []byte, n int, last bool, scratch []member, intern func([]byte) string) (raw Raw, skipReason string, ok bool) {
	if len(bytes.TrimSpace(line)) == 0 {
		return Raw{}, "", false
	}
	raw, err := parseRaw(line, scratch, intern)
	if err != nil {
		if last {
			return Raw{}, "truncated last line: " + err.Error(), false
		}
		return Raw{}, err.Error(), false
	}
	raw.Line = n
	return raw, "", true
}

// Record is one valid history line.
type Record struct {
	Line      int // 1-based line number in the file; 0 when unknown (Last)
	Timestamp time.Time
	Event     string
	Fields    map[string]any // every field but timestamp and event
}

// Skip says why a line was not read.
type Skip struct {
	Line   int
	Reason string
}

func (s Skip) String() string { return fmt.Sprintf("line %d: %s", s.Line, s.Reason) }

// Reader streams records from a history, one line at a time, skipping malformed lines.
type Reader struct {
	br      *bufio.Reader
	line    int
	long    []byte // a line longer than the bufio buffer, assembled
	members []member
	names   names
	sum     Summary
	err     error
	done    bool
}

// NewReader returns a Reader reading history lines from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next valid record, or false at the end of the input.
func (r *Reader) Next() (Record, bool) {
	for {
		raw, ok := r.NextRaw()
		if !ok {
			return Record{}, false
		}
		fields, err := raw.decodeFields()
		if err != nil {
			r.skip(raw.Line, err.Error())
			continue
		}
		return Record{Line: raw.Line, Timestamp: raw.Timestamp, Event: raw.Event, Fields: fields}, true
	}
}

// NextRaw returns the next valid line with its fields undecoded, or false at the end.
func (r *Reader) NextRaw() (Raw, bool) {
	for {
		line, last, ok := r.readLine()
		if !ok {
			return Raw{}, false
		}
		raw, reason, ok := parseLine(line, r.line, last, r.members, r.names.intern)
		if !ok {
			if reason != "" {
				r.skip(r.line, reason)
			}
			continue
		}
		r.members = raw.members
		return raw, true
	}
}

// Skipped returns the first skipped lines (at most 100), in order.
func (r *Reader) Skipped() []Skip { return r.sum.Skips }

// SkippedCount returns how many lines were skipped in all.
func (r *Reader) SkippedCount() int { return r.sum.Skipped }

// Err returns the first read error other than the end of the input.
func (r *Reader) Err() error { return r.err }

func (r *Reader) skip(line int, reason string) { r.sum.add(Skip{Line: line, Reason: reason}) }

// readLine returns the next line without its newline; last is true when the
// input ended without one, the mark of a write cut short. A line over MaxLine is
// skipped whole.
func (r *Reader) readLine() (line []byte, last, ok bool) {
	for !r.done {
		r.line++
		l, tooLong, err := r.readSlice()
		switch {
		case err == io.EOF:
			r.done = true
			if len(l) == 0 {
				return nil, false, false
			}
			last = true
		case err != nil:
			r.done = true
			r.err = fmt.Errorf("history: read line %d: %w", r.line, err)
			return nil, false, false
		}
		if tooLong {
			r.skip(r.line, tooLongReason)
			continue
		}
		return bytes.TrimSuffix(l, []byte{'\n'}), last, true
	}
	return nil, false, false
}

// readSlice reads up to and including the next newline, assembling lines longer
// than the buffer and discarding the rest of a line once it passes MaxLine.
func (r *Reader) readSlice() (line []byte, tooLong bool, err error) {
	line, err = r.br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, false, err
	}
	r.long = append(r.long[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = r.br.ReadSlice('\n')
		if !tooLong {
			r.long = append(r.long, line...)
			tooLong = len(r.long) > MaxLine+1
		}
	}
	if tooLong {
		r.long = r.long[:0]
		if err == io.EOF {
			err = nil // the skipped line was the last one
			r.done = true
		}
		return nil, true, err
	}
	return r.long, false, err
}

// parseRaw validates one line and extracts its timestamp and event.
func parseRaw(line []byte, scratch []member, intern func([]byte) string) (Raw, error) {
	members, err := splitObject(line, scratch)
	if err != nil {
		return Raw{}, err
	}
	raw := Raw{members: members}
	ts, ok := raw.Field(keyTimestamp)
	if !ok {
		return Raw{}, errors.New("no timestamp")
	}
	if raw.Timestamp, err = parseTimestamp(ts); err != nil {
		return Raw{}, err
	}
	ev, ok := raw.Field(keyEvent)
	if !ok {
		return Raw{}, errors.New("no event")
	}
	if raw.Event, ok = eventName(ev, intern); !ok || raw.Event == "" {
		return Raw{}, errors.New("event is not a non-empty string")
	}
	return raw, nil
}

func parseTimestamp(value []byte) (time.Time, error) {
	if t, ok := parseWholeSecondUTC(value); ok {
		return t, nil
	}
	s, ok := stringValue(value)
	if !ok {
		return time.Time{}, errors.New("timestamp is not a string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", s)
	}
	if t.IsZero() {
		return time.Time{}, errors.New("timestamp is zero")
	}
	return t.UTC(), nil
}

// parseWholeSecondUTC parses "2006-01-02T15:04:05Z" (quotes included), the form
// Append writes for whole seconds, several times faster than time.Parse. Anything
// else, valid or not, is left to time.Parse.
func parseWholeSecondUTC(v []byte) (time.Time, bool) {
	if len(v) != 22 || v[0] != '"' || v[5] != '-' || v[8] != '-' || v[11] != 'T' ||
		v[14] != ':' || v[17] != ':' || v[20] != 'Z' || v[21] != '"' {
		return time.Time{}, false
	}
	year, ok1 := atoi(v[1:5])
	month, ok2 := atoi(v[6:8])
	day, ok3 := atoi(v[9:11])
	hour, ok4 := atoi(v[12:14])
	minute, ok5 := atoi(v[15:17])
	sec, ok6 := atoi(v[18:20])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	return t, t.Day() == day && !t.IsZero() // a day past the month's end moves to the next month
}

func atoi(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// eventName decodes the event field, sharing one string per distinct name.
func eventName(value []byte, intern func([]byte) string) (string, bool) {
	if len(value) >= 2 && value[0] == '"' && bytes.IndexByte(value, '\\') < 0 {
		return intern(value[1 : len(value)-1]), true
	}
	return stringValue(value)
}

// names interns event names: a history uses a dozen, a million times each.
type names map[string]string

const maxNames = 256

func (n *names) intern(b []byte) string {
	if s, ok := (*n)[string(b)]; ok {
		return s
	}
	s := string(b)
	if *n == nil {
		*n = names{}
	}
	if len(*n) < maxNames {
		(*n)[s] = s
	}
	return s
}

// stringValue decodes a raw JSON value that the scanner accepted if it is a string.
func stringValue(value []byte) (string, bool) {
	if len(value) < 2 || value[0] != '"' {
		return "", false
	}
	inner := value[1 : len(value)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	return decodeString(inner), true
}

func (r Raw) decodeFields() (map[string]any, error) {
	fields := make(map[string]any, len(r.members))
	for _, m := range r.members {
		name := m.name()
		if name == keyTimestamp || name == keyEvent {
			continue
		}
		var v any
		if err := json.Unmarshal(m.value, &v); err != nil {
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
		fields[name] = v
	}
	return fields, nil
}
