package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 5, 20, 34, 51, 0, time.UTC)

func TestAppendThenReadRoundTrips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	fields := map[string]any{
		"from": "stable", "to": "canary", "result": "ok",
		"window": map[string]any{"requests": 120.0, "error_rate_percent": 0.5, "no_traffic": false},
	}
	if err := Append(path, t0, "promote", fields); err != nil {
		t.Fatal(err)
	}
	if err := Append(path, t0.Add(time.Second), "teardown", Event{"clean": true}); err != nil {
		t.Fatal(err)
	}
	records := readAll(t, path)
	if len(records) != 2 {
		t.Fatalf("read %d records, want 2", len(records))
	}
	got := records[0]
	if got.Line != 1 || !got.Timestamp.Equal(t0) || got.Event != "promote" {
		t.Errorf("record = line %d, %v, %q; want line 1, %v, promote", got.Line, got.Timestamp, got.Event, t0)
	}
	if !jsonEqual(t, got.Fields, fields) {
		t.Errorf("fields = %v, want %v", got.Fields, fields)
	}
	if records[1].Event != "teardown" || records[1].Fields["clean"] != true {
		t.Errorf("second record = %+v", records[1])
	}
}

func TestAppendPutsTimestampAndEventFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	at := time.Date(2026, 5, 5, 22, 34, 51, 0, time.FixedZone("CEST", 2*3600))
	if err := Append(path, at, "chaos", map[string]any{"rate": 0.5, "mode": "error", "a": "<b>"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"timestamp":"2026-05-05T20:34:51Z","event":"chaos","a":"<b>","mode":"error","rate":0.5}` + "\n"
	if string(data) != want {
		t.Errorf("line =\n%s want\n%s", data, want)
	}
}

func TestAppendWritesAStructPayloadSortedAtTheTopAndInItsOwnOrderInside(t *testing.T) {
	type inner struct {
		Z int    `json:"z"`
		A string `json:"a"`
	}
	type payload struct {
		Mode   string `json:"mode"`
		Window inner  `json:"window"`
		Note   string `json:"note,omitempty"`
		Error  string `json:"error"`
	}
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := Append(path, t0, "status_scrape", payload{Mode: "canary", Window: inner{Z: 1, A: "p99 > 500"}, Error: "x & y"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"timestamp":"2026-05-05T20:34:51Z","event":"status_scrape","error":"x & y","mode":"canary","window":{"z":1,"a":"p99 > 500"}}` + "\n"
	if string(data) != want {
		t.Errorf("line =\n%s want\n%s", data, want)
	}
}

func TestAppendRefusesAPayloadThatIsNotAnObjectOrHoldsAReservedKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	type stamped struct {
		Timestamp string `json:"timestamp"`
	}
	for _, payload := range []any{42, []string{"a"}, stamped{"now"}} {
		if err := Append(path, t0, "deploy", payload); err == nil {
			t.Errorf("Append accepted the payload %#v", payload)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a rejected payload created the file: %v", err)
	}
}

func TestAppendRejectsReservedFieldsAndEmptyEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	err := Append(path, t0, "", map[string]any{"timestamp": "x", "event": "y", "bad": make(chan int)})
	if err == nil {
		t.Fatal("Append accepted an empty event and reserved fields")
	}
	for _, want := range []string{"event name is empty", `"timestamp" is reserved`, `"event" is reserved`, `field "bad"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a rejected event created the file: %v", err)
	}
}

func TestAppendAfterTruncatedLineStartsANewLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, []byte(`{"timestamp":"2026-05-05T20:34:51Z","ev`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Append(path, t0, "deploy", nil); err != nil {
		t.Fatal(err)
	}
	records := readAll(t, path)
	if len(records) != 1 || records[0].Event != "deploy" || records[0].Line != 2 {
		t.Errorf("records = %+v, want the deploy on line 2", records)
	}
}

const (
	goroutines        = 50
	linesPerGoroutine = 200
	processes         = 4
	linesPerProcess   = 500
)

