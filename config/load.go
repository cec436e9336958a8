package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize is the largest configuration file Load reads.
const MaxFileSize = 1 << 20

// maxProblems caps how many problems one file reports.
const maxProblems = 200

// Problem is one thing wrong with the configuration.
type Problem struct {
	File   string
	Line   int
	Column int
	// Key is the dotted path of the setting, e.g. bundle.max_size or
	// smtp.to[1]; empty for the file as a whole.
	Key     string
	Message string
}

// String formats the problem as FILE:LINE:COL: KEY: MESSAGE, leaving out the
// parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found in a configuration file.
type ValidationError struct {
	Problems []Problem
}

// Error prints one line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads the configuration file at path on top of Default(). An empty
// path means DefaultPath(). A missing file is fine unless explicit is set
// (the user named it with --config). Every problem in the file is reported
// at once in a *ValidationError.
func Load(path string, explicit bool) (*Config, error) {
	if path == "" {
		path = DefaultPath()
	}
	data, err := readFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if !explicit {
				return Default(), nil
			}
			return nil, fmt.Errorf("config file %s does not exist: create it (the package ships a commented sample, pbxagent.yaml) or drop --config to run with the defaults", path)
		}
		return nil, fmt.Errorf("read config file: %w", err)
	}
	c, problems := parse(path, data, Default(), runtime.GOOS)
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return c, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d KiB; is it the right file?", path, MaxFileSize>>10)
	}
	return data, nil
}

// parse decodes data onto base and validates the result for goos. It returns
// the configuration and the problems found, sorted by position.
func parse(file string, data []byte, base *Config, goos string) (*Config, []Problem) {
	d := &decoder{file: file, nodes: map[string]*yaml.Node{}}
	d.decodeFile(data, base)
	if base.Bundle.Format == "" {
		base.Bundle.Format = defaultFor(goos, os.Getenv).Bundle.Format
	}
	// Keys already reported kept their defaults; check the rest.
	reported := map[string]bool{}
	for _, p := range d.problems {
		reported[p.Key] = true
	}
	for _, p := range base.validate(goos) {
		if reported[p.Key] {
			continue
		}
		if n := d.nodeFor(p.Key); n != nil {
			p.Line, p.Column = n.Line, n.Column
		}
		p.File = file
		d.problems = append(d.problems, p)
	}
	sort.SliceStable(d.problems, func(i, j int) bool {
		a, b := d.problems[i], d.problems[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	if len(d.problems) > maxProblems {
		d.problems = append(d.problems[:maxProblems], Problem{File: file, Message: "too many problems; fix the ones above first"})
	}
	return base, d.problems
}

type decoder struct {
	file     string
	problems []Problem
	// nodes maps a dotted key to the node of its value.
	nodes map[string]*yaml.Node
}

func (d *decoder) add(n *yaml.Node, key, format string, args ...any) {
	p := Problem{File: d.file, Key: key, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

// nodeFor returns the node of key, or of its nearest ancestor in the file.
func (d *decoder) nodeFor(key string) *yaml.Node {
	for key != "" {
		if n, ok := d.nodes[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return nil
}

var lineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) decodeFile(data []byte, c *Config) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err != io.EOF {
			d.syntax(data, err)
		}
		return // an empty file or only comments: defaults
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		d.add(&extra, "", "the file holds more than one YAML document; remove the second '---' and what follows or merge it into the first")
	case err != io.EOF:
		d.syntax(data, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	root = deref(root)
	if isNull(root) {
		return
	}
	if root.Kind != yaml.MappingNode {
		d.add(root, "", "the file must be a mapping of sections such as \"pbx:\" and \"bundle:\", not %s", describe(root))
		return
	}
	d.decode(root, reflect.ValueOf(c).Elem(), "")
}

func (d *decoder) syntax(data []byte, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
			if line == 0 {
				line = i + 1
			}
			msg += "; indent with spaces, not tabs"
			break
		}
	}
	p := Problem{File: d.file, Line: line, Message: "invalid YAML: " + msg}
	if line > 0 {
		p.Column = 1
	}
	d.problems = append(d.problems, p)
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
)

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "an empty value"
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported value"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode sets v from n, reporting problems under key. A null value keeps
// the default.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) {
	n = deref(n)
	if isNull(n) {
		return
	}
	t := v.Type()
	scalar := func(want string) bool {
		if n.Kind != yaml.ScalarNode {
			d.add(n, key, "must be %s, not %s", want, describe(n))
			return false
		}
		return true
	}
	switch t {
	case durationType:
		if scalar("a duration such as 30s, 24h or 7d") {
			if dur, err := ParseDuration(n.Value); err != nil {
				d.add(n, key, "%v", err)
			} else {
				v.SetInt(int64(dur))
			}
		}
		return
	case byteSizeType:
		if scalar("a size such as 500MiB") {
			if size, err := ParseByteSize(n.Value); err != nil {
				d.add(n, key, "%v", err)
			} else {
				v.SetInt(int64(size))
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.add(n, key, "must be a mapping of settings (%s), not %s", strings.Join(fieldNames(t), ", "), describe(n))
			return
		}
		d.mapping(n, v, key)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			example := listExample(key, t.Elem().Kind())
			d.add(n, key, "must be a list such as %s, not %s", example, describe(n))
			return
		}
		s := reflect.MakeSlice(t, 0, len(n.Content))
		for i, e := range n.Content {
			ek := fmt.Sprintf("%s[%d]", key, i)
			d.nodes[ek] = e
			if isNull(deref(e)) {
				d.add(e, ek, "empty list entry; remove it or give it a value")
				continue
			}
			ev := reflect.New(t.Elem()).Elem()
			d.decode(e, ev, ek)
			s = reflect.Append(s, ev)
		}
		if s.Len() == 0 {
			s = reflect.Zero(t) // an empty list equals an unset one
		}
		v.Set(s)
	case reflect.String:
		if scalar("text") {
			v.SetString(n.Value)
		}
	case reflect.Int:
		if scalar("a whole number") {
			var i int
			var err error
			switch n.ShortTag() {
			case "!!int":
				err = n.Decode(&i)
			case "!!str":
				i, err = strconv.Atoi(strings.TrimSpace(n.Value))
			default:
				err = errors.New("not an integer")
			}
			if err != nil {
				d.add(n, key, "must be a whole number, not %s", describe(n))
				return
			}
			v.SetInt(int64(i))
		}
	case reflect.Float64:
		if scalar("a number") {
			s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(n.Value), "%"))
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || n.ShortTag() == "!!bool" {
				d.add(n, key, "must be a number such as 5, not %s", describe(n))
				return
			}
			v.SetFloat(f)
		}
	case reflect.Bool:
		if scalar("true or false") {
			var b bool
			if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
				d.add(n, key, "must be true or false, not %s", describe(n))
				return
			}
			v.SetBool(b)
		}
	default:
		d.add(n, key, "cannot be set from the file")
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(k, path, "keys must be plain names, not %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.add(k, path, "merge keys (<<) are not supported; write the settings out")
			continue
		}
		key := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.add(k, key, "duplicate key (first set on line %d); keep only one", first.Line)
			continue
		}
		seen[k.Value] = k
		f, ok := fieldByKey(t, k.Value)
		if !ok {
			d.add(k, key, "%s", unknownKey(t, path, k.Value))
			continue
		}
		d.nodes[key] = val
		d.decode(val, v.FieldByIndex(f.Index), key)
	}
}

