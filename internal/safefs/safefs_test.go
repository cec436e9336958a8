package safefs

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"
)

func TestTypeReason(t *testing.T) {
	cases := []struct {
		mode fs.FileMode
		want string
	}{
		{0o644, ""},
		{fs.ModeSymlink | 0o777, ReasonSymlink},
		{fs.ModeNamedPipe | 0o644, ReasonFIFO},
		{fs.ModeDevice | fs.ModeCharDevice | 0o666, ReasonDevice},
		{fs.ModeDevice | 0o660, ReasonDevice},
		{fs.ModeSocket | 0o777, ReasonSocket},
		{fs.ModeDir | 0o755, ReasonDirectory},
		{fs.ModeIrregular, "not a regular file"},
	}
	for _, c := range cases {
		if got := TypeReason(c.mode); got != c.want {
			t.Errorf("TypeReason(%v) = %q, want %q", c.mode, got, c.want)
		}
	}
}

func TestChanged(t *testing.T) {
	now := time.Now()
	a := Info{Size: 10, ModTime: now}
	if changed(a, a, 10) {
		t.Error("an unchanged file was reported changed")
	}
	for _, c := range []struct {
		after Info
		read  int64
	}{
		{Info{Size: 11, ModTime: now}, 10},
		{Info{Size: 10, ModTime: now.Add(time.Nanosecond)}, 10},
		{Info{Size: 10, ModTime: now}, 9},
	} {
		if !changed(a, c.after, c.read) {
			t.Errorf("change %+v read %d not detected", c.after, c.read)
		}
	}
}

func TestCleanRel(t *testing.T) {
	ok := []string{"a", "callmanager.log", "sub/x.gz", "a/b/c"}
	bad := []string{"", "/etc/shadow", "..", "../x", "a/../b", "a//b", "./a", "a/.", "a/", `a\b`, "a\x00b", "C:", "c:/x"}
	for _, p := range ok {
		if _, err := cleanRel(p); err != nil {
			t.Errorf("cleanRel(%q): %v", p, err)
		}
	}
	for _, p := range bad {
		if _, err := cleanRel(p); err == nil {
			t.Errorf("cleanRel(%q) accepted", p)
		}
	}
}

// FuzzCleanRel: whatever is accepted stays inside the folder once joined.
func FuzzCleanRel(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "/x", "a/../../b", "..\\x", "x/./y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		parts, err := cleanRel(rel)
		if err != nil {
			return
		}
		joined := path.Join("/base", rel)
		if !strings.HasPrefix(joined, "/base/") {
			t.Fatalf("%q accepted but leaves the folder: %s", rel, joined)
		}
		for _, p := range parts {
			if p == "" || p == "." || p == ".." || strings.ContainsAny(p, "/\\\x00") {
				t.Fatalf("%q accepted with component %q", rel, p)
			}
		}
	})
}

func TestWinReason(t *testing.T) {
	cases := []struct {
		attrs, ft uint32
		dir       bool
		want      string
	}{
		{0x20, winFileTypeDisk, false, ""}, // FILE_ATTRIBUTE_ARCHIVE
		{0x80, winFileTypeDisk, false, ""}, // FILE_ATTRIBUTE_NORMAL
		{winAttrReparsePoint, winFileTypeDisk, false, ReasonSymlink},
		{winAttrReparsePoint | winAttrDirectory, winFileTypeDisk, true, ReasonSymlink}, // junction
		{0, winFileTypePipe, false, ReasonFIFO},
		{0, winFileTypeChar, false, ReasonDevice},
		{winAttrDevice, winFileTypeDisk, false, ReasonDevice},
		{0, 0, false, ReasonDevice}, // FILE_TYPE_UNKNOWN
		{winAttrDirectory, winFileTypeDisk, false, ReasonDirectory},
		{winAttrDirectory, winFileTypeDisk, true, ""},
		{0x20, winFileTypeDisk, true, ReasonNotDir},
	}
	for _, c := range cases {
		if got := winReason(c.attrs, c.ft, c.dir); got != c.want {
			t.Errorf("winReason(%#x, %d, %v) = %q, want %q", c.attrs, c.ft, c.dir, got, c.want)
		}
	}
}

func TestWinBeneath(t *testing.T) {
	dir := `\\?\C:\ProgramData\PortSIP\pbx\log`
	cases := []struct {
		final string
		want  bool
	}{
		{`\\?\C:\ProgramData\PortSIP\pbx\log\callmanager.log`, true},
		{`\\?\c:\programdata\portsip\PBX\LOG\sub\x.gz`, true},
		{`\\?\C:\ProgramData\PortSIP\pbx\log`, false},
		{`\\?\C:\ProgramData\PortSIP\pbx\logs\x`, false},
		{`\\?\C:\Windows\System32\config\SAM`, false},
		{`\\?\C:\ProgramData\PortSIP\pbx\log\..\..\x`, false},
	}
	for _, c := range cases {
		if got := winBeneath(dir, c.final); got != c.want {
			t.Errorf("winBeneath(%q) = %v, want %v", c.final, got, c.want)
		}
	}
	if winBeneath("", `C:\x`) {
		t.Error("an empty folder path contains everything")
	}
}

func TestNotes(t *testing.T) {
	if n := notes("/d", Info{Mode: fs.ModeDir | 0o755, UID: 0}, -1); len(n) != 0 {
		t.Errorf("root-owned 0755 folder noted: %v", n)
	}
	if n := notes("/d", Info{Mode: fs.ModeDir | 0o750, UID: 998}, 998); len(n) != 0 {
		t.Errorf("PBX-user folder noted: %v", n)
	}
	if n := notes("/d", Info{Mode: fs.ModeDir | 0o777, UID: 0}, -1); len(n) != 1 || !strings.Contains(n[0], "world-writable") {
		t.Errorf("world-writable folder: %v", n)
	}
	if n := notes("/d", Info{Mode: fs.ModeDir | 0o755, UID: 1234}, 998); len(n) != 1 || !strings.Contains(n[0], "uid 1234") {
		t.Errorf("foreign owner: %v", n)
	}
}

func TestRefusal(t *testing.T) {
	err := refuse("/x", ReasonFIFO, "")
	if r, ok := Refusal(errors.Join(errors.New("ctx"), err)); !ok || r != ReasonFIFO {
		t.Errorf("Refusal = %q, %v", r, ok)
	}
	if _, ok := Refusal(errors.New("plain")); ok {
		t.Error("a plain error is a refusal")
	}
}
