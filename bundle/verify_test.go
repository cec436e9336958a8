package bundle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var sampleFiles = map[string][]byte{
	"logs/callmanager.log": []byte(strings.Repeat("2026-11-27 10:15:00 INFO REGISTER 200 OK\n", 50)),
	"system/os.json":       []byte(`{"name":"os","state":"ok"}` + "\n"),
	"config/system.ini":    []byte("[db]\npassword=[REDACTED]\n"),
}

// tamper rewrites a tar.gz bundle through edit, the way someone would by
// hand with tar and gzip, and returns the new archive's path (the original
// signature is copied beside it).
func tamper(t *testing.T, archive string, edit func([]archiveEntry) []archiveEntry) string {
	t.Helper()
	entries := edit(readArchive(t, archive, TarGz))
	out := filepath.Join(filepath.Dir(archive), "tampered.tar.gz")
	writeTarGz(t, out, entries)
	sig, err := os.ReadFile(archive + ".minisig")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out+".minisig", sig, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyUntouchedRewrite(t *testing.T) {
	// Rewriting with other tools but the same content keeps every hash
	// (only the signature breaks), so the checks below fail for the
	// reason they name and not because of the rewrite itself.
	archive, pub := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
	out := tamper(t, archive, func(e []archiveEntry) []archiveEntry { return e })
	v := verify(t, out, pub)
	if len(v.Problems) != 0 || v.Files != len(sampleFiles) {
		t.Fatalf("rewritten bundle: files %d, problems %q", v.Files, v.Problems)
	}
	if v.SignatureOK || v.OK() {
		t.Errorf("a rewritten archive passed the signature check")
	}
}

func TestVerifyChangedFile(t *testing.T) {
	archive, pub := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
	const target = "config/system.ini"
	out := tamper(t, archive, func(entries []archiveEntry) []archiveEntry {
		for i := range entries {
			if entries[i].name == target {
				d := bytes.Clone(entries[i].data)
				copy(d[len(d)-11:], "hunter2!!!\n") // same size, other bytes
				entries[i].data = d
			}
		}
		return entries
	})
	v := verify(t, out, pub)
	if v.OK() || v.SignatureOK {
		t.Errorf("changed bundle verified: %+v", v)
	}
	if !hasProblem(v, target, "SHA-256") {
		t.Errorf("problems %q do not name %s and SHA-256", v.Problems, target)
	}
	if len(v.Problems) != 1 || v.Files != len(sampleFiles)-1 {
		t.Errorf("want exactly one problem and %d files checked; got %q, %d", len(sampleFiles)-1, v.Problems, v.Files)
	}
}

func TestVerifyResizedFile(t *testing.T) {
	archive, pub := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
	const target = "system/os.json"
	out := tamper(t, archive, func(entries []archiveEntry) []archiveEntry {
		for i := range entries {
			if entries[i].name == target {
				entries[i].data = append(bytes.Clone(entries[i].data), "extra\n"...)
			}
		}
		return entries
	})
	v := verify(t, out, pub)
	want := len(sampleFiles[target])
	if !hasProblem(v, target, fmt.Sprintf("size is %d bytes, manifest says %d", want+6, want)) {
		t.Errorf("problems %q do not report the size of %s", v.Problems, target)
	}
}

func TestVerifyMissingFile(t *testing.T) {
	archive, pub := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
	const target = "logs/callmanager.log"
	out := tamper(t, archive, func(entries []archiveEntry) []archiveEntry {
		var kept []archiveEntry
		for _, e := range entries {
			if e.name != target {
				kept = append(kept, e)
			}
		}
		return kept
	})
	v := verify(t, out, pub)
	if !hasProblem(v, target, "missing from the archive") {
		t.Errorf("problems %q do not report %s missing", v.Problems, target)
	}
	if len(v.Problems) != 1 {
		t.Errorf("problems = %q, want one", v.Problems)
	}
}

func TestVerifyExtraFile(t *testing.T) {
	archive, pub := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
	out := tamper(t, archive, func(entries []archiveEntry) []archiveEntry {
		return append(entries, archiveEntry{"logs/planted.log", []byte("not from the agent\n")})
	})
	v := verify(t, out, pub)
	if !hasProblem(v, "logs/planted.log", "not listed in the manifest") {
		t.Errorf("problems %q do not report the added file", v.Problems)
	}
	if len(v.Problems) != 1 || v.Files != len(sampleFiles) {
		t.Errorf("problems = %q, files %d", v.Problems, v.Files)
	}
}

func TestVerifyDuplicateEntry(t *testing.T) {
	archive, pub := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
	out := tamper(t, archive, func(entries []archiveEntry) []archiveEntry {
		// A second copy of a listed file, with other content, after the
		// first: a reader extracting the archive would get this one.
		return append([]archiveEntry{{"system/os.json", []byte("{}\n")}}, entries...)
	})
	v := verify(t, out, pub)
	if !hasProblem(v, "system/os.json", "more than once") {
		t.Errorf("problems %q do not report the duplicate", v.Problems)
	}
}

func TestVerifyMissingOrBadManifest(t *testing.T) {
	archive, pub := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
	out := tamper(t, archive, func(entries []archiveEntry) []archiveEntry {
		return entries[:len(entries)-1]
	})
	v := verify(t, out, pub)
	if !hasProblem(v, "manifest.json is missing") {
		t.Errorf("problems = %q", v.Problems)
	}
	out = tamper(t, archive, func(entries []archiveEntry) []archiveEntry {
		entries[len(entries)-1].data = []byte("{not json")
		return entries
	})
	v = verify(t, out, pub)
	if !hasProblem(v, "manifest.json is not valid JSON") {
		t.Errorf("problems = %q", v.Problems)
	}
}

func TestVerifyMissingSignature(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			archive, pub := smallBundle(t, t.TempDir(), f, sampleFiles)
			if err := os.Remove(archive + ".minisig"); err != nil {
				t.Fatal(err)
			}
			v := verify(t, archive, pub)
			if v.SignatureOK || v.OK() {
				t.Fatal("bundle without signature verified")
			}
			if !strings.Contains(v.SignatureError, archive+".minisig") {
				t.Errorf("SignatureError %q does not name %s.minisig", v.SignatureError, archive)
			}
			// The contents are still checked.
			if len(v.Problems) != 0 || v.Files != len(sampleFiles) || v.Manifest == nil || v.Manifest.Host != "pbx-test" {
				t.Errorf("contents: problems %q files %d", v.Problems, v.Files)
			}
		})
	}
}