// TestAppendFromManyGoroutinesAndProcessesLosesNoLine appends from goroutines of
// this process and from child processes at the same time, with lines long enough
// that an unlocked writer would be likely to interleave.
func TestAppendFromManyGoroutinesAndProcessesLosesNoLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	var cmds []*exec.Cmd
	for p := range processes {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessAppends$")
		cmd.Env = append(os.Environ(), "HISTORY_HELPER=1", "HISTORY_PATH="+path, "HISTORY_WRITER=proc"+strconv.Itoa(p))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			if err := appendMany(path, fmt.Sprintf("g%d", g), linesPerGoroutine); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper process: %v", err)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	want := map[string]int{}
	for g := range goroutines {
		want[fmt.Sprintf("g%d", g)] = linesPerGoroutine
	}
	for p := range processes {
		want["proc"+strconv.Itoa(p)] = linesPerProcess
	}
	got := countLinesPerWriter(t, path)
	for writer, n := range want {
		if got[writer] != n {
			t.Errorf("writer %s: %d lines, want %d", writer, got[writer], n)
		}
	}
}

// TestHelperProcessAppends is the body of the child processes above; it does
// nothing in a normal test run.
func TestHelperProcessAppends(t *testing.T) {
	if os.Getenv("HISTORY_HELPER") != "1" {
		t.Skip("helper process for TestAppendFromManyGoroutinesAndProcessesLosesNoLine")
	}
	if err := appendMany(os.Getenv("HISTORY_PATH"), os.Getenv("HISTORY_WRITER"), linesPerProcess); err != nil {
		t.Fatal(err)
	}
}

func appendMany(path, writer string, n int) error {
	payload := strings.Repeat(writer+"-", 2048/len(writer))
	for i := range n {
		fields := map[string]any{"writer": writer, "seq": i, "payload": payload}
		if err := Append(path, t0.Add(time.Duration(i)*time.Millisecond), "status_scrape", fields); err != nil {
			return err
		}
	}
	return nil
}

// countLinesPerWriter checks every raw line is whole (parses and its payload
// belongs to its writer) and each writer's sequence numbers are all present once.
func countLinesPerWriter(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]map[float64]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, MaxLine)
	for n := 1; sc.Scan(); n++ {
		var line struct {
			Writer  string
			Seq     float64
			Payload string
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %d does not parse (interleaved?): %v", n, err)
		}
		if strings.Trim(line.Payload, line.Writer+"-") != "" {
			t.Fatalf("line %d mixes writers: %.80s", n, line.Payload)
		}
		if seen[line.Writer] == nil {
			seen[line.Writer] = map[float64]bool{}
		}
		if seen[line.Writer][line.Seq] {
			t.Errorf("line %d repeats %s #%v", n, line.Writer, line.Seq)
		}
		seen[line.Writer][line.Seq] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for w, s := range seen {
		counts[w] = len(s)
	}
	return counts
}

func TestReaderSkipsMalformedLines(t *testing.T) {
	const good = `{"timestamp":"2026-05-05T20:34:51Z","event":"deploy","result":"ok"}`
	tests := []struct {
		name, line, reason string
	}{
		{"garbage", `this is not json`, "invalid JSON"},
		{"not an object", `["timestamp","event"]`, "want a JSON object"},
		{"missing event", `{"timestamp":"2026-05-05T20:34:51Z","mode":"stable"}`, "no event"},
		{"empty event", `{"timestamp":"2026-05-05T20:34:51Z","event":""}`, "non-empty string"},
		{"event not a string", `{"timestamp":"2026-05-05T20:34:51Z","event":3}`, "non-empty string"},
		{"missing timestamp", `{"event":"deploy"}`, "no timestamp"},
		{"bad timestamp", `{"timestamp":"yesterday","event":"deploy"}`, "not RFC 3339"},
		{"zero timestamp", `{"timestamp":"0001-01-01T00:00:00Z","event":"deploy"}`, "zero"},
		{"trailing data", good + `x`, "after the object"},
		{"two objects", good + good, "after the object"},
		{"bad nested value", `{"timestamp":"2026-05-05T20:34:51Z","event":"deploy","w":{"a":01}}`, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(good + "\n" + tt.line + "\n" + good + "\n"))
			var lines []int
			for rec, ok := r.Next(); ok; rec, ok = r.Next() {
				lines = append(lines, rec.Line)
			}
			if fmt.Sprint(lines) != "[1 3]" {
				t.Errorf("read lines %v, want [1 3]", lines)
			}
			skips := r.Skipped()
			if r.SkippedCount() != 1 || len(skips) != 1 || skips[0].Line != 2 || !strings.Contains(skips[0].Reason, tt.reason) {
				t.Errorf("skips = %v (count %d), want line 2 with %q", skips, r.SkippedCount(), tt.reason)
			}
		})
	}
}

