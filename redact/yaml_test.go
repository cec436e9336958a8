package redact

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestYAMLEveryStyle writes a secret value in every style a YAML encoder
// knows (plain, single- and double-quoted, literal, folded, flow), at
// several depths and with values that force line breaks, and checks that
// the redacted text still parses and holds no part of the secret.
func TestYAMLEveryStyle(t *testing.T) {
	styles := map[string]yaml.Style{
		"plain": 0, "single": yaml.SingleQuotedStyle, "double": yaml.DoubleQuotedStyle,
		"literal": yaml.LiteralStyle, "folded": yaml.FoldedStyle,
	}
	values := []string{
		"hunter2-Plain",
		"two words: with colon # and hash",
		"line one\nline two\nline three",
		strings.Repeat("long-secret-word ", 12),
		"'quoted' \"both\" \\back",
	}
	for sname, style := range styles {
		for vi, v := range values {
			for _, flow := range []bool{false, true} {
				doc := secretDoc(v, style, flow)
				out, err := yaml.Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("%s/%d/flow=%v", sname, vi, flow)
				red, n := New().String(string(out))
				for _, part := range strings.Fields(v) {
					if len(part) >= 4 && strings.Contains(red, part) {
						t.Errorf("%s: %q left in\n%s\nfrom\n%s", name, part, red, out)
					}
				}
				if n == 0 {
					t.Errorf("%s: nothing counted\n%s", name, out)
				}
				var back any
				if err := yaml.Unmarshal([]byte(red), &back); err != nil {
					t.Errorf("%s: redacted YAML does not parse: %v\n%s", name, err, red)
				}
				if !strings.Contains(red, "user: admin") && !strings.Contains(red, "user: admin,") {
					t.Errorf("%s: harmless key lost\n%s", name, red)
				}
			}
		}
	}
}

// secretDoc builds api: {user: admin, password: <v in style>} under a
// list item, as a block or a flow mapping.
func secretDoc(v string, style yaml.Style, flow bool) *yaml.Node {
	str := func(s string, st yaml.Style) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: st}
	}
	api := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		str("user", 0), str("admin", 0), str("password", 0), str(v, style),
	}}
	if flow {
		api.Style = yaml.FlowStyle
	}
	return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		str("servers", 0), {Kind: yaml.SequenceNode, Content: []*yaml.Node{
			{Kind: yaml.MappingNode, Content: []*yaml.Node{str("name", 0), str("main", 0), str("api", 0), api}},
		}},
	}}
}
