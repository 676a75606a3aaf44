package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// checker walks a manifest's YAML tree and collects every problem it finds.
type checker struct {
	file     string
	problems []Problem
}

// parse decodes and validates data; it also returns the document's root mapping,
// which SetMode needs for byte positions.
func parse(name string, data []byte) (*Manifest, *yaml.Node, error) {
	c := &checker{file: name}
	root := c.decode(data)
	var m *Manifest
	if root != nil {
		m = c.manifest(root)
	}
	if len(c.problems) > 0 {
		sortProblems(c.problems)
		return nil, nil, &Error{Problems: c.problems}
	}
	return m, root, nil
}

func (c *checker) reportAt(line, col int, path, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: c.file, Line: line, Col: col, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) report(n *yaml.Node, path, format string, args ...any) {
	c.reportAt(n.Line, n.Column, path, format, args...)
}

// decode returns the root node of the single YAML document in data, or nil
// after reporting why there is none.
func (c *checker) decode(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		c.decodeFailed(err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		c.report(&next, "", "a second YAML document starts here: the manifest must be a single document")
	case !errors.Is(err, io.EOF):
		c.decodeFailed(err)
		return nil
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		c.decodeFailed(io.EOF)
		return nil
	}
	return doc.Content[0]
}

var yamlErrorLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the messages of the YAML parser proper. The library
// numbers their lines from 0 (its scanner's from 1) and leaves out the line
// when it is the first, so both need correcting.
var parserProblems = []string{
	"did not find expected ',' or", "did not find expected '-' indicator", "did not find expected <",
	"did not find expected key", "did not find expected node content", "found duplicate %",
	"found incompatible YAML document", "found undefined tag handle",
}

// positionedProblems start the messages of the scanner and parser, which always
// concern some line; reader errors (bad UTF-8, control characters) carry none.
var positionedProblems = []string{"found ", "did not find ", "could not find ", "mapping ", "block sequence "}

// decodeFailed reports an empty file or a YAML syntax error with the line the
// parser gave (it gives no column).
func (c *checker) decodeFailed(err error) {
	if errors.Is(err, io.EOF) {
		c.reportAt(1, 1, "", "the file is empty: it needs the services, nginx and network sections")
		return
	}
	m := yamlErrorLine.FindStringSubmatch(err.Error())
	if m == nil {
		c.reportAt(0, 0, "", "invalid YAML: %v", err)
		return
	}
	line, problem := 0, m[2]
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
		if hasAnyPrefix(problem, parserProblems) {
			line++
		}
	} else if hasAnyPrefix(problem, positionedProblems) {
		line = 1
	}
	c.reportAt(line, 0, "", "invalid YAML: %s", problem)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// field is one key of a mapping and how to check (and store) its value.
type field struct {
	key      string
	required bool
	check    func(c *checker, n *yaml.Node, path string)
}