func TestReaderSkipsTruncatedLastLineButKeepsACompleteOne(t *testing.T) {
	const good = `{"timestamp":"2026-05-05T20:34:51Z","event":"deploy"}`
	r := NewReader(strings.NewReader(good + "\n" + good[:30]))
	if _, ok := r.Next(); !ok {
		t.Fatal("first record not read")
	}
	if _, ok := r.Next(); ok {
		t.Fatal("truncated last line read as a record")
	}
	if s := r.Skipped(); len(s) != 1 || !strings.HasPrefix(s[0].Reason, "truncated last line") {
		t.Errorf("skips = %v", s)
	}

	r = NewReader(strings.NewReader("\n" + good)) // hand-edited: no final newline
	if rec, ok := r.Next(); !ok || rec.Line != 2 {
		t.Errorf("complete last line without newline: %+v, %v", rec, ok)
	}
}

func TestReaderSkipsOverlongLineAndGoesOn(t *testing.T) {
	long := `{"timestamp":"2026-05-05T20:34:51Z","event":"x","pad":"` + strings.Repeat("a", MaxLine) + `"}`
	const good = `{"timestamp":"2026-05-05T20:34:51Z","event":"deploy"}`
	for _, tail := range []string{"\n" + good + "\n", ""} {
		r := NewReader(strings.NewReader(good + "\n" + long + tail))
		n := 0
		for _, ok := r.Next(); ok; _, ok = r.Next() {
			n++
		}
		want := 1 + strings.Count(tail, "deploy")
		if n != want || r.SkippedCount() != 1 || r.Err() != nil {
			t.Errorf("tail %q: read %d (want %d), skipped %v, err %v", tail, n, want, r.Skipped(), r.Err())
		}
	}
}

func TestReaderStoresAHundredSkipsButCountsAll(t *testing.T) {
	r := NewReader(strings.NewReader(strings.Repeat("garbage\n", 250)))
	if _, ok := r.Next(); ok {
		t.Fatal("garbage read as a record")
	}
	if len(r.Skipped()) != maxStoredSkips || r.SkippedCount() != 250 {
		t.Errorf("stored %d skips, counted %d; want %d and 250", len(r.Skipped()), r.SkippedCount(), maxStoredSkips)
	}
}

func TestRawFieldTakesTheLastDuplicateAndDecodesEscapedKeys(t *testing.T) {
	r := NewReader(strings.NewReader(`{"timestamp":"2026-05-05T20:34:51Z","event":"a","event":"b","m\u006fde":"canary"}` + "\n"))
	raw, ok := r.NextRaw()
	if !ok {
		t.Fatal(r.Skipped())
	}
	mode, _ := raw.Field("mode")
	if raw.Event != "b" || string(mode) != `"canary"` {
		t.Errorf("event %q mode %s, want b and \"canary\"", raw.Event, mode)
	}
}

