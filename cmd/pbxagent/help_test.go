package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func allCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, s := range c.Commands() {
		out = append(out, allCommands(s)...)
	}
	return out
}

// TestOneDefaultPerFlag renders every command's flags as --help does and
// fails on a line with two defaults, e.g. "(default 200MiB) (default 0B)".
func TestOneDefaultPerFlag(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	root := a.rootCmd()
	for _, c := range allCommands(root) {
		for _, line := range strings.Split(c.LocalFlags().FlagUsages(), "\n") {
			if strings.Count(line, "(default") > 1 {
				t.Errorf("%s: %s", c.CommandPath(), strings.TrimSpace(line))
			}
		}
	}
	if u := root.Commands()[0].Root().PersistentFlags().FlagUsages(); !strings.Contains(u, `(default "/`) {
		t.Errorf("the --config default is gone: %s", u)
	}
}

func TestVersionFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, &out, &errb); code != 0 {
		t.Fatalf("--version: exit %d, %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "pbxagent ") || out.String() != versionLine()+"\n" {
		t.Errorf("--version printed %q, want %q", out.String(), versionLine())
	}
}

// TestNoManInShippedBuild keeps the man page generator (and the Markdown
// packages it links) out of the binary built without the genman tag: its
// package initialisers cost every `pbxagent run` memory at start-up.
func TestNoManInShippedBuild(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"man", t.TempDir()}, &out, &errb); code != exitUsage {
		t.Errorf("man without the genman tag: exit %d, want %d (unknown command); %s", code, exitUsage, errb.String())
	}
}