// manifest checks the root mapping and builds the Manifest with defaults applied.
func (c *checker) manifest(root *yaml.Node) *Manifest {
	m := &Manifest{
		Services: Services{Mode: DefaultMode, Version: DefaultVersion, RestartPolicy: DefaultRestartPolicy, LogVolume: DefaultLogVolume, HealthPath: DefaultHealthPath,
			User: DefaultUser, ReadOnly: true, Replicas: 1},
		Runtime: RuntimeCompose,
		Nginx:   Nginx{ProxyTimeout: DefaultProxyTimeout, StreamTimeout: DefaultStreamTimeout, MaxBodyMB: DefaultMaxBodyMB, PublicAdminPaths: true},
		Rollout: Rollout{Strategy: StrategyCanary, Steps: DefaultSteps, StepSeconds: DefaultStepSeconds, Sticky: true},
	}
	s, x, w := &m.Services, &m.Nginx, &m.Network
	var replicas, driver, edgeNode, smokeNode *yaml.Node
	services := []field{
		{"image", true, func(c *checker, n *yaml.Node, p string) { s.Image = c.text(n, p, imageRule) }},
		{"port", true, func(c *checker, n *yaml.Node, p string) { s.Port = c.integer(n, p, 1, 65535, "") }},
		{"mode", false, func(c *checker, n *yaml.Node, p string) { s.Mode = c.text(n, p, modeRule) }},
		{"version", false, func(c *checker, n *yaml.Node, p string) { s.Version = c.text(n, p, versionRule) }},
		{"restart_policy", false, func(c *checker, n *yaml.Node, p string) { s.RestartPolicy = c.text(n, p, restartRule) }},
		{"log_volume", false, func(c *checker, n *yaml.Node, p string) { s.LogVolume = c.text(n, p, dockerNameRule) }},
		{"health_path", false, func(c *checker, n *yaml.Node, p string) { s.HealthPath = c.text(n, p, healthPathRule) }},
		{"user", false, func(c *checker, n *yaml.Node, p string) { s.User = c.text(n, p, userRule) }},
		{"read_only", false, func(c *checker, n *yaml.Node, p string) { s.ReadOnly = c.boolean(n, p) }},
		{"env_file", false, func(c *checker, n *yaml.Node, p string) { s.EnvFile = c.text(n, p, envFileRule) }},
		{"replicas", false, func(c *checker, n *yaml.Node, p string) { s.Replicas, replicas = c.integer(n, p, 1, 100, ""), n }},
	}
	nginx := []field{
		{"image", true, func(c *checker, n *yaml.Node, p string) { x.Image = c.text(n, p, imageRule) }},
		{"port", true, func(c *checker, n *yaml.Node, p string) { x.Port = c.integer(n, p, 1, 65535, "") }},
		{"proxy_timeout", false, func(c *checker, n *yaml.Node, p string) { x.ProxyTimeout = c.integer(n, p, 1, 3600, " seconds") }},
		{"stream_timeout", false, func(c *checker, n *yaml.Node, p string) { x.StreamTimeout = c.integer(n, p, 1, 86400, " seconds") }},
		{"max_body_mb", false, func(c *checker, n *yaml.Node, p string) {
			x.MaxBodyMB = c.integer(n, p, 0, 10240, " megabytes (0: no limit)")
		}},
		{"public_admin_paths", false, func(c *checker, n *yaml.Node, p string) { x.PublicAdminPaths = c.boolean(n, p) }},
	}
	network := []field{
		{"name", true, func(c *checker, n *yaml.Node, p string) { w.Name = c.text(n, p, dockerNameRule) }},
		{"driver_type", true, func(c *checker, n *yaml.Node, p string) { w.DriverType, driver = c.text(n, p, driverRule), n }},
	}
	r := &m.Rollout
	rollout := []field{
		{"strategy", false, func(c *checker, n *yaml.Node, p string) { r.Strategy = c.text(n, p, strategyRule) }},
		{"steps", false, func(c *checker, n *yaml.Node, p string) { r.Steps = c.steps(n, p) }},
		{"step_seconds", false, func(c *checker, n *yaml.Node, p string) { r.StepSeconds = c.integer(n, p, 1, 3600, " seconds") }},
		{"sticky", false, func(c *checker, n *yaml.Node, p string) { r.Sticky = c.boolean(n, p) }},
		{"smoke", false, func(c *checker, n *yaml.Node, p string) { r.Smoke, smokeNode = c.smoke(n, p), n }},
	}
	top := []field{
		{"services", true, func(c *checker, n *yaml.Node, p string) { c.mapping(n, p, services) }},
		{"nginx", true, func(c *checker, n *yaml.Node, p string) { c.mapping(n, p, nginx) }},
		{"network", true, func(c *checker, n *yaml.Node, p string) { c.mapping(n, p, network) }},
		{"contact", false, func(c *checker, n *yaml.Node, p string) { m.Contact = c.contact(n, p) }},
		{"runtime", false, func(c *checker, n *yaml.Node, p string) { m.Runtime = c.text(n, p, runtimeRule) }},
		{"rollout", false, func(c *checker, n *yaml.Node, p string) { c.mapping(n, p, rollout) }},
		{"policy", false, func(c *checker, n *yaml.Node, p string) { m.Policy = c.policy(n, p) }},
		{"edge", false, func(c *checker, n *yaml.Node, p string) { edgeNode = n; c.edge(n, p, m) }},
	}
	c.mapping(root, "", top)
	c.runtimeFits(m, replicas, driver)
	c.edgeFits(m, edgeNode)
	c.smokeFits(m, smokeNode)
	return m
}

