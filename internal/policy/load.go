// Package policy asks SwiftDeploy's Rego policies (policies/*.rego with thresholds in
// policies/data.json) for decisions, in-process with OPA. Each domain is a Rego package
// directly under swiftdeploy (swiftdeploy.canary, swiftdeploy.infrastructure) whose
// `decision` document says whether an action may go ahead and why not.
//
// Every failure fails closed: no error path returns a Decision that allows.
package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/swiftdeploy/swiftdeploy/internal/fail"
)

// Domains shipped in policies/.
const (
	Infrastructure = "infrastructure"
	Canary         = "canary"
	Release        = "release"
)

// DataFile holds the thresholds of every domain, under swiftdeploy.thresholds.<domain>.
const DataFile = "data.json"

// root is the data and package prefix every domain lives under.
const root = "swiftdeploy"

// Engine holds the compiled policies and one prepared query per domain. It is safe for
// concurrent use: prepared queries are read-only once built.
type Engine struct {
	queries    map[string]rego.PreparedEvalQuery
	thresholds map[string]map[string]any
}

// Load compiles every *.rego in dir (tests excluded) with the thresholds of dir/data.json,
// after applying overrides (the manifest's policy section: domain → key → value) onto them.
// An override for an unknown domain or key is an error wrapping fail.ErrInvalid.
func Load(dir string, overrides map[string]map[string]any) (*Engine, error) {
	modules, err := parseModules(dir, false)
	if err != nil {
		return nil, err
	}
	data, err := readData(dir)
	if err != nil {
		return nil, err
	}
	thresholds, err := thresholdsOf(data)
	if err != nil {
		return nil, fmt.Errorf("policy: load %s: %w", filepath.Join(dir, DataFile), err)
	}
	if err := applyOverrides(thresholds, retiredOf(data), overrides); err != nil {
		return nil, err
	}
	compiler, err := compile(modules)
	if err != nil {
		return nil, err
	}
	queries, err := prepare(compiler, data, domainsOf(modules))
	if err != nil {
		return nil, err
	}
	return &Engine{queries: queries, thresholds: normalizeThresholds(thresholds)}, nil
}

// Domains lists the policy domains, sorted.
func (e *Engine) Domains() []string {
	domains := make([]string, 0, len(e.queries))
	for d := range e.queries {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	return domains
}

// Thresholds returns a copy of the domain's thresholds after overrides, numbers as float64;
// nil for a domain without thresholds.
func (e *Engine) Thresholds(domain string) map[string]any {
	t, ok := e.thresholds[domain]
	if !ok {
		return nil
	}
	out := make(map[string]any, len(t))
	for k, v := range t {
		out[k] = v
	}
	return out
}

// parseModules parses the *.rego files of dir as Rego v1, with or without the *_test.rego ones.
func parseModules(dir string, withTests bool) (map[string]*ast.Module, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, missingFolder(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("policy: load %s: %w", dir, err)
	}
	modules := map[string]*ast.Module{}
	for _, entry := range entries {
		name := entry.Name()
		if entry.IsDir() || !strings.HasSuffix(name, ".rego") || (!withTests && strings.HasSuffix(name, "_test.rego")) {
			continue
		}
		path := filepath.Join(dir, name)
		module, err := parseModule(path)
		if err != nil {
			return nil, err
		}
		modules[path] = module
	}
	if len(modules) == 0 {
		return nil, fmt.Errorf("policy: load %s: no .rego policy in the folder", dir)
	}
	return modules, nil
}

func parseModule(path string) (*ast.Module, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: load %s: %w", path, withoutPath(err))
	}
	module, err := ast.ParseModuleWithOpts(path, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("policy: parse: %s", oneLine(err))
	}
	return module, nil
}

func compile(modules map[string]*ast.Module) (*ast.Compiler, error) {
	compiler := ast.NewCompiler()
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, fmt.Errorf("policy: compile: %s", oneLine(compiler.Errors))
	}
	return compiler, nil
}

