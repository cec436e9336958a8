package testutil

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// recorder is a TB that records what a helper did.
type recorder struct {
	skipped, failed string
}

func (r *recorder) Helper() {}

// Skip and Fatal end the calling goroutine in testing.T; here they panic
// with a sentinel the test recovers, so the helper stops as it would.
func (r *recorder) Skip(args ...any)  { r.skipped = fmt.Sprint(args...); panic(r) }
func (r *recorder) Fatal(args ...any) { r.failed = fmt.Sprint(args...); panic(r) }

func call(f func(TB)) (r *recorder) {
	r = &recorder{}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
	}()
	f(r)
	return r
}

func TestNeedSkipsLocallyAndFailsUnderCI(t *testing.T) {
	missing := func(tb TB) { NeedTool(tb, "pbxagent-no-such-tool-3f9a") }
	t.Setenv("CI", "")
	if r := call(missing); r.skipped == "" || r.failed != "" {
		t.Errorf("without CI: skipped %q failed %q; want a skip", r.skipped, r.failed)
	}
	t.Setenv("CI", "1")
	r := call(missing)
	if r.failed == "" || r.skipped != "" {
		t.Errorf("with CI: skipped %q failed %q; want a failure", r.skipped, r.failed)
	}
	if want := "pbxagent-no-such-tool-3f9a is not installed"; !strings.Contains(r.failed, want) {
		t.Errorf("failure %q does not say %q", r.failed, want)
	}
}

func TestNeedPassesWhenPresent(t *testing.T) {
	t.Setenv("CI", "1")
	sh := ""
	if r := call(func(tb TB) { sh = NeedTool(tb, "sh") }); r.failed != "" || r.skipped != "" || sh == "" {
		t.Skipf("no sh on PATH here: %q %q", r.failed, r.skipped)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	if r := call(func(tb TB) { got = NeedFile(tb, "test binary", "/nonexistent/x", self) }); r.failed != "" || got != self {
		t.Errorf("NeedFile = %q (failed %q), want %q", got, r.failed, self)
	}
}
