package config

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Marshal returns the effective configuration as YAML: secrets masked, sizes
// and durations in their readable form, and the derived paths of settings
// left empty as comments. The output loads back with Load, except that a set
// secret reads back as Mask.
func Marshal(c *Config) ([]byte, error) {
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	flowScalarLists(&root)
	derived := map[string]string{
		"pbx.log_dir":        c.LogDir(),
		"bundle.output_dir":  c.OutputDir(),
		"signing.secret_key": c.SecretKeyPath(),
		"signing.public_key": c.PublicKeyPath(),
	}
	for key, eff := range derived {
		if n := lookup(&root, key); n != nil && n.Kind == yaml.ScalarNode && n.Value == "" {
			n.LineComment = "effective: " + eff
		}
	}
	root.HeadComment = "pbxagent effective configuration (secrets are masked)"
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// flowScalarLists writes lists of scalars on one line, e.g. [5060, 5061].
func flowScalarLists(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode {
		flow := true
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				flow = false
			}
		}
		if flow {
			n.Style |= yaml.FlowStyle
		}
	}
	for _, e := range n.Content {
		flowScalarLists(e)
	}
}

// lookup returns the value node of a dotted key in a mapping tree.
func lookup(n *yaml.Node, key string) *yaml.Node {
	for _, part := range strings.Split(key, ".") {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
