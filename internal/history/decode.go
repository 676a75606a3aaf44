package history

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Decode unmarshals the event into v, a pointer to a payload struct such as
// ReleaseEvent: the shared types are how writers and readers agree. A line
// that fits v decodes as json.Unmarshal of the whole line would: a key
// matches its field exactly or else regardless of case, and a key with no
// field is skipped. A value that does not fit its field (of the wrong type,
// or refused by the field type's own UnmarshalJSON) leaves that field as it
// was, and the first such error is returned once every other field is
// decoded: a history must stay readable, and json.Unmarshal would stop at a
// refusal.
//
// It is several times faster than json.Unmarshal: it visits only the members
// the scanner already split, skips those v has no field for without reading
// them (a scrape's sample, for a reader of its window) and sets strings,
// numbers, booleans and nested structs itself. Other values, and types whose
// fields it does not know how to place, go to encoding/json.
func (r Raw) Decode(v any) error {
	var d Decoder
	return d.Decode(r, v)
}

// A Decoder is Raw.Decode for a reader of many lines: it keeps the plan it
// makes of each payload type and the short strings it has read (modes,
// results), which repeat on nearly every line, so that a long history
// decodes without an allocation per value. It is not safe for concurrent use.
type Decoder struct {
	plans map[reflect.Type]*plan // nil: the type is left to encoding/json
	// last and lastPlan are the type decoded last: lines of one event come in
	// runs (status scrapes), and a comparison is cheaper than the map.
	last     reflect.Type
	lastPlan *plan
	strings  names
	err      error // the first misfit of the current Decode
	misfits  int   // how many values did not fit, in all
}

// Decode decodes r into v as Raw.Decode does.
func (d *Decoder) Decode(r Raw, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return r.decodeJSON(v)
	}
	p := d.planFor(rv.Elem().Type())
	if p == nil {
		return r.decodeJSON(v)
	}
	d.err = nil
	s := rv.Elem()
	for i := range r.members {
		d.member(p, s, &r.members[i])
	}
	if d.err != nil {
		return fmt.Errorf("history: decode line %d (%s): %w", r.Line, r.Event, d.err)
	}
	return nil
}

// decodeJSON is Decode by encoding/json, on the line put back together.
func (r Raw) decodeJSON(v any) error {
	var b []byte
	b = append(b, '{')
	for i, m := range r.members {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, m.key...)
		b = append(b, '"', ':')
		b = append(b, m.value...)
	}
	b = append(b, '}')
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("history: decode line %d (%s): %w", r.Line, r.Event, err)
	}
	return nil
}

// kind is how a field's value is decoded.
type kind int

const (
	kindJSON      kind = iota // by encoding/json
	kindString                // a JSON string
	kindBool                  // true or false
	kindFloat                 // a number
	kindInt                   // an integer
	kindStruct                // an object, field by field
	kindPointer               // null, or the pointed-to kind
	kindInterface             // any JSON, as encoding/json decodes it into any
)

// plan says where each key of an object goes in a struct type.
type plan struct {
	fields []planField
	exact  map[string]int // name → index in fields
	// lower maps each name in ASCII lower case to the first field so named,
	// when every name is ASCII: a key that is ASCII without a capital then
	// finds its field regardless of case without comparing it to each.
	lower map[string]int
	// allLower says every name is ASCII without a capital (as json tags
	// are): a key like that which is no name is no name in any case.
	allLower bool
}

type planField struct {
	name  string
	index []int // through embedded structs
	kind  kind
	elem  kind  // for kindPointer: the pointed-to kind, never kindPointer
	sub   *plan // for kindStruct, and kindPointer to a struct
	bits  int   // for kindFloat and kindInt, or a pointer to one: the number's size
}