// runtimeFits checks the fields whose valid values depend on the runtime;
// the nodes are where each was written (nil when it was not).
func (c *checker) runtimeFits(m *Manifest, replicas, driver *yaml.Node) {
	if m.Runtime != RuntimeSwarm {
		if replicas != nil && m.Services.Replicas != 1 {
			c.report(replicas, "services.replicas", "must be 1 with runtime: compose (one host runs one app); set runtime: swarm for more")
		}
		return
	}
	if driver != nil && m.Network.DriverType != "overlay" {
		c.report(driver, "network.driver_type", "must be overlay with runtime: swarm (a stack's tasks meet on an overlay network), got %q", m.Network.DriverType)
	}
}

// mapping checks that n is a mapping of the given fields, runs each field's
// check, and reports unknown keys and missing required fields. An empty value
// counts as an empty mapping, so `services:` alone lists what is missing.
func (c *checker) mapping(n *yaml.Node, path string, fields []field) {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	if !isNull(n) && n.Kind != yaml.MappingNode {
		if path == "" {
			c.report(n, "", "the manifest must be a mapping of sections (%s), got %s", strings.Join(keys, ", "), describe(n))
			return
		}
		c.report(n, path, "must be a mapping of %s, got %s", strings.Join(keys, ", "), describe(n))
		return
	}
	values := map[string]*yaml.Node{}
	for _, e := range c.entries(n, path) {
		if !contains(keys, e.key) {
			c.report(e.keyNode, join(path, e.key), "unknown %s (expected one of: %s)", kindOfKey(path), strings.Join(keys, ", "))
			continue
		}
		values[e.key] = e.value
	}
	for _, f := range fields {
		v, ok := values[f.key]
		switch {
		case ok:
			f.check(c, v, join(path, f.key))
		case f.required && path == "":
			c.reportAt(1, 1, f.key, "required section is missing")
		case f.required:
			c.report(n, join(path, f.key), "required field is missing")
		}
	}
}

func kindOfKey(path string) string {
	if path == "" {
		return "section"
	}
	return "field"
}

// entry is one key/value pair of a mapping.
type entry struct {
	key            string
	keyNode, value *yaml.Node
}

// entries lists a mapping's pairs in file order, reporting keys that are not
// plain scalars and keys given twice (the first one wins).
func (c *checker) entries(n *yaml.Node, path string) []entry {
	if isNull(n) {
		return nil
	}
	seen := map[string]*yaml.Node{}
	var out []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.report(k, path, "keys must be plain names, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			c.report(k, join(path, k.Value), "duplicate key (first given at line %d)", first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{key: k.Value, keyNode: k, value: v})
	}
	return out
}

// integer returns n as an int in [lo, hi]; YAML floats and quoted numbers are refused.
func (c *checker) integer(n *yaml.Node, path string, lo, hi int, unit string) int {
	var v int64
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" && n.Decode(&v) == nil && v >= int64(lo) && v <= int64(hi) {
		return int(v)
	}
	c.report(n, path, "must be an integer between %d and %d%s, got %s", lo, hi, unit, describe(n))
	return 0
}

