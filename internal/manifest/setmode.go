package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/swiftdeploy/swiftdeploy/internal/atomicfile"

	"go.yaml.in/yaml/v3"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

// errUneditable marks a valid manifest whose services.mode is written in a way
// SetMode cannot rewrite in place (a block scalar, for instance).
var errUneditable = errors.New("cannot rewrite services.mode in place")

// SetMode sets services.mode in the manifest at path, changing no other byte:
// the value keeps its quoting, and comments, key order and line endings stay.
// When the key is absent it is added as the first line under services:. A
// manifest that does not load is refused with its *Error; a mode the manifest
// already has leaves the file untouched. The write is atomic.
func SetMode(path, mode string) error {
	if !ValidMode(mode) {
		return fmt.Errorf("%w: mode %q: must be one of: stable, canary", fail.ErrInvalid, mode)
	}
	// Rewrite the symlink's target, not the link, so a linked manifest stays linked.
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return notFound(path)
	}
	if err != nil {
		return fmt.Errorf("set mode: %w", err)
	}
	data, err := os.ReadFile(target)
	if err != nil {
		return fmt.Errorf("set mode: read manifest: %w", err)
	}
	out, err := rewriteMode(path, data, mode)
	if err != nil {
		return err
	}
	if bytes.Equal(out, data) {
		return nil
	}
	info, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("set mode: %w", err)
	}
	// Keep the manifest's own permissions.
	if err := atomicfile.Write(target, out, info.Mode().Perm()); err != nil {
		return fmt.Errorf("set mode: %w", err)
	}
	return nil
}

// rewriteMode returns data with services.mode set to mode, after checking that
// the result loads to the same manifest with only the mode changed.
func rewriteMode(name string, data []byte, mode string) ([]byte, error) {
	m, root, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	if m.Services.Mode == mode {
		return data, nil
	}
	starts := lineStarts(data)
	servicesKey, services := lookup(root, "services")
	var out []byte
	if _, value := lookup(services, "mode"); value != nil {
		out, err = replaceScalar(data, starts, value, mode)
	} else {
		out, err = insertMode(data, starts, servicesKey, services, mode)
	}
	if err == nil {
		err = sameExceptMode(name, out, *m, mode)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w; write it as a plain `mode: %s` line under services:", fail.ErrInvalid, name, err, mode)
	}
	return out, nil
}

// sameExceptMode guards the byte surgery: the new text must load to the old
// manifest with only the mode changed.
func sameExceptMode(name string, out []byte, old Manifest, mode string) error {
	got, _, err := parse(name, out)
	old.Services.Mode = mode
	if err != nil || !reflect.DeepEqual(&old, got) {
		return errUneditable
	}
	return nil
}

// lookup returns the key and value nodes of key in mapping n, or nils.
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

// replaceScalar swaps the bytes of scalar n's value for mode in n's own quoting style.
func replaceScalar(data []byte, starts []int, n *yaml.Node, mode string) ([]byte, error) {
	start, ok := offsetOf(data, starts, n.Line, n.Column)
	if !ok {
		return nil, errUneditable
	}
	start = skipProperties(data, start)
	var end int
	var repl string
	switch n.Style &^ yaml.TaggedStyle {
	case 0:
		if !bytes.HasPrefix(data[start:], []byte(n.Value)) {
			return nil, errUneditable
		}
		end, repl = start+len(n.Value), mode
	case yaml.DoubleQuotedStyle:
		end, repl = quotedEnd(data, start, '"'), `"`+mode+`"`
	case yaml.SingleQuotedStyle:
		end, repl = quotedEnd(data, start, '\''), `'`+mode+`'`
	default:
		return nil, errUneditable
	}
	if end < 0 {
		return nil, errUneditable
	}
	return splice(data, start, end, repl), nil
}

// skipProperties moves past an anchor (&a) or tag (!!str) written before a
// value, since a node's position is that of its first property.
func skipProperties(data []byte, i int) int {
	for i < len(data) && (data[i] == '&' || data[i] == '!') {
		for i < len(data) && !isSpace(data[i]) {
			i++
		}
		for i < len(data) && isSpace(data[i]) {
			i++
		}
	}
	return i
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\r' || b == '\n'
}

// quotedEnd returns the offset just past the quoted scalar starting at start,
// or -1. Double quotes escape with a backslash, single quotes by doubling.
func quotedEnd(data []byte, start int, quote byte) int {
	if start >= len(data) || data[start] != quote {
		return -1
	}
	for i := start + 1; i < len(data); i++ {
		switch {
		case quote == '"' && data[i] == '\\':
			i++
		case data[i] == quote && quote == '\'' && i+1 < len(data) && data[i+1] == '\'':
			i++
		case data[i] == quote:
			return i + 1
		}
	}
	return -1
}

// insertMode adds services.mode: as the first entry of a flow mapping, or as a
// new line right after the services: line, indented like the first field.
func insertMode(data []byte, starts []int, key, services *yaml.Node, mode string) ([]byte, error) {
	if services.Style&yaml.FlowStyle != 0 {
		at, ok := offsetOf(data, starts, services.Line, services.Column)
		if !ok || at >= len(data) || data[at] != '{' {
			return nil, errUneditable
		}
		return splice(data, at+1, at+1, "mode: "+mode+", "), nil
	}
	if key.Line >= len(starts) || len(services.Content) == 0 {
		return nil, errUneditable
	}
	at := starts[key.Line] // start of the line after services:
	indent := strings.Repeat(" ", services.Content[0].Column-1)
	return splice(data, at, at, indent+"mode: "+mode+lineBreakBefore(data, at)), nil
}

// lineBreakBefore returns the line break that ends just before offset at, so
// an inserted line matches the file's line endings.
func lineBreakBefore(data []byte, at int) string {
	switch {
	case bytes.HasSuffix(data[:at], []byte("\r\n")):
		return "\r\n"
	case bytes.HasSuffix(data[:at], []byte("\r")):
		return "\r"
	}
	return "\n"
}

func splice(data []byte, start, end int, repl string) []byte {
	out := make([]byte, 0, len(data)-(end-start)+len(repl))
	out = append(out, data[:start]...)
	out = append(out, repl...)
	return append(out, data[end:]...)
}

// yamlBreaks are the line breaks the YAML scanner counts besides CR and LF.
var yamlBreaks = [][]byte{{0xC2, 0x85}, {0xE2, 0x80, 0xA8}, {0xE2, 0x80, 0xA9}}

// lineStarts returns the byte offset of each line as the YAML parser numbers
// them: CR LF, CR, LF, NEL, LS and PS each end a line, and a leading byte-order
// mark is not part of line 1.
func lineStarts(data []byte) []int {
	i := 0
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		i = 3
	}
	starts := []int{i}
	for i < len(data) {
		n := breakLen(data[i:])
		if n == 0 {
			i++
			continue
		}
		i += n
		starts = append(starts, i)
	}
	return starts
}

func breakLen(b []byte) int {
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return 2
	case b[0] == '\r' || b[0] == '\n':
		return 1
	}
	for _, br := range yamlBreaks {
		if bytes.HasPrefix(b, br) {
			return len(br)
		}
	}
	return 0
}

// offsetOf turns a node position (1-based line, column in characters) into a
// byte offset in data.
func offsetOf(data []byte, starts []int, line, col int) (int, bool) {
	if line < 1 || line > len(starts) || col < 1 {
		return 0, false
	}
	off := starts[line-1]
	for range col - 1 {
		if off >= len(data) {
			return 0, false
		}
		_, size := utf8.DecodeRune(data[off:])
		off += size
	}
	return off, off <= len(data)
}