// yamlKey returns the yaml key of a struct field, or "" if it has none.
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			names = append(names, k)
		}
	}
	return names
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if yamlKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// unknownKey explains an unknown key: the nearest valid key at that level,
// or where the key belongs if it is valid elsewhere, or the valid keys.
func unknownKey(t reflect.Type, path, key string) string {
	names := fieldNames(t)
	if s := closest(key, names); s != "" {
		return fmt.Sprintf("unknown key; did you mean %s?", s)
	}
	var elsewhere []string
	for _, p := range allKeys(reflect.TypeFor[Config](), "") {
		if p == key || strings.HasSuffix(p, "."+key) {
			elsewhere = append(elsewhere, p)
		}
	}
	if len(elsewhere) > 0 {
		return fmt.Sprintf("unknown key here; did you mean %s? (check the indentation)", strings.Join(elsewhere, " or "))
	}
	where := "in " + path
	if path == "" {
		where = "at the top level"
	}
	return fmt.Sprintf("unknown key; valid keys %s are %s", where, strings.Join(names, ", "))
}

// allKeys lists the dotted paths of every setting under t.
func allKeys(t reflect.Type, path string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		k := yamlKey(f)
		if k == "" {
			continue
		}
		p := join(path, k)
		out = append(out, p)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType && f.Type != byteSizeType {
			out = append(out, allKeys(f.Type, p)...)
		}
	}
	return out
}

// closest returns the candidate nearest to key by edit distance, ignoring
// case and treating '-' as '_', or "" if none is close enough.
func closest(key string, candidates []string) string {
	norm := strings.ReplaceAll(strings.ToLower(key), "-", "_")
	best, bestD := "", -1
	for _, c := range candidates {
		dist := editDistance(norm, c)
		if bestD < 0 || dist < bestD {
			best, bestD = c, dist
		}
	}
	limit := max(2, len(norm)/3)
	if bestD < 0 || bestD > limit || bestD >= len(norm) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// listExamples are the examples given when a list setting is not a list,
// by the setting's last key.
var listExamples = map[string]string{
	"to":             "[ops@example.com, oncall@example.com]",
	"paths":          "[/var/lib/portsip, /data]",
	"admin_networks": "[192.0.2.0/24, 2001:db8::/32]",
	"sip_ports":      "[5060, 5061]",
	"web_ports":      "[8887, 8888]",
}

// listExample returns an example list for the setting key.
func listExample(key string, elem reflect.Kind) string {
	last := key[strings.LastIndex(key, ".")+1:]
	if ex, ok := listExamples[last]; ok {
		return ex
	}
	if elem == reflect.Int {
		return "[5060, 5061]"
	}
	return "[first, second]"
}
