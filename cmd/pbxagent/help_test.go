package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// TestManPages generates the man pages and checks that every visible
// command has one naming each of its flags.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"man", dir}, &out, &errb); code != 0 {
		t.Fatalf("man: exit %d, %s", code, errb.String())
	}
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	for _, c := range allCommands(a.rootCmd()) {
		if c.Hidden || !c.IsAvailableCommand() && c.HasParent() {
			continue
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		page, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("no man page for %q: %v", c.CommandPath(), err)
			continue
		}
		c.NonInheritedFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			if !bytes.Contains(page, []byte(`\fB--`+f.Name+`\fP`)) {
				t.Errorf("%s: flag --%s missing", name, f.Name)
			}
		})
	}
	root, err := os.ReadFile(filepath.Join(dir, "pbxagent.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pbxagent-analyze(1)", "pbxagent-bundle(1)", "pbxagent-status(1)", "/etc/pbxagent/pbxagent.yaml"} {
		if !bytes.Contains(root, []byte(want)) {
			t.Errorf("pbxagent.1 lacks %q", want)
		}
	}
}
