package bundle

import (
	"runtime"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{
		"tar.gz":   TarGz,
		".tar.gz":  TarGz,
		"tgz":      TarGz,
		".tgz":     TarGz,
		" TAR.GZ ": TarGz,
		"tar.zst":  TarZst,
		"tzst":     TarZst,
		".tar.zst": TarZst,
		"zip":      Zip,
		".zip":     Zip,
		"ZIP":      Zip,
	} {
		got, err := ParseFormat(in)
		if err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"rar", "", "tar", "gz", "7z", "tar.xz", "..zip", "zip.tar.gz"} {
		got, err := ParseFormat(in)
		if err == nil {
			t.Errorf("ParseFormat(%q) = %q, want an error", in, got)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, `"`+in+`"`) {
			t.Errorf("ParseFormat(%q) error %q does not quote the input", in, msg)
		}
		for _, f := range Formats {
			if !strings.Contains(msg, string(f)) {
				t.Errorf("ParseFormat(%q) error %q does not list %s", in, msg, f)
			}
		}
	}
}

func TestFormatExt(t *testing.T) {
	for _, f := range Formats {
		if got := f.Ext(); got != "."+string(f) {
			t.Errorf("%s.Ext() = %q", f, got)
		}
		back, err := ParseFormat(f.Ext())
		if err != nil || back != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f.Ext(), back, err)
		}
	}
	want := TarGz
	if runtime.GOOS == "windows" {
		want = Zip
	}
	if got := DefaultFormat(); got != want {
		t.Errorf("DefaultFormat() = %q, want %q", got, want)
	}
}

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"tar.gz", ".zip", "tgz", "rar", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFormat(s)
		if err != nil {
			if got != "" {
				t.Fatalf("ParseFormat(%q) = %q with error %v", s, got, err)
			}
			return
		}
		known := false
		for _, k := range Formats {
			known = known || got == k
		}
		if !known {
			t.Fatalf("ParseFormat(%q) = %q, not a supported format", s, got)
		}
	})
}