func (d *Decoder) planFor(t reflect.Type) *plan {
	if t == d.last {
		return d.lastPlan
	}
	p, ok := d.plans[t]
	if !ok {
		p = buildPlan(t, map[reflect.Type]bool{})
		if d.plans == nil {
			d.plans = map[reflect.Type]*plan{}
		}
		d.plans[t] = p
	}
	d.last, d.lastPlan = t, p
	return p
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// buildPlan maps the keys of t as encoding/json names them: the json tag's
// name or the field's, fields of untagged embedded structs promoted. A type
// with anything more (its own UnmarshalJSON, a ",string" option, an embedded
// pointer, two fields of one name) gets no plan, and a field of the type
// being planned, through a pointer, is left to encoding/json.
func buildPlan(t reflect.Type, seen map[reflect.Type]bool) *plan {
	if seen[t] || unmarshals(t) {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	p := &plan{exact: map[string]int{}, lower: map[string]int{}}
	if !p.add(t, nil, seen) {
		return nil
	}
	p.allLower = true
	for i, f := range p.fields {
		if !isASCII(f.name) {
			p.lower, p.allLower = nil, false
			break
		}
		p.allLower = p.allLower && lowerASCII([]byte(f.name))
		if _, ok := p.lower[strings.ToLower(f.name)]; !ok {
			p.lower[strings.ToLower(f.name)] = i
		}
	}
	return p
}

func (p *plan) add(t reflect.Type, index []int, seen map[reflect.Type]bool) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "string") {
			return false
		}
		at := append(append([]int(nil), index...), i)
		if f.Anonymous && name == "" {
			if f.Type.Kind() != reflect.Struct {
				return false
			}
			if !p.add(f.Type, at, seen) {
				return false
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		pf := planField{name: name, index: at, bits: bitsOf(f.Type)}
		pf.kind, pf.sub = kindOf(f.Type, seen)
		if pf.kind == kindPointer {
			pf.elem, pf.sub = kindOf(f.Type.Elem(), seen)
			pf.bits = bitsOf(f.Type.Elem())
			if pf.elem == kindPointer {
				pf.kind, pf.elem, pf.sub = kindJSON, 0, nil
			}
		}
		if _, dup := p.exact[name]; dup {
			return false
		}
		p.exact[name] = len(p.fields)
		p.fields = append(p.fields, pf)
	}
	return true
}

// unmarshals reports whether t decodes itself, as encoding/json asks it to.
func unmarshals(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) || p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler)
}

func kindOf(t reflect.Type, seen map[reflect.Type]bool) (kind, *plan) {
	if unmarshals(t) {
		return kindJSON, nil
	}
	switch t.Kind() {
	case reflect.String:
		return kindString, nil
	case reflect.Bool:
		return kindBool, nil
	case reflect.Float32, reflect.Float64:
		return kindFloat, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kindInt, nil
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return kindInterface, nil
		}
	case reflect.Pointer:
		return kindPointer, nil
	case reflect.Struct:
		if sub := buildPlan(t, seen); sub != nil {
			return kindStruct, sub
		}
	}
	return kindJSON, nil
}

// find is the field a key goes to: the one of its name, or else the first
// whose name matches regardless of case, as encoding/json does.
func (p *plan) find(m *member) *planField {
	if m.escaped {
		return p.fold(decodeString(m.key))
	}
	for i := range p.fields {
		if p.fields[i].name == string(m.key) {
			return &p.fields[i]
		}
	}
	if p.allLower && lowerASCII(m.key) {
		return nil
	}
	if p.lower != nil && lowerASCII(m.key) {
		if i, ok := p.lower[string(m.key)]; ok {
			return &p.fields[i]
		}
		return nil
	}
	return p.fold(string(m.key))
}

