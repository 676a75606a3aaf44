package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/swiftdeploy/swiftdeploy/internal/metrics"
)

// every is a payload with a field of every kind Decode sets itself, and some
// it leaves to encoding/json.
type every struct {
	Text      string          `json:"text"`
	Named     mode            `json:"named,omitempty"`
	Flag      bool            `json:"flag"`
	Float     float64         `json:"float"`
	Small     float32         `json:"small"`
	Int       int             `json:"int"`
	Tiny      int8            `json:"tiny"`
	MaybeF    *float64        `json:"maybe_float"`
	MaybeB    *bool           `json:"maybe_bool"`
	Inner     inner           `json:"inner"`
	MaybeIn   *inner          `json:"maybe_inner"`
	Any       any             `json:"any"`
	Map       map[string]any  `json:"map"`
	List      []string        `json:"list"`
	At        time.Time       `json:"at"`
	Raw       json.RawMessage `json:"raw"`
	Buckets   []metrics.Bucket
	Untagged  string
	Skipped   string `json:"-"`
	unseen    string
	Promoted  `json:"promoted_tag"`
	promotedB // its fields are promoted though the type is not exported
}

type mode string

type inner struct {
	A float64 `json:"a"`
	B string  `json:"b"`
	C *inner  `json:"c"`
}

type Promoted struct {
	P string `json:"p"`
}

type promotedB struct {
	Q int `json:"q"`
}

// rawOf splits line into a Raw without asking for timestamp and event.
func rawOf(t testing.TB, line string) (Raw, bool) {
	t.Helper()
	members, err := splitObject([]byte(line), nil)
	if err != nil {
		return Raw{}, false
	}
	return Raw{members: members}, true
}

// agree decodes line into a fresh value of v's type both ways and fails
// when encoding/json and Decode differ in whether it erred, or, for a line
// that fits, in the value. (On a line that does not fit, Decode goes on
// where json.Unmarshal may stop.) longLived has read the lines before, as
// the audit's Decoder has read the history before.
func agree(t testing.TB, longLived *Decoder, line string, v any) {
	t.Helper()
	raw, ok := rawOf(t, line)
	if !ok {
		return
	}
	typ := reflect.TypeOf(v).Elem()
	got, want := reflect.New(typ), reflect.New(typ)
	gotErr := raw.Decode(got.Interface())
	wantErr := json.Unmarshal([]byte(line), want.Interface())
	if (gotErr == nil) != (wantErr == nil) || (wantErr == nil && !reflect.DeepEqual(got.Interface(), want.Interface())) {
		t.Fatalf("%T from %s:\nDecode   %+v, %v\njson     %+v, %v", v, line, got.Elem(), gotErr, want.Elem(), wantErr)
	}
	// A Decoder that read other lines before reads this one alike.
	again := reflect.New(typ)
	againErr := longLived.Decode(raw, again.Interface())
	if (againErr == nil) != (gotErr == nil) || !reflect.DeepEqual(again.Interface(), got.Interface()) {
		t.Fatalf("%T from %s: a Decoder used before gave %+v, %v; Raw.Decode %+v, %v", v, line, again.Elem(), againErr, got.Elem(), gotErr)
	}
}

func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	var d Decoder
	for _, line := range []string{
		`{}`,
		`{"text":"a","named":"canary","flag":true,"float":1.5,"small":0.1,"int":-3,"tiny":127,"maybe_float":2,"maybe_bool":false}`,
		`{"inner":{"a":1,"b":"x","c":{"a":2,"c":null}},"maybe_inner":{"b":"y"},"any":{"k":[1,"2",null]},"map":{"a":1},"list":["a","b"]}`,
		`{"at":"2026-05-05T20:34:51Z","raw":{"x": [1, 2]},"Buckets":[{"le":"0.5","count":2},{"le":"+Inf","count":3}],"Untagged":"u"}`,
		`{"promoted_tag":{"p":"x"},"q":4,"Skipped":"no","unseen":"no","-":"dash"}`,
		// Keys regardless of case, escaped keys and strings, the last of duplicates.
		`{"TEXT":"upper","Flag":true,"INNER":{"A":3},"t\u0065xt":"escaped","Text":"\u00e9\n","float":1,"float":2}`,
		`{"untagged":"lower","buckets":null,"Q":5}`,
		// Null leaves a value as it was, or empties a pointer, any, map or slice.
		`{"text":null,"flag":null,"float":null,"int":null,"inner":null,"maybe_float":null,"maybe_inner":null,"any":null,"map":null,"list":null,"raw":null}`,
		// Values of the wrong type leave their field and the first one is the error.
		`{"text":1,"flag":"yes","float":"1.5","int":1.5,"tiny":128,"small":1e39,"inner":[1],"maybe_float":"x","list":"a","at":"noon","text":"kept"}`,
		`{"int":1e2,"float":1e400,"inner":{"a":"no","b":2},"maybe_bool":{},"named":false}`,
		`{"int":-0,"float":-0.0,"small":-1.5e-3,"tiny":-128,"maybe_inner":{"c":{"c":{"b":"deep"}}}}`,
		// Invalid UTF-8 is replaced, as encoding/json replaces it.
		"{\"text\":\"caf\xe9\",\"b\xffad\":1}",
	} {
		agree(t, &d, line, &every{})
	}
}

