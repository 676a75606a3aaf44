package history

import (
	"encoding/json"
	"fmt"
)

// maxDepth matches encoding/json's nesting limit, so both accept the same lines.
const maxDepth = 10000

// member is one top-level field of a line, its value left as raw JSON.
type member struct {
	key     []byte // between the quotes, escapes not decoded
	escaped bool   // key holds a backslash escape
	value   []byte
}

// name returns the decoded key.
func (m member) name() string {
	if !m.escaped {
		return string(m.key)
	}
	return decodeString(m.key)
}

// is reports whether the key equals name, without allocating for plain keys.
func (m member) is(name string) bool {
	if !m.escaped {
		return string(m.key) == name
	}
	return decodeString(m.key) == name
}

// decodeString decodes the inside of a JSON string that the scanner accepted.
func decodeString(inner []byte) string {
	var s string
	quoted := make([]byte, 0, len(inner)+2)
	quoted = append(append(append(quoted, '"'), inner...), '"')
	_ = json.Unmarshal(quoted, &s) // already validated by the scanner
	return s
}

// splitObject validates a JSON object and returns its top-level members, appended
// to members[:0]. It is a strict validator (same grammar as json.Valid) that
// decodes nothing, which makes reading a long history several times cheaper than
// json.Unmarshal: readers then decode only the few values they need.
func splitObject(data []byte, members []member) ([]member, error) {
	s := scanner{data: data}
	members = members[:0]
	s.space()
	if !s.take('{') {
		return nil, s.fail("want a JSON object")
	}
	s.depth = 1
	s.space()
	if !s.take('}') {
		for {
			m, err := s.member()
			if err != nil {
				return nil, err
			}
			members = append(members, m)
			s.space()
			if s.take(',') {
				s.space()
				continue
			}
			if s.take('}') {
				break
			}
			return nil, s.fail("want , or }")
		}
	}
	s.space()
	if s.pos != len(data) {
		return nil, s.fail("unexpected data after the object")
	}
	return members, nil
}

type scanner struct {
	data  []byte
	pos   int
	depth int
}

func (s *scanner) fail(what string) error {
	if s.pos >= len(s.data) {
		return fmt.Errorf("invalid JSON: %s, found the end of the line", what)
	}
	return fmt.Errorf("invalid JSON at byte %d: %s", s.pos+1, what)
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) take(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

func (s *scanner) member() (member, error) {
	start := s.pos
	escaped, err := s.str()
	if err != nil {
		return member{}, err
	}
	key := s.data[start+1 : s.pos-1]
	s.space()
	if !s.take(':') {
		return member{}, s.fail("want :")
	}
	s.space()
	vstart := s.pos
	if err := s.value(); err != nil {
		return member{}, err
	}
	return member{key: key, escaped: escaped, value: s.data[vstart:s.pos]}, nil
}

func (s *scanner) value() error {
	if s.pos >= len(s.data) {
		return s.fail("want a value")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.container('}')
	case c == '[':
		return s.container(']')
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.fail("want a value")
}

// container scans an object or array whose opening bracket is at pos.
func (s *scanner) container(closing byte) error {
	s.depth++
	if s.depth > maxDepth {
		return s.fail("nested too deep")
	}
	s.pos++
	s.space()
	if s.take(closing) {
		s.depth--
		return nil
	}
	for {
		if err := s.item(closing); err != nil {
			return err
		}
		s.space()
		if s.take(',') {
			s.space()
			continue
		}
		if s.take(closing) {
			s.depth--
			return nil
		}
		return s.fail("want , or " + string(closing))
	}
}

// item scans one member of an object or one element of an array.
func (s *scanner) item(closing byte) error {
	if closing == ']' {
		return s.value()
	}
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		return s.fail("want a key")
	}
	_, err := s.member()
	return err
}

// str scans a string starting at its opening quote and reports whether it holds escapes.
func (s *scanner) str() (escaped bool, err error) {
	if !s.take('"') {
		return false, s.fail("want a string")
	}
	data, i := s.data, s.pos
	for i < len(data) {
		switch c := data[i]; {
		case c == '"':
			s.pos = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			s.pos = i
			if err := s.escape(); err != nil {
				return false, err
			}
			i = s.pos
		case c < 0x20:
			s.pos = i
			return false, s.fail("control character in a string")
		default:
			i++
		}
	}
	s.pos = i
	return false, s.fail("unterminated string")
}

func (s *scanner) escape() error {
	s.pos++ // the backslash
	if s.pos >= len(s.data) {
		return s.fail("unterminated escape")
	}
	switch s.data[s.pos] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos++
		return nil
	case 'u':
		s.pos++
		for range 4 {
			if s.pos >= len(s.data) || !isHex(s.data[s.pos]) {
				return s.fail("bad \\u escape")
			}
			s.pos++
		}
		return nil
	}
	return s.fail("bad escape")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? with a local
// index: numbers are most of a scrape's bytes.
func (s *scanner) number() error {
	data, i := s.data, s.pos
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = skipDigits(data, i)
	default:
		return s.failAt(i, "bad number")
	}
	if i < len(data) && data[i] == '.' {
		if i = skipDigits(data, i+1); data[i-1] == '.' {
			return s.failAt(i, "bad number")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		start := i
		if i = skipDigits(data, i); i == start {
			return s.failAt(i, "bad number")
		}
	}
	s.pos = i
	return nil
}

func (s *scanner) failAt(i int, what string) error {
	s.pos = i
	return s.fail(what)
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	return i
}

func (s *scanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.fail("want a value")
	}
	s.pos += len(word)
	return nil
}