func TestLastFindsTheNewestMatchInAFileBiggerThanAChunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	var buf bytes.Buffer
	line := func(i int, event string) {
		ts := t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(&buf, `{"timestamp":%q,"event":%q,"seq":%d,"pad":%q}`+"\n", ts, event, i, strings.Repeat("p", 300))
	}
	for i := range 2000 {
		event := "status_scrape"
		if i%3 == 0 {
			event = "metrics_sample"
		}
		line(i, event)
	}
	for i := 2000; i < 2600; i++ { // over one chunk with no metrics_sample, and a broken line
		line(i, "status_scrape")
	}
	buf.WriteString("{broken\n")
	if buf.Len() < 3*lastChunk {
		t.Fatalf("file is only %d bytes", buf.Len())
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	rec, ok, err := Last(path, "metrics_sample")
	if err != nil || !ok {
		t.Fatalf("Last = %v, %v", ok, err)
	}
	if rec.Fields["seq"] != 1998.0 || !rec.Timestamp.Equal(t0.Add(1998*time.Second)) {
		t.Errorf("Last found seq %v at %v, want 1998", rec.Fields["seq"], rec.Timestamp)
	}
	if rec, ok, _ := Last(path, "status_scrape"); !ok || rec.Fields["seq"] != 2599.0 {
		t.Errorf("Last status_scrape = %v, %v; want seq 2599", rec.Fields["seq"], ok)
	}
	if _, ok, err := Last(path, "rollback"); ok || err != nil {
		t.Errorf("Last rollback = %v, %v; want none", ok, err)
	}
}

func TestLastFindsTheFirstLineOfAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := Append(path, t0, "deploy", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := Last(path, "deploy"); !ok || err != nil {
		t.Errorf("Last = %v, %v", ok, err)
	}
}

func TestLastOnAMissingFileFindsNothing(t *testing.T) {
	_, ok, err := Last(filepath.Join(t.TempDir(), "none.jsonl"), "deploy")
	if ok || err != nil {
		t.Errorf("Last = %v, %v; want false, nil", ok, err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"timestamp":"2026-05-05T20:34:51Z","event":"deploy","result":"ok"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		n := 0
		for rec, ok := r.Next(); ok; rec, ok = r.Next() {
			n++
			if rec.Event == "" || rec.Timestamp.IsZero() || rec.Fields == nil {
				t.Fatalf("bad record %+v", rec)
			}
		}
		if r.Err() != nil {
			t.Fatalf("in-memory read failed: %v", r.Err())
		}
		if lines := bytes.Count(data, []byte{'\n'}) + 1; n+r.SkippedCount() > lines {
			t.Fatalf("%d records and %d skips from %d lines", n, r.SkippedCount(), lines)
		}
		for _, size := range []int{1, 7, 64, 4096} {
			checkEachDecodedAgrees(t, data, size)
		}
	})
}

// checkEachDecodedAgrees checks that the parallel reader, reading size bytes at a
// time, passes on the lines the serial Reader returns, decoded, and skips the
// same ones.
func checkEachDecodedAgrees(t *testing.T, data []byte, size int) {
	t.Helper()
	type line struct {
		n         int
		ts        time.Time
		event     string
		fieldsLen int
		status    string
	}
	see := func(raw Raw) line {
		st, _ := raw.Field("status")
		return line{raw.Line, raw.Timestamp, raw.Event, len(raw.members), string(st)}
	}
	var want, got []line
	r := NewReader(bytes.NewReader(data))
	for raw, ok := r.NextRaw(); ok; raw, ok = r.NextRaw() {
		want = append(want, see(raw))
	}
	var workers atomic.Int32
	newDecode := func() func(Raw) line {
		workers.Add(1)
		return see
	}
	// Each line is seen where it is parsed, and what was seen comes back in
	// file order.
	sum, err := eachRaw(bytes.NewReader(data), 3, size, newDecode, func(_ Raw, l line) { got = append(got, l) })
	if workers.Load() != 3 {
		t.Fatalf("%d workers asked for a decode function, want each of the 3", workers.Load())
	}
	if err != nil || r.Err() != nil {
		t.Fatalf("read errors: parallel %v, serial %v", err, r.Err())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("reading %d bytes at a time, the parallel reader passed on\n%v\nthe serial one\n%v", size, got, want)
	}
	if sum.Skipped != r.SkippedCount() || !slices.Equal(sum.Skips, r.Skipped()) {
		t.Fatalf("reading %d bytes at a time, the parallel reader skipped %d %v, the serial one %d %v", size, sum.Skipped, sum.Skips, r.SkippedCount(), r.Skipped())
	}
}