func TestVerifyWrongKey(t *testing.T) {
	archive, _ := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
	other, _ := newKeys(t)
	v := verify(t, archive, other)
	if v.SignatureOK || v.OK() {
		t.Fatal("bundle verified with another host's key")
	}
	if !strings.Contains(v.SignatureError, "key") || !strings.Contains(v.SignatureError, other.IDString()) {
		t.Errorf("SignatureError %q does not mention the key %s", v.SignatureError, other.IDString())
	}
	if len(v.Problems) != 0 {
		t.Errorf("problems = %q", v.Problems)
	}
}

func TestVerifyCorruptSignature(t *testing.T) {
	archive, pub := smallBundle(t, t.TempDir(), Zip, sampleFiles)
	if err := os.WriteFile(archive+".minisig", []byte("untrusted comment: x\nnot base64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v := verify(t, archive, pub)
	if v.SignatureOK || v.SignatureError == "" {
		t.Errorf("corrupt signature: ok=%v err=%q", v.SignatureOK, v.SignatureError)
	}
}

func TestVerifyAppendedBytes(t *testing.T) {
	archive, pub := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
	f, err := os.OpenFile(archive, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("trailing garbage"))
	f.Close()
	v := verify(t, archive, pub)
	if v.SignatureOK || v.OK() {
		t.Errorf("archive with appended bytes verified")
	}
}

func TestVerifyNotAnArchive(t *testing.T) {
	dir := t.TempDir()
	pub, _ := newKeys(t)
	for name, data := range map[string][]byte{
		"notes.txt":    []byte("just some text, not an archive\n"),
		"x.tar.gz":     []byte("just some text, not an archive\n"),
		"x.zip":        []byte("PK\x03\x04 but not really"),
		"x.tar.zst":    randomBytes(7, 1000),
		"empty.tar.gz": nil,
		"truncated.tar.gz": func() []byte {
			archive, _ := smallBundle(t, t.TempDir(), TarGz, sampleFiles)
			b, _ := os.ReadFile(archive)
			return b[:len(b)/2]
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			v, err := Verify(context.Background(), p, p+".minisig", pub)
			if err != nil {
				return // refusing to read it is fine too
			}
			if len(v.Problems) == 0 || v.OK() {
				t.Errorf("Verify(%s) found no problem: %+v", name, v)
			}
		})
	}
}

func TestVerifyNoSuchArchive(t *testing.T) {
	pub, _ := newKeys(t)
	p := filepath.Join(t.TempDir(), "gone.tar.gz")
	if _, err := Verify(context.Background(), p, p+".minisig", pub); err == nil {
		t.Error("Verify of a missing archive returned no error")
	}
}
