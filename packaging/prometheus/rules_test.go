// Package prometheus holds the Prometheus alert rules shipped with
// pbxagent; this test runs promtool over them.
package prometheus

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

// TestRules checks the shipped rules with promtool and runs their unit
// tests (pbxagent-rules.test.yml).
func TestRules(t *testing.T) {
	promtool := testutil.NeedTool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "pbxagent-rules.yml"}, {"test", "rules", "pbxagent-rules.test.yml"}} {
		var out bytes.Buffer
		cmd := exec.Command(promtool, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out.String())
		}
	}
}
