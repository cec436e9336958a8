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

	"go.yaml.in/yaml/v3"
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
