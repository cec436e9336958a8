//go:build genman

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

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