// oneLine renders OPA's errors (often several, one per line) as one line of
// "file:line: code: message" entries. The parser reports some problems twice at one place,
// the second time with a hint: only the longer is kept.
func oneLine(err error) string {
	var astErrs ast.Errors
	if !errors.As(err, &astErrs) || len(astErrs) == 0 {
		return strings.Join(strings.Fields(err.Error()), " ")
	}
	var parts []string
	seen := map[string]int{} // "file:line: code" → index in parts
	for _, e := range astErrs {
		where := "?"
		if e.Location != nil {
			where = fmt.Sprintf("%s:%d", e.Location.File, e.Location.Row)
		}
		head := fmt.Sprintf("%s: %s", where, e.Code)
		part := fmt.Sprintf("%s: %s", head, strings.Join(strings.Fields(e.Message), " "))
		if i, ok := seen[head]; ok && strings.HasPrefix(part, parts[i]) {
			parts[i] = part
			continue
		}
		seen[head] = len(parts)
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// withoutPath drops the path from an *fs.PathError, for messages that name the file already.
func withoutPath(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

func missingFolder(dir string) error {
	return fmt.Errorf("policy: load %s: the policy folder is missing", dir)
}

// readData reads dir/data.json, numbers kept exact (json.Number) as OPA keeps them.
func readData(dir string) (map[string]any, error) {
	path := filepath.Join(dir, DataFile)
	src, err := os.ReadFile(path)
	if err != nil {
		if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
			return nil, missingFolder(dir)
		}
		return nil, fmt.Errorf("policy: load %s: %w", path, withoutPath(err))
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var data map[string]any
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("policy: load %s: invalid JSON: %s", jsonPosition(path, src, err), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("policy: load %s: invalid JSON: more than one document", path)
	}
	return data, nil
}

// jsonPosition names the line and column of a syntax error when encoding/json gives one.
func jsonPosition(path string, src []byte, err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var offset int64
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &typeErr):
		offset = typeErr.Offset
	default:
		return path
	}
	// The offending byte is the last one read.
	before := src[:max(0, min(int(offset)-1, len(src)))]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%s:%d:%d", path, line, col)
}

// thresholdsOf returns the swiftdeploy.thresholds section of data, checking its shape:
// an object of domains, each an object of thresholds, each a number or a name (a
// string, such as the release judge's alpha_spending). The maps are data's own, so
// that overrides land in what the policies read.
func thresholdsOf(data map[string]any) (map[string]map[string]any, error) {
	top, ok := data[root].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is missing or not an object", root)
	}
	section, ok := top["thresholds"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s.thresholds is missing or not an object", root)
	}
	out := make(map[string]map[string]any, len(section))
	var problems []string
	for domain, v := range section {
		values, ok := v.(map[string]any)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s.thresholds.%s is not an object", root, domain))
			continue
		}
		for key, value := range values {
			switch value.(type) {
			case json.Number, string:
			default:
				problems = append(problems, fmt.Sprintf("%s.thresholds.%s.%s is not a number or a name", root, domain, key))
			}
		}
		out[domain] = values
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

// retiredOf returns the swiftdeploy.retired section of data: by domain, the
// thresholds an earlier release of the policies had, each with what replaced
// it, so that a manifest still setting one is told what to set instead. It is
// optional; anything but strings in it is ignored.
func retiredOf(data map[string]any) map[string]map[string]string {
	top, _ := data[root].(map[string]any)
	section, _ := top["retired"].(map[string]any)
	out := map[string]map[string]string{}
	for domain, v := range section {
		keys, _ := v.(map[string]any)
		for key, why := range keys {
			if text, ok := why.(string); ok {
				if out[domain] == nil {
					out[domain] = map[string]string{}
				}
				out[domain][key] = text
			}
		}
	}
	return out
}

// applyOverrides writes the manifest's policy section onto the thresholds, each
// value of the kind data.json gives its threshold (a number, or a name); every
// problem is reported, in one line. A retired threshold says what replaced it.
func applyOverrides(thresholds map[string]map[string]any, retired map[string]map[string]string, overrides map[string]map[string]any) error {
	var problems []string
	for domain, values := range overrides {
		known, ok := thresholds[domain]
		if !ok {
			problems = append(problems, fmt.Sprintf("policy.%s: unknown policy domain (known: %s)", domain, strings.Join(sortedKeys(thresholds), ", ")))
			continue
		}
		for key, value := range values {
			at := fmt.Sprintf("policy.%s.%s", domain, key)
			current, ok := known[key]
			switch {
			case !ok && retired[domain][key] != "":
				problems = append(problems, fmt.Sprintf("%s: retired: %s; remove it", at, retired[domain][key]))
				continue
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: unknown threshold (known: %s)", at, strings.Join(sortedKeys(known), ", ")))
				continue
			}
			_, wantName := current.(string)
			if i, ok := value.(int); ok {
				value = float64(i)
			}
			switch v := value.(type) {
			case float64:
				if wantName {
					problems = append(problems, fmt.Sprintf("%s: must be a name such as %q, got %v", at, current, v))
					continue
				}
				if math.IsNaN(v) || math.IsInf(v, 0) {
					problems = append(problems, fmt.Sprintf("%s: %v is not a finite number", at, v))
					continue
				}
			case string:
				if !wantName {
					problems = append(problems, fmt.Sprintf("%s: must be a number, got %q", at, v))
					continue
				}
			default:
				problems = append(problems, fmt.Sprintf("%s: must be a number or a name, got %v", at, v))
				continue
			}
			known[key] = value
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("policy: overrides: %w: %s", fail.ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func normalizeThresholds(thresholds map[string]map[string]any) map[string]map[string]any {
	out := make(map[string]map[string]any, len(thresholds))
	for domain, values := range thresholds {
		out[domain] = normalize(values).(map[string]any)
	}
	return out
}

// domainsOf names the packages directly under swiftdeploy; deeper ones (swiftdeploy.lib.*)
// are helpers, not domains.
func domainsOf(modules map[string]*ast.Module) []string {
	var domains []string
	for _, m := range modules {
		path := m.Package.Path
		if len(path) != 3 || !path[1].Equal(ast.StringTerm(root)) {
			continue
		}
		name, ok := path[2].Value.(ast.String)
		if ok && !slices.Contains(domains, string(name)) {
			domains = append(domains, string(name))
		}
	}
	return domains
}

// prepare builds one query per domain, so that a decision costs only its evaluation.
func prepare(compiler *ast.Compiler, data map[string]any, domains []string) (map[string]rego.PreparedEvalQuery, error) {
	store := inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))
	queries := make(map[string]rego.PreparedEvalQuery, len(domains))
	for _, domain := range domains {
		q, err := rego.New(
			rego.Query(decisionRef(domain)),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(context.Background())
		if err != nil {
			return nil, fmt.Errorf("policy: prepare %s: %s", decisionRef(domain), oneLine(err))
		}
		queries[domain] = q
	}
	return queries, nil
}

func decisionRef(domain string) string {
	return fmt.Sprintf("data.%s.%s.decision", root, domain)
}