// TestEachDecodedAgreesWithTheReader covers what the fuzz corpus may not: lines
// longer than MaxLine in every position, a truncated last line, blank lines and
// more than a hundred skips, at read sizes that cut lines anywhere.
func TestEachDecodedAgreesWithTheReader(t *testing.T) {
	valid := func(i int) string {
		return fmt.Sprintf(`{"timestamp":"2026-05-05T20:34:%02dZ","event":"e%d","status":"s%d","n":[1,{"a":"\u00e9"}]}`, i%60, i%7, i)
	}
	long := `{"timestamp":"2026-05-05T20:34:51Z","event":"big","pad":"` + strings.Repeat("x", MaxLine) + `"}`
	var many strings.Builder
	for i := range 300 {
		if i%3 == 0 {
			many.WriteString("not json\n")
		} else {
			many.WriteString(valid(i) + "\n")
		}
	}
	cases := map[string]string{
		"empty":                 "",
		"one line, no newline":  valid(1),
		"blank lines":           "\n\n  \n" + valid(1) + "\n\r\n",
		"truncated last line":   valid(1) + "\n" + valid(2)[:30],
		"long line first":       long + "\n" + valid(1) + "\n",
		"long line in between":  valid(1) + "\n" + long + "\n" + valid(2) + "\n",
		"long line last":        valid(1) + "\n" + long,
		"long line, newline":    valid(1) + "\n" + long + "\n",
		"two long lines":        long + "\n" + long + "\n" + valid(3),
		"exactly MaxLine":       `"` + strings.Repeat("y", MaxLine-2) + `"` + "\n" + valid(1) + "\n",
		"MaxLine+1 at the end":  valid(1) + "\n" + strings.Repeat("z", MaxLine+1),
		"many skips and events": many.String(),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			for _, size := range []int{1, 5, 100, 4096, 300 << 10, chunkSize} {
				if size < 100 && len(data) > 100_000 {
					continue // byte-sized reads of a megabyte line take too long to be worth it
				}
				checkEachDecodedAgrees(t, []byte(data), size)
			}
		})
	}
}

// FuzzSplitObjectAgreesWithEncodingJSON checks the hand-written validator accepts
// exactly the JSON objects encoding/json accepts.
func FuzzSplitObjectAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,-0.5e+3,"\u00e9\n",true,false,null,{}]}`, `{"a":01}`, ` {"a" : "b" , "c" : [ 1 , 2 ] , "\u0061" : { "x" : 1 } } `, `{"a":"\x01"}`, `{"a":1,}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		members, err := splitObject(data, nil)
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		want := json.Valid(data) && len(trimmed) > 0 && trimmed[0] == '{'
		if (err == nil) != want {
			t.Fatalf("splitObject(%q) error %v, json.Valid object = %v", data, err, want)
		}
		// The skipping reader of valid objects must find the members the validator found.
		for i, m := range members {
			var last []byte
			for _, later := range members[i:] {
				if later.name() == m.name() {
					last = later.value
				}
			}
			if got, ok := objectField(data, m.name()); !ok || !bytes.Equal(got, last) {
				t.Fatalf("objectField(%q, %q) = %q, %v; want %q", data, m.key, got, ok, last)
			}
		}
	})
}

func readAll(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f)
	var records []Record
	for rec, ok := r.Next(); ok; rec, ok = r.Next() {
		records = append(records, rec)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return records
}

// jsonEqual compares values after a JSON round trip, as the reader sees them.
func jsonEqual(t *testing.T, got, want any) bool {
	t.Helper()
	g, err1 := json.Marshal(got)
	w, err2 := json.Marshal(want)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return bytes.Equal(g, w)
}

