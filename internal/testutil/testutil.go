// Package testutil holds the one policy for tests that need something the
// machine may lack: root, a tool on PATH, Linux, a file installed by a
// package. On a developer's machine such a test is skipped with the reason;
// when the environment variable CI is set (scripts/test.sh sets it), it
// fails instead, so a CI run can never pass by skipping what it was meant
// to test.
package testutil

import (
	"os"
	"os/exec"
	"runtime"
)

// TB is the part of testing.TB the helpers use; *testing.T and *testing.B
// satisfy it.
type TB interface {
	Helper()
	Skip(args ...any)
	Fatal(args ...any)
}

// InCI reports whether the tests run under CI (the environment variable CI
// is set and not empty).
func InCI() bool { return os.Getenv("CI") != "" }

// Need skips the test with why when ok is false, or fails it under CI.
// why says what is missing and how to get it ("tcpdump is not installed
// (scripts/test.sh installs it)").
func Need(t TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatal("CI is set but " + why)
	}
	t.Skip(why)
}

// NeedRoot requires the test to run as root (Unix) or elevated; on
// Windows, where the check does not apply, it skips or fails likewise.
func NeedRoot(t TB) {
	t.Helper()
	Need(t, runtime.GOOS != "windows" && os.Geteuid() == 0, "this test needs root; run it as root (scripts/test.sh runs as root)")
}

// NeedLinux requires Linux.
func NeedLinux(t TB) {
	t.Helper()
	Need(t, runtime.GOOS == "linux", "this test needs Linux")
}

// NeedTool requires each named program on PATH and returns the path of the
// first one.
func NeedTool(t TB, names ...string) string {
	t.Helper()
	first := ""
	for _, name := range names {
		p, err := exec.LookPath(name)
		Need(t, err == nil, name+" is not installed (scripts/test.sh installs it)")
		if first == "" {
			first = p
		}
	}
	return first
}

// NeedFile requires the first of paths that exists and returns it; what
// says what the file is and which package installs it.
func NeedFile(t TB, what string, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	Need(t, false, what+" is not installed (scripts/test.sh installs it)")
	return ""
}
