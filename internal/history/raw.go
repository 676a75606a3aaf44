package history

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Raw is one valid history line whose fields are left as raw JSON, for readers
// that need a few fields of many lines: its accessors decode only what they are
// asked for. Its bytes are valid until the next read.
type Raw struct {
	Line      int
	Timestamp time.Time
	Event     string
	members   []member
}

// Field returns the raw JSON value of a top-level field. As in encoding/json, the
// last of duplicate keys wins.
func (r Raw) Field(key string) (json.RawMessage, bool) {
	for i := len(r.members) - 1; i >= 0; i-- {
		if r.members[i].is(key) {
			return r.members[i].value, true
		}
	}
	return nil, false
}

// Lookup returns the raw JSON value at a path of object keys, such as
// ("window", "p99_latency_ms").
func (r Raw) Lookup(path ...string) (json.RawMessage, bool) {
	if len(path) == 0 {
		return nil, false
	}
	value, ok := r.Field(path[0])
	for _, key := range path[1:] {
		if !ok {
			break
		}
		value, ok = objectField(value, key)
	}
	return value, ok
}

// Number returns the number at path; false when it is missing or not a number.
func (r Raw) Number(path ...string) (float64, bool) {
	value, ok := r.Lookup(path...)
	if !ok || len(value) == 0 || (value[0] != '-' && (value[0] < '0' || value[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(value), 64)
	return f, err == nil
}

// String returns the string at path; false when it is missing or not a string.
func (r Raw) String(path ...string) (string, bool) {
	value, ok := r.Lookup(path...)
	if !ok {
		return "", false
	}
	return stringValue(value)
}

// Bool returns the boolean at path; false, false when it is missing or not a boolean.
func (r Raw) Bool(path ...string) (value, ok bool) {
	v, ok := r.Lookup(path...)
	if !ok {
		return false, false
	}
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// Each calls fn for every member of the object at path, in order, and reports
// whether there was an object there. key is as written, escapes undecoded; it
// and value are valid only during the call. One pass over an object is cheaper
// than one Lookup per member when several are needed.
func (r Raw) Each(path []string, fn func(key []byte, value json.RawMessage)) bool {
	obj, ok := r.Lookup(path...)
	return ok && eachMember(obj, func(m member) { fn(m.key, m.value) })
}

// objectField finds key in a JSON object; the last duplicate wins.
func objectField(obj []byte, key string) (value []byte, ok bool) {
	eachMember(obj, func(m member) {
		if m.is(key) {
			value, ok = m.value, true
		}
	})
	return value, ok
}

// eachMember calls fn for each member of a JSON object the scanner already
// accepted. Since the object is known to be valid it only skips values, which is
// several times cheaper than scanning them again.
func eachMember(obj []byte, fn func(member)) bool {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	for i = skipSpace(obj, i+1); i < len(obj) && obj[i] == '"'; i = skipSpace(obj, i+1) {
		keyEnd, escaped := keyString(obj, i)
		key := obj[i+1 : keyEnd]
		i = skipSpace(obj, skipSpace(obj, keyEnd+1)+1) // past the colon
		end := skipValue(obj, i)
		fn(member{key: key, escaped: escaped, value: obj[i:trimSpace(obj, i, end)]})
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ',' {
			break
		}
	}
	return true
}

// trimSpace is where b[i:end] ends without its trailing white space; cheaper
// than bytes.TrimRight, which builds its set of characters on every call.
func trimSpace(b []byte, i, end int) int {
	for end > i && (b[end-1] == ' ' || b[end-1] == '\t' || b[end-1] == '\n' || b[end-1] == '\r') {
		end--
	}
	return end
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index of the closing quote of the string opening at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return i
}

// keyString is skipString for a key, which also says whether it holds an
// escape. Nearly no key has one: the first quote then ends it.
func keyString(b []byte, i int) (end int, escaped bool) {
	q := bytes.IndexByte(b[i+1:], '"')
	if q >= 0 && bytes.IndexByte(b[i+1:i+1+q], '\\') < 0 {
		return i + 1 + q, false
	}
	return skipString(b, i), true
}

// skipValue returns the end of the valid JSON value starting at i.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = skipString(b, i)
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of a scalar inside the enclosing object
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}
