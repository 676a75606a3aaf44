package history

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// lastChunk is how much Last reads at a time, walking backwards from the end.
const lastChunk = 64 << 10

// Last returns the most recent valid record named event in the history at path,
// reading backwards from the end so that a recent record is found without reading
// a long file whole. A missing file has no records.
func Last(path, event string) (Record, bool, error) {
	return LastWhere(path, event, nil)
}

// LastWhere is Last for the most recent record named event that keep accepts (a
// nil keep accepts every record).
func LastWhere(path, event string, keep func(Record) bool) (Record, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("history: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Record{}, false, fmt.Errorf("history: %w", err)
	}
	rec, ok, err := lastIn(f, info.Size(), event, keep)
	if err != nil {
		return Record{}, false, fmt.Errorf("history: read %s backwards: %w", path, err)
	}
	return rec, ok, nil
}

// lastIn scans lines from the end of r. tail holds the start of the line that
// crosses the current chunk boundary; a line that grows past MaxLine is dropped.
func lastIn(r io.ReaderAt, size int64, event string, keep func(Record) bool) (Record, bool, error) {
	var (
		tail    []byte
		members []member
		pos     = size
	)
	for pos > 0 {
		n := min(int64(lastChunk), pos)
		pos -= n
		buf := make([]byte, int(n), int(n)+len(tail))
		if _, err := r.ReadAt(buf, pos); err != nil && err != io.EOF {
			return Record{}, false, err
		}
		buf = append(buf, tail...)
		// Every line after the first newline in buf is complete.
		for {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				break
			}
			if rec, ok := matchLine(buf[i+1:], event, &members, keep); ok {
				return rec, true, nil
			}
			buf = buf[:i]
		}
		tail = buf
		if len(tail) > MaxLine {
			tail = nil // part of an over-long line; its start is skipped by matchLine failing
		}
	}
	rec, ok := matchLine(tail, event, &members, keep)
	return rec, ok, nil
}

// matchLine decodes line if it is a valid record named event that keep accepts.
func matchLine(line []byte, event string, scratch *[]member, keep func(Record) bool) (Record, bool) {
	if len(line) == 0 || !bytes.Contains(line, []byte(event)) {
		return Record{}, false
	}
	raw, err := parseRaw(line, *scratch, func(b []byte) string { return string(b) })
	if err != nil {
		return Record{}, false
	}
	*scratch = raw.members
	if raw.Event != event {
		return Record{}, false
	}
	fields, err := raw.decodeFields()
	if err != nil {
		return Record{}, false
	}
	rec := Record{Timestamp: raw.Timestamp, Event: raw.Event, Fields: fields}
	if keep != nil && !keep(rec) {
		return Record{}, false
	}
	return rec, true
}