func TestRawAccessorsReadNestedValues(t *testing.T) {
	line := `{"timestamp":"2026-05-05T20:34:51Z","event":"status_scrape","mode":"canary",` +
		`"window":{"error_rate_percent":56.45,"no_traffic":false,"p99_latency_ms":1.5e3,"note":"a \"q\"","w":{"x":[1,{"y":2}]},"p99_latency_ms":12}}`
	r := NewReader(strings.NewReader(line + "\n"))
	raw, ok := r.NextRaw()
	if !ok {
		t.Fatal(r.Skipped())
	}
	if v, ok := raw.Number("window", "error_rate_percent"); !ok || v != 56.45 {
		t.Errorf("error rate = %v, %v", v, ok)
	}
	if v, ok := raw.Number("window", "p99_latency_ms"); !ok || v != 12 {
		t.Errorf("p99 = %v, %v; want the last duplicate, 12", v, ok)
	}
	if v, ok := raw.Bool("window", "no_traffic"); ok != true || v != false {
		t.Errorf("no_traffic = %v, %v", v, ok)
	}
	if v, ok := raw.String("window", "note"); !ok || v != `a "q"` {
		t.Errorf("note = %q, %v", v, ok)
	}
	if v, ok := raw.Lookup("window", "w", "x"); !ok || string(v) != `[1,{"y":2}]` {
		t.Errorf("w.x = %s, %v", v, ok)
	}
	if v, ok := raw.String("mode"); !ok || v != "canary" {
		t.Errorf("mode = %q, %v", v, ok)
	}
	for _, path := range [][]string{{}, {"missing"}, {"mode", "x"}, {"window", "missing"}} {
		if v, ok := raw.Lookup(path...); ok {
			t.Errorf("Lookup(%q) = %s, want nothing", path, v)
		}
	}
	if _, ok := raw.Number("mode"); ok {
		t.Error("a string read as a number")
	}
	var keys []string
	raw.Each([]string{"window"}, func(key []byte, _ json.RawMessage) { keys = append(keys, string(key)) })
	if strings.Join(keys, ",") != "error_rate_percent,no_traffic,p99_latency_ms,note,w,p99_latency_ms" {
		t.Errorf("Each saw %v", keys)
	}
}

// FuzzWholeSecondTimestampAgreesWithTimeParse checks the fast timestamp path
// accepts only what time.Parse accepts, with the same instant.
func FuzzWholeSecondTimestampAgreesWithTimeParse(f *testing.F) {
	for _, s := range []string{"2026-05-05T20:34:51Z", "2026-02-29T00:00:00Z", "2024-02-29T23:59:59Z",
		"2026-13-01T00:00:00Z", "0000-01-01T00:00:00Z", "2026-05-05T24:00:00Z", "2026-05-05T20:34:60Z", "2026-04-31T10:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseWholeSecondUTC([]byte(`"` + s + `"`))
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !want.Equal(got) {
			t.Fatalf("%q: fast path %v, time.Parse %v, %v", s, got, want, err)
		}
	})
}

func TestLastWhereSkipsNewerRecordsTheFilterRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	for i := range 10 {
		if err := Append(path, t0.Add(time.Duration(i)*10*time.Second), "status_scrape", map[string]any{"seq": i}); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := t0.Add(45 * time.Second)
	rec, ok, err := LastWhere(path, "status_scrape", func(r Record) bool { return !r.Timestamp.After(cutoff) })
	if err != nil || !ok {
		t.Fatalf("LastWhere = %v, %v", ok, err)
	}
	if rec.Fields["seq"] != 4.0 {
		t.Errorf("found seq %v, want 4 (the newest at or before the cutoff)", rec.Fields["seq"])
	}
	if _, ok, _ := LastWhere(path, "status_scrape", func(Record) bool { return false }); ok {
		t.Error("a filter that rejects everything still found a record")
	}
}
