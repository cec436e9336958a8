package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

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
	if r, ok := scalarTypes[t]; ok {
		d.scalar(n, v, key, r)
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
		d.list(n, v, key)
	default:
		r, ok := scalarKinds[t.Kind()]
		if !ok {
			d.add(n, key, "cannot be set from the file")
			return
		}
		d.scalar(n, v, key, r)
	}
}

// scalarReader reads a setting of one type from a YAML scalar.
type scalarReader struct {
	want string // what the value must be, for a message on a list or mapping
	set  func(n *yaml.Node, v reflect.Value) error
}

// scalarTypes are the readers of the named types, checked before the kinds.
var scalarTypes = map[reflect.Type]scalarReader{
	durationType: {"a duration such as 30s, 24h or 7d", setDuration},
	byteSizeType: {"a size such as 500MiB", setByteSize},
}

// scalarKinds are the readers of the plain kinds.
var scalarKinds = map[reflect.Kind]scalarReader{
	reflect.String:  {"text", func(n *yaml.Node, v reflect.Value) error { v.SetString(n.Value); return nil }},
	reflect.Int:     {"a whole number", setInt},
	reflect.Float64: {"a number", setFloat},
	reflect.Bool:    {"true or false", setBool},
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, key string, r scalarReader) {
	if n.Kind != yaml.ScalarNode {
		d.add(n, key, "must be %s, not %s", r.want, describe(n))
		return
	}
	if err := r.set(n, v); err != nil {
		d.add(n, key, "%v", err)
	}
}

func setDuration(n *yaml.Node, v reflect.Value) error {
	dur, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	v.SetInt(int64(dur))
	return nil
}

func setByteSize(n *yaml.Node, v reflect.Value) error {
	size, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	v.SetInt(int64(size))
	return nil
}

func setInt(n *yaml.Node, v reflect.Value) error {
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
		return fmt.Errorf("must be a whole number, not %s", describe(n))
	}
	v.SetInt(int64(i))
	return nil
}

func setFloat(n *yaml.Node, v reflect.Value) error {
	s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(n.Value), "%"))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || n.ShortTag() == "!!bool" {
		return fmt.Errorf("must be a number such as 5, not %s", describe(n))
	}
	v.SetFloat(f)
	return nil
}

func setBool(n *yaml.Node, v reflect.Value) error {
	var b bool
	if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		return fmt.Errorf("must be true or false, not %s", describe(n))
	}
	v.SetBool(b)
	return nil
}

// list sets the slice v from the sequence n; an empty list equals an unset
// one.
func (d *decoder) list(n *yaml.Node, v reflect.Value, key string) {
	t := v.Type()
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
		s = reflect.Zero(t)
	}
	v.Set(s)
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