func (p *plan) fold(key string) *planField {
	if i, ok := p.exact[key]; ok {
		return &p.fields[i]
	}
	for i := range p.fields {
		if strings.EqualFold(p.fields[i].name, key) {
			return &p.fields[i]
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// lowerASCII reports whether key is ASCII with no capital letter.
func lowerASCII(key []byte) bool {
	for _, c := range key {
		if c >= 0x80 || (c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (d *Decoder) member(p *plan, s reflect.Value, m *member) {
	if f := p.find(m); f != nil {
		d.value(f, f.kind, fieldOf(s, f.index), m.value)
	}
}

// fieldOf is the field at index, through embedded structs.
func fieldOf(s reflect.Value, index []int) reflect.Value {
	if len(index) == 1 {
		return s.Field(index[0])
	}
	for _, i := range index {
		s = s.Field(i)
	}
	return s
}

// value decodes one JSON value, which the scanner already validated, into v,
// field f or what f points to, as k says. A value that does not fit leaves v
// as it was.
func (d *Decoder) value(f *planField, k kind, v reflect.Value, data []byte) {
	null := string(data) == "null"
	switch k {
	case kindJSON:
		if err := json.Unmarshal(data, v.Addr().Interface()); err != nil {
			d.fail(err)
		}
	case kindInterface:
		if null {
			v.SetZero()
			return
		}
		var x any
		_ = json.Unmarshal(data, &x) // any JSON value fits in an any
		v.Set(reflect.ValueOf(&x).Elem())
	case kindPointer:
		if null {
			v.SetZero()
			return
		}
		if !v.IsNil() || f.elem == kindStruct {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			d.value(f, f.elem, v.Elem(), data)
			return
		}
		// A nil pointer stays nil unless its value fits: a number that is no
		// number is no 0.
		fresh, misfits := reflect.New(v.Type().Elem()), d.misfits
		d.value(f, f.elem, fresh.Elem(), data)
		if d.misfits == misfits {
			v.Set(fresh)
		}
	case kindString:
		if null {
			return
		}
		if data[0] != '"' {
			d.mismatch(data, v, f.name)
			return
		}
		v.SetString(d.text(data[1 : len(data)-1]))
	case kindBool:
		switch string(data) {
		case "true", "false":
			v.SetBool(data[0] == 't')
		case "null":
		default:
			d.mismatch(data, v, f.name)
		}
	case kindFloat:
		if null {
			return
		}
		x, err := parseFloat(data, f.bits)
		if !isNumber(data) || err != nil {
			d.mismatch(data, v, f.name)
			return
		}
		v.SetFloat(x)
	case kindInt:
		if null {
			return
		}
		n, err := strconv.ParseInt(string(data), 10, f.bits)
		if !isNumber(data) || err != nil {
			d.mismatch(data, v, f.name)
			return
		}
		v.SetInt(n)
	case kindStruct:
		if null {
			return
		}
		if !eachMember(data, func(m member) { d.member(f.sub, v, &m) }) {
			d.mismatch(data, v, f.name)
		}
	}
}

// parseFloat is strconv.ParseFloat with a shortcut for the whole numbers most
// figures are (counts, whole seconds), which a float64 holds exactly.
func parseFloat(data []byte, bits int) (float64, error) {
	if len(data) < 16 {
		var n int64
		i := 0
		if data[0] == '-' {
			i = 1
		}
		digits := i < len(data)
		for j := i; j < len(data); j++ {
			c := data[j]
			if c < '0' || c > '9' {
				digits = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if digits && (len(data)-i == 1 || data[i] != '0') {
			if i == 1 {
				return -float64(n), nil
			}
			return float64(n), nil
		}
	}
	return strconv.ParseFloat(string(data), bits)
}

// bitsOf is the size of t's number kind; ParseFloat and ParseInt refuse what
// does not fit in it.
func bitsOf(t reflect.Type) int {
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return t.Bits()
	}
	return 0
}

// internMax is the longest string a Decoder keeps to hand out again: modes,
// results and versions repeat, messages seldom do.
const internMax = 32

// text is the inside of a JSON string as encoding/json decodes it: escapes
// undone, invalid UTF-8 replaced.
func (d *Decoder) text(inner []byte) string {
	if bytes.IndexByte(inner, '\\') >= 0 || !utf8.Valid(inner) {
		return decodeString(inner)
	}
	if len(inner) <= internMax {
		return d.strings.intern(inner)
	}
	return string(inner)
}

func isNumber(data []byte) bool {
	return len(data) > 0 && (data[0] == '-' || (data[0] >= '0' && data[0] <= '9'))
}

// mismatch notes a value that does not fit its field, as encoding/json's
// UnmarshalTypeError; the field keeps what it held.
func (d *Decoder) mismatch(data []byte, v reflect.Value, name string) {
	what := "number " + string(data)
	switch {
	case data[0] == '"':
		what = "string"
	case data[0] == '{':
		what = "object"
	case data[0] == '[':
		what = "array"
	case data[0] == 't' || data[0] == 'f':
		what = "bool"
	}
	d.fail(&json.UnmarshalTypeError{Value: what, Type: v.Type(), Field: name})
}

func (d *Decoder) fail(err error) {
	d.misfits++
	if d.err == nil {
		d.err = err
	}
}