// steps returns n as a list of percentages that rise strictly and end at 100.
func (c *checker) steps(n *yaml.Node, path string) []int {
	const want = "a list of percentages that rise and end at 100, such as [10, 25, 50, 100]"
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 || len(n.Content) > 20 {
		c.report(n, path, "must be %s, got %s", want, describe(n))
		return nil
	}
	var out []int
	for i, item := range n.Content {
		var v int64
		if item.Kind != yaml.ScalarNode || item.ShortTag() != "!!int" || item.Decode(&v) != nil || v < 1 || v > 100 {
			c.report(item, fmt.Sprintf("%s[%d]", path, i), "must be an integer percentage between 1 and 100, got %s", describe(item))
			return nil
		}
		if len(out) > 0 && int(v) <= out[len(out)-1] {
			c.report(item, fmt.Sprintf("%s[%d]", path, i), "must be above the step before it (%d): steps rise, got %d", out[len(out)-1], v)
			return nil
		}
		out = append(out, int(v))
	}
	if out[len(out)-1] != 100 {
		c.report(n, path, "must end at 100 (the new build takes all traffic at the last step), ends at %d", out[len(out)-1])
		return nil
	}
	return out
}

// boolean returns n as true or false; YAML's other spellings are refused.
func (c *checker) boolean(n *yaml.Node, path string) bool {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" && (n.Value == "true" || n.Value == "false") {
		return n.Value == "true"
	}
	c.report(n, path, "must be true or false, got %s", describe(n))
	return false
}

// textRule says what a valid string field looks like.
type textRule struct {
	want  string // completes "must be ..." in messages
	valid func(string) bool
}

// text returns n's string value when it is a scalar the rule accepts. An
// unquoted number counts as its literal text (version: 1.10 is "1.10"), while
// booleans, nulls and collections are refused.
func (c *checker) text(n *yaml.Node, path string, r textRule) string {
	if n.Kind == yaml.ScalarNode && r.valid(n.Value) {
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float":
			return n.Value
		}
	}
	c.report(n, path, "must be %s, got %s", r.want, describe(n))
	return ""
}

// contact is free text that may be empty; it ends up inside nginx config and
// JSON bodies, so characters that would need escaping there are refused.
func (c *checker) contact(n *yaml.Node, path string) string {
	if isNull(n) {
		return ""
	}
	return c.text(n, path, contactRule)
}

// policy returns the per-domain threshold overrides: domain → key → number.
func (c *checker) policy(n *yaml.Node, path string) map[string]map[string]any {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		c.report(n, path, "must be a mapping of policy domains (such as canary) to thresholds, got %s", describe(n))
		return nil
	}
	out := map[string]map[string]any{}
	for _, d := range c.entries(n, path) {
		dpath := join(path, d.key)
		if !identifier.MatchString(d.key) {
			c.report(d.keyNode, dpath, "policy domain names are lower-case identifiers such as canary")
		}
		out[d.key] = c.thresholds(d.value, dpath)
	}
	return out
}

// thresholds checks one policy domain's overrides: key → finite number, or
// a name (alpha_spending: pocock). policies/data.json says which key takes
// which (policy.CheckOverrides).
func (c *checker) thresholds(n *yaml.Node, path string) map[string]any {
	out := map[string]any{}
	if !isNull(n) && n.Kind != yaml.MappingNode {
		c.report(n, path, "must be a mapping of threshold names to numbers or names, got %s", describe(n))
		return out
	}
	for _, t := range c.entries(n, path) {
		tpath := join(path, t.key)
		if !identifier.MatchString(t.key) {
			c.report(t.keyNode, tpath, "threshold names are lower-case identifiers such as max_error_rate_percent")
		}
		if t.value.Kind == yaml.ScalarNode && t.value.ShortTag() == "!!str" && identifier.MatchString(t.value.Value) {
			out[t.key] = t.value.Value
			continue
		}
		v, ok := number(t.value)
		if !ok {
			c.report(t.value, tpath, "must be a number (or a name such as pocock), got %s", describe(t.value))
			continue
		}
		out[t.key] = v
	}
	return out
}