// TestDecodeAgreesWithEncodingJSONOnEveryRecordedShape decodes every line of
// the histories the tests keep, old shapes among them, into every payload.
func TestDecodeAgreesWithEncodingJSONOnEveryRecordedShape(t *testing.T) {
	payloads := []any{&Outcome{}, &Setup{}, &Init{}, &Validate{}, &Deploy{}, &Blocked{}, &Promote{}, &Rollback{}, &Recover{},
		&Chaos{}, &Teardown{}, &Audit{}, &PolicyDecision{}, &StatusScrape{}, &Refresh{}, &Sample{}, &ReleaseEvent{}, &ReleaseStep{}, &CommandError{}}
	files, _ := filepath.Glob(filepath.Join("..", "audit", "testdata", "*.jsonl"))
	files = append(files, filepath.Join("testdata", "events.golden.jsonl"))
	lines := 0
	var d Decoder
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, MaxLine)
		for sc.Scan() {
			lines++
			for _, p := range payloads {
				agree(t, &d, sc.Text(), p)
			}
		}
		f.Close()
	}
	if lines < 100 {
		t.Fatalf("read %d lines from %v: the histories are missing", lines, files)
	}
}

func TestDecodeGoesOnPastAValueThatDoesNotFit(t *testing.T) {
	raw, _ := rawOf(t, `{"text":1,"at":"noon","flag":true,"int":1.5,"inner":{"a":"x","b":"kept"},"Buckets":[[0.5,2]],"float":2,"maybe_float":"x"}`)
	var got every
	err := raw.Decode(&got)
	var typeErr *json.UnmarshalTypeError
	if !errorsAs(err, &typeErr) || typeErr.Field != "text" {
		t.Errorf("error = %v, want the first misfit, text", err)
	}
	if !got.Flag || got.Float != 2 || got.Inner.B != "kept" || got.Text != "" || got.Int != 0 || !got.At.IsZero() || got.MaybeF != nil {
		t.Errorf("decoded %+v; want every value that fits, and nothing else", got)
	}
}

func TestDecodeLeavesATypeItCannotPlaceToEncodingJSON(t *testing.T) {
	// An embedded struct and the struct itself name a field alike, which
	// encoding/json resolves by its rules of dominance.
	type left struct {
		X string `json:"x"`
	}
	type twice struct {
		left
		X string `json:"x"`
	}
	type quoted struct {
		N int `json:"n,string"`
	}
	type embeddedPointer struct {
		*Promoted
	}
	type embeddedTime struct {
		time.Time     // its UnmarshalJSON is the struct's
		N         int `json:"n"`
	}
	var d Decoder
	for _, tc := range []struct {
		line string
		v    any
	}{
		{`{"x":"one"}`, &twice{}},
		{`{"n":"12"}`, &quoted{}},
		{`{"p":"x"}`, &embeddedPointer{}},
		{`"2026-05-05T20:34:51Z"`, &embeddedTime{}},
	} {
		if new(Decoder).planFor(reflect.TypeOf(tc.v).Elem()) != nil {
			t.Errorf("%T got a plan", tc.v)
		}
		agree(t, &d, tc.line, tc.v)
	}
	var m map[string]any
	raw, _ := rawOf(t, `{"a":1}`)
	if err := raw.Decode(&m); err != nil || m["a"] != 1.0 {
		t.Errorf("Decode into a map = %v, %v", m, err)
	}
}

func TestDecodeSaysWhichLineDidNotFit(t *testing.T) {
	r := NewReader(strings.NewReader(`{"timestamp":"2026-05-05T20:34:51Z","event":"chaos","rate":"half"}` + "\n"))
	raw, ok := r.NextRaw()
	if !ok {
		t.Fatal(r.Skipped())
	}
	var c Chaos
	err := raw.Decode(&c)
	var typeErr *json.UnmarshalTypeError
	if err == nil || !strings.Contains(err.Error(), "line 1 (chaos)") || !errorsAs(err, &typeErr) || c.Mode != "" {
		t.Errorf("Decode = %v, %+v; want a type error naming line 1", err, c)
	}
}

func errorsAs(err error, target **json.UnmarshalTypeError) bool {
	for err != nil {
		if e, ok := err.(*json.UnmarshalTypeError); ok {
			*target = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// FuzzDecodeAgreesWithEncodingJSON decodes any object both ways.
func FuzzDecodeAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"text":"a","inner":{"a":1,"c":{"b":"x"}},"float":1e3}`, `{"INT":7,"any":[{}],"maybe_float":null}`,
		`{"tiny":-129,"small":"x","list":[1]}`, `{"t\u0045xt":"\ud83d\ude00","q":2}`} {
		f.Add([]byte(s))
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")) {
			return
		}
		agree(t, &d, string(data), &every{})
	})
}

func TestAChangeRecordedBeforeItsCostWasMeasuredDecodesWithNoCostAndANewOneWithIt(t *testing.T) {
	lines := `{"timestamp":"2026-11-23T18:14:27Z","event":"promote","elapsed_seconds":8.24,"from":"stable","overridden":false,"result":"ok","to":"canary"}
{"timestamp":"2026-12-02T10:00:00Z","event":"promote","cost":{"failed":1,"failed_by_status":{"504":1},"parts":[{"failed":1,"part":"switch","reached_retiring":0,"requests":70,"seconds":6.5}],"reached_retiring":0,"requests":70},"from":"stable","result":"ok","to":"canary"}
`
	r := NewReader(strings.NewReader(lines))
	var got []Promote
	for {
		raw, ok := r.NextRaw()
		if !ok {
			break
		}
		var p Promote
		if err := raw.Decode(&p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != 2 || got[0].Cost != nil || got[0].Result != "ok" {
		t.Fatalf("decoded %+v, want the old promote with no cost", got)
	}
	want := &Cost{Requests: 70, Failed: 1, FailedByStatus: map[string]int{"504": 1},
		Parts: []CostPart{{Part: "switch", Seconds: 6.5, Requests: 70, Failed: 1}}}
	if !reflect.DeepEqual(got[1].Cost, want) {
		t.Errorf("cost %+v, want %+v", got[1].Cost, want)
	}
}