// number returns n as a finite float64 when it is a YAML int or float.
func number(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	var v float64
	switch n.ShortTag() {
	case "!!int":
		var i int64
		if n.Decode(&i) != nil {
			return 0, false
		}
		v = float64(i)
	case "!!float":
		if n.Decode(&v) != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return v, !math.IsNaN(v) && !math.IsInf(v, 0)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe renders a value for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return fmt.Sprintf("an alias (*%s): aliases are not supported, write the value out", n.Value)
	}
	if isNull(n) && n.Value == "" {
		return "an empty value"
	}
	s := strconv.Quote(truncate(n.Value, 60))
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
			s += " (a quoted string: remove the quotes)"
		}
	}
	return s
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Image references follow Docker's grammar: [registry[:port]/]path[:tag][@digest],
// where path components are lower case.
var imageRef = func() *regexp.Regexp {
	const (
		host    = `[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?`
		domain  = host + `(?:\.` + host + `)*(?::[0-9]+)?`
		comp    = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
		tag     = `[\w][\w.-]{0,127}`
		algo    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*`
		pattern = `^(?:` + domain + `/)?` + comp + `(?:/` + comp + `)*(?::` + tag + `)?(?:@` + algo + `:[0-9a-fA-F]{32,})?$`
	)
	return regexp.MustCompile(pattern)
}()

var (
	dockerName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	versionRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	identifier = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	healthPath = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*$`)
	userRe     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*(:[A-Za-z0-9_][A-Za-z0-9_-]*)?$`)
	envFileRe  = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._/-]*$`)
)

var (
	imageRule = textRule{
		want:  "an image reference such as nginx:latest or registry:5000/team/app:1.2 (lower-case path, no spaces)",
		valid: func(s string) bool { return len(s) <= 512 && imageRef.MatchString(s) },
	}
	healthPathRule = textRule{
		want:  "a path such as /healthz (a '/', then letters, digits, '.', '_', '~', '-', '/'; at most 200 characters)",
		valid: func(s string) bool { return len(s) <= 200 && healthPath.MatchString(s) },
	}
	userRule = textRule{
		want:  `a user such as "10001:10001" or "www-data" (letters, digits, '_', '-', one ':')`,
		valid: func(s string) bool { return len(s) <= 64 && userRe.MatchString(s) },
	}
	envFileRule = textRule{
		want:  "a file path relative to the project folder, such as app.env (no '..', no spaces)",
		valid: func(s string) bool { return len(s) <= 200 && envFileRe.MatchString(s) && !strings.Contains(s, "..") },
	}
	runtimeRule = textRule{
		want:  "one of: compose, swarm",
		valid: oneOf(RuntimeCompose, RuntimeSwarm),
	}
	strategyRule = textRule{
		want:  "one of: canary, switch",
		valid: func(s string) bool { return s == StrategyCanary || s == StrategySwitch },
	}
	modeRule = textRule{
		want:  "one of: stable, canary",
		valid: ValidMode,
	}
	versionRule = textRule{
		want:  `a version such as "1.0.0" (letters, digits, '.', '_', '+', '-'; at most 128 characters)`,
		valid: func(s string) bool { return len(s) <= 128 && versionRe.MatchString(s) },
	}
	restartRule = textRule{
		want:  "one of: no, always, on-failure, unless-stopped",
		valid: oneOf("no", "always", "on-failure", "unless-stopped"),
	}
	// Only the drivers Compose can create a user-defined network with; host and
	// none are single built-in networks and cannot be created.
	driverRule = textRule{
		want:  "one of: bridge, overlay, macvlan, ipvlan",
		valid: oneOf("bridge", "overlay", "macvlan", "ipvlan"),
	}
	dockerNameRule = textRule{
		want:  "a Docker name (a letter or digit, then letters, digits, '_', '.' or '-'; at most 255 characters)",
		valid: func(s string) bool { return len(s) <= 255 && dockerName.MatchString(s) },
	}
	contactRule = textRule{
		want:  `text of at most 200 characters without quotes, backslashes, '$', ';', braces or control characters`,
		valid: safeContact,
	}
)

func oneOf(allowed ...string) func(string) bool {
	return func(s string) bool { return contains(allowed, s) }
}

func safeContact(s string) bool {
	if utf8.RuneCountInString(s) > 200 {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || strings.ContainsRune(`"'\$;{}`, r) {
			return false
		}
	}
	return true
}
