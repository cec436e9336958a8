package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriterRoundTrip(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "out") // created by Create
			pub, priv := newKeys(t)
			w := createWriter(t, dir, f)

			big := logText(1, 3<<20)
			files := []struct {
				path string
				data []byte
			}{
				{"logs/callmanager.log", []byte(strings.Repeat("INFO call setup ok\n", 500))},
				{"logs/empty.log", nil},
				{"logs/big.bin", big},
				{"system/summary.txt", []byte("host ok\n")},
				{"logs/archive/old.log.gz", randomBytes(2, 4096)},
			}
			mtime := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
			red := 3
			for i, fl := range files {
				e := Entry{Path: fl.path, Collector: "test", Source: "/src/" + fl.path, Size: int64(len(fl.data)),
					ModTime: mtime, Reader: bytes.NewReader(fl.data), TruncatedBytes: int64(i)}
				if i == 0 {
					e.Redactions = &red
				}
				if err := w.Add(e); err != nil {
					t.Fatalf("Add(%s): %v", fl.path, err)
				}
			}
			w.Missing("logs/gone.log", "logs", "gone.log does not exist")
			w.Warn("a note for the reader")
			if len(partials(t, dir)) != 1 {
				t.Fatalf("want one temporary file while writing, have %v", partials(t, dir))
			}
			if filepath.Dir(w.TempPath()) != dir || !strings.HasSuffix(w.TempPath(), ".partial") {
				t.Fatalf("TempPath = %q", w.TempPath())
			}

			m := newManifest()
			res, err := w.Close(m, priv)
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			if res.Path != filepath.Join(dir, bundleName(f)) {
				t.Errorf("Path = %q, want %q", res.Path, filepath.Join(dir, bundleName(f)))
			}
			if res.SignaturePath != res.Path+".minisig" {
				t.Errorf("SignaturePath = %q", res.SignaturePath)
			}
			if res.Files != len(files) || res.Missing != 1 {
				t.Errorf("Files, Missing = %d, %d; want %d, 1", res.Files, res.Missing, len(files))
			}
			if got := partials(t, dir); len(got) != 0 {
				t.Errorf("temporary files left after Close: %v", got)
			}
			if w.TempPath() != "" {
				t.Errorf("TempPath after Close = %q, want empty", w.TempPath())
			}
			for _, p := range []string{res.Path, res.SignaturePath} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
				}
			}
			raw, err := os.ReadFile(res.Path)
			if err != nil {
				t.Fatal(err)
			}
			if res.Size != int64(len(raw)) || res.SHA256 != sha(raw) {
				t.Errorf("Result says %d bytes sha %s; file is %d bytes sha %s", res.Size, res.SHA256, len(raw), sha(raw))
			}
			if w.Written() != int64(len(raw)) {
				t.Errorf("Written() = %d, file is %d bytes", w.Written(), len(raw))
			}

			v := verify(t, res.Path, pub)
			if !v.OK() || v.Files != len(files) {
				t.Fatalf("Verify: ok=%v files=%d sigerr=%q problems=%q", v.OK(), v.Files, v.SignatureError, v.Problems)
			}
			if !strings.Contains(v.TrustedComment, "file:"+filepath.Base(res.Path)) ||
				!strings.Contains(v.TrustedComment, "sha256:"+res.SHA256) ||
				!strings.Contains(v.TrustedComment, "host:pbx-test") {
				t.Errorf("trusted comment %q does not name the file, host and hash", v.TrustedComment)
			}
			if v.KeyID != pub.IDString() {
				t.Errorf("KeyID = %q, want %q", v.KeyID, pub.IDString())
			}

			// Stock readers see every file, in the order added, with the
			// manifest last.
			entries := readArchive(t, res.Path, f)
			if len(entries) != len(files)+1 {
				t.Fatalf("archive has %d entries, want %d", len(entries), len(files)+1)
			}
			for i, fl := range files {
				if entries[i].name != fl.path {
					t.Errorf("entry %d is %q, want %q", i, entries[i].name, fl.path)
				}
				if !bytes.Equal(entries[i].data, fl.data) {
					t.Errorf("%s: content differs (%d bytes, want %d)", fl.path, len(entries[i].data), len(fl.data))
				}
			}
			last := entries[len(entries)-1]
			if last.name != ManifestName {
				t.Fatalf("last entry is %q, want %s", last.name, ManifestName)
			}
			var got Manifest
			if err := json.Unmarshal(last.data, &got); err != nil {
				t.Fatalf("manifest: %v", err)
			}
			if got.Version != ManifestVersion || got.Host != "pbx-test" || len(got.Files) != len(files) {
				t.Fatalf("manifest header: version %d host %q files %d", got.Version, got.Host, len(got.Files))
			}
			for i, fe := range got.Files {
				want := files[i]
				if fe.Path != want.path || fe.Size != int64(len(want.data)) || fe.SHA256 != sha(want.data) {
					t.Errorf("manifest file %d = %s %d %s; want %s %d %s", i, fe.Path, fe.Size, fe.SHA256, want.path, len(want.data), sha(want.data))
				}
				if fe.SHA256 != sha(entries[i].data) {
					t.Errorf("%s: manifest hash does not match the archived bytes", fe.Path)
				}
				if fe.Collector != "test" || fe.Source != "/src/"+want.path || fe.TruncatedBytes != int64(i) || !fe.ModTime.Equal(mtime) || fe.Error != "" {
					t.Errorf("manifest file %d metadata: %+v", i, fe)
				}
			}
			if got.Files[0].Redactions == nil || *got.Files[0].Redactions != red || got.Files[1].Redactions != nil {
				t.Errorf("redactions not recorded as given")
			}
			if len(got.Missing) != 1 || got.Missing[0].Path != "logs/gone.log" || got.Missing[0].Reason != "gone.log does not exist" {
				t.Errorf("missing = %+v", got.Missing)
			}
			if !contains(got.Warnings, "a note for the reader") {
				t.Errorf("warnings = %q", got.Warnings)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestWriterEmptyBundle(t *testing.T) {
	dir := t.TempDir()
	pub, priv := newKeys(t)
	w := createWriter(t, dir, TarGz)
	res, err := w.Close(newManifest(), priv)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 0 {
		t.Errorf("Files = %d", res.Files)
	}
	entries := readArchive(t, res.Path, TarGz)
	if len(entries) != 1 || entries[0].name != ManifestName {
		t.Fatalf("entries = %v", entries)
	}
	// "files": [] rather than null, so readers need no special case.
	if !bytes.Contains(entries[0].data, []byte(`"files": []`)) {
		t.Errorf("manifest of an empty bundle lacks an empty files list:\n%s", entries[0].data)
	}
	if v := verify(t, res.Path, pub); !v.OK() || v.Files != 0 {
		t.Errorf("Verify: %+v", v)
	}
}

// shortReader yields n bytes of b and then fails with err.
type shortReader struct {
	b   []byte
	err error
}

func (r *shortReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestWriterShortSourceIsZeroFilled(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			pub, priv := newKeys(t)
			w := createWriter(t, dir, f)
			head := []byte("first line\nsecond li")
			const size = 100000
			ioErr := errors.New("input/output error")
			cases := []struct {
				path   string
				r      io.Reader
				given  string
				wantIn string
			}{
				{"logs/eof.log", bytes.NewReader(head), "", fmt.Sprintf("after %d of %d bytes", len(head), size)},
				{"logs/ioerr.log", &shortReader{b: head, err: ioErr}, "", "input/output error"},
				{"logs/nil.log", nil, "", "after 0 of 100000 bytes"},
				{"logs/noted.log", bytes.NewReader(head), "file shrank", "file shrank; source ended"},
			}
			for _, c := range cases {
				if err := w.Add(Entry{Path: c.path, Collector: "logs", Size: size, Reader: c.r, Error: c.given}); err != nil {
					t.Fatalf("Add(%s): %v", c.path, err)
				}
			}
			if err := w.AddBytes("after.txt", "test", []byte("still fine")); err != nil {
				t.Fatalf("Add after a short entry: %v", err)
			}
			res, err := w.Close(newManifest(), priv)
			if err != nil {
				t.Fatal(err)
			}
			if v := verify(t, res.Path, pub); !v.OK() || v.Files != len(cases)+1 {
				t.Fatalf("Verify: sigerr=%q problems=%q files=%d", v.SignatureError, v.Problems, v.Files)
			}
			archived := entryMap(readArchive(t, res.Path, f))
			for i, c := range cases {
				data := archived[c.path]
				if len(data) != size {
					t.Fatalf("%s: %d bytes in the archive, want %d", c.path, len(data), size)
				}
				prefix := head
				if c.r == nil {
					prefix = nil
				}
				if !bytes.Equal(data[:len(prefix)], prefix) {
					t.Errorf("%s: archived data does not begin with the source bytes", c.path)
				}
				if bytes.IndexFunc(data[len(prefix):], func(r rune) bool { return r != 0 }) >= 0 {
					t.Errorf("%s: the rest after the source is not zero-filled", c.path)
				}
				fe := res.Manifest.Files[i]
				if fe.Path != c.path || fe.Size != size || fe.SHA256 != sha(data) {
					t.Errorf("%s: manifest %s %d %s does not describe the archived bytes (sha %s)", c.path, fe.Path, fe.Size, fe.SHA256, sha(data))
				}
				if !strings.Contains(fe.Error, c.wantIn) || !strings.Contains(fe.Error, "zero-filled") {
					t.Errorf("%s: Error = %q, want it to contain %q and say zero-filled", c.path, fe.Error, c.wantIn)
				}
			}
			if e := res.Manifest.Files[len(cases)].Error; e != "" {
				t.Errorf("complete entry has Error %q", e)
			}
		})
	}
}

func TestWriterRejectsBadPaths(t *testing.T) {
	w := createWriter(t, t.TempDir(), TarGz)
	for _, p := range []string{
		"",
		"/etc/passwd",
		"logs//x.log",
		"logs/./x.log",
		"logs/x.log/",
		"./x.log",
		"logs/../x.log",
		ManifestName,
		// Outside the folder the archive is extracted into.
		"..",
		"../x.log",
		"../../etc/cron.d/x",
		".",
	} {
		err := w.AddBytes(p, "test", []byte("x"))
		if err == nil {
			t.Errorf("AddBytes(%q) succeeded, want an invalid path error", p)
			continue
		}
		if !strings.Contains(err.Error(), "invalid archive path") {
			t.Errorf("AddBytes(%q) = %v, want an invalid path error", p, err)
		}
	}
}

func TestWriterRejectsDuplicates(t *testing.T) {
	dir := t.TempDir()
	pub, priv := newKeys(t)
	w := createWriter(t, dir, Zip)
	if err := w.AddBytes("logs/a.log", "test", []byte("first")); err != nil {
		t.Fatal(err)
	}
	err := w.AddBytes("logs/a.log", "test", []byte("second"))
	if err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate Add = %v, want a duplicate path error", err)
	}
	// A rejected path is not fatal for the archive.
	if err := w.AddBytes("logs/b.log", "test", []byte("b")); err != nil {
		t.Fatalf("Add after a rejected duplicate: %v", err)
	}
	res, err := w.Close(newManifest(), priv)
	if err != nil {
		t.Fatal(err)
	}
	got := entryMap(readArchive(t, res.Path, Zip))
	if string(got["logs/a.log"]) != "first" || len(got) != 3 {
		t.Errorf("archive = %v", got)
	}
	if v := verify(t, res.Path, pub); !v.OK() || v.Files != 2 {
		t.Errorf("Verify: %+v", v)
	}
}

func TestWriterAddAfterClose(t *testing.T) {
	dir := t.TempDir()
	w := createWriter(t, dir, TarGz)
	res, err := w.Close(newManifest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.SignaturePath != "" {
		t.Errorf("unsigned bundle has SignaturePath %q", res.SignaturePath)
	}
	if _, err := os.Stat(res.Path + ".minisig"); !os.IsNotExist(err) {
		t.Errorf("unsigned bundle has a signature file: %v", err)
	}
	if err := w.AddBytes("late.txt", "test", []byte("late")); err == nil {
		t.Fatal("Add after Close succeeded")
	}
	w.Abort() // after Close: must keep the finished archive
	if _, err := os.Stat(res.Path); err != nil {
		t.Fatalf("Abort after Close removed the bundle: %v", err)
	}
}

func TestWriterAbort(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			w := createWriter(t, dir, f)
			if err := w.AddBytes("a.txt", "test", randomBytes(3, 256<<10)); err != nil {
				t.Fatal(err)
			}
			tmp := w.TempPath()
			if _, err := os.Stat(tmp); err != nil {
				t.Fatalf("temporary file missing before Abort: %v", err)
			}
			w.Abort()
			w.Abort()
			if _, err := os.Stat(tmp); !os.IsNotExist(err) {
				t.Fatalf("temporary file %s still there after Abort: %v", tmp, err)
			}
			if err := w.AddBytes("b.txt", "test", []byte("b")); err == nil {
				t.Error("Add after Abort succeeded")
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 0 {
				t.Errorf("folder not empty after Abort: %v", ents)
			}
		})
	}
}

// Close must fail cleanly, not panic, on a writer that was aborted, and a
// second Close must not panic either. A panic inside Close leaves the
// writer's lock held, so these writers get no Abort afterwards.
func TestWriterCloseAfterAbort(t *testing.T) {
	// Whether Close panics depends on which select case wins; twenty
	// tries make a miss unlikely.
	var panics []string
	for i := 0; i < 20; i++ {
		dir := t.TempDir()
		w, err := Create(Options{Dir: dir, Name: bundleName(Zip), Format: Zip, Guard: roomyGuard(dir)})
		if err != nil {
			t.Fatal(err)
		}
		w.Abort()
		res, err := closeNoPanic(w)
		switch {
		case err != nil && strings.Contains(err.Error(), "panicked"):
			panics = append(panics, err.Error())
		case err == nil:
			t.Fatalf("Close after Abort succeeded: %+v", res)
		}
		if got := partials(t, dir); len(got) != 0 {
			t.Fatalf("temporary files left: %v", got)
		}
	}
	if len(panics) > 0 {
		t.Fatalf("Close after Abort panicked %d of 20 times: %s", len(panics), panics[0])
	}
}

func TestWriterCloseTwice(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(Options{Dir: dir, Name: bundleName(TarGz), Format: TarGz, Guard: roomyGuard(dir)})
	if err != nil {
		t.Fatal(err)
	}
	first, err := w.Close(newManifest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := closeNoPanic(w); err == nil || strings.Contains(err.Error(), "panicked") {
		t.Errorf("second Close = %v, want an error", err)
	}
	if _, err := os.Stat(first.Path); err != nil {
		t.Errorf("second Close removed the finished bundle: %v", err)
	}
}

func closeNoPanic(w *Writer) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Close panicked: %v", r)
			res = nil
		}
	}()
	return w.Close(newManifest(), nil)
}

// slowReader delivers one byte per read, sleeping before each.
type slowReader struct {
	delay   time.Duration
	started chan struct{}
	once    sync.Once
}

func (r *slowReader) Read(p []byte) (int, error) {
	r.once.Do(func() { close(r.started) })
	time.Sleep(r.delay)
	p[0] = 'x'
	return 1, nil
}

func TestWriterAbortDuringSlowAdd(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			w := createWriter(t, dir, f)
			tmp := w.TempPath()
			sr := &slowReader{delay: 10 * time.Millisecond, started: make(chan struct{})}
			added := make(chan error, 1)
			go func() {
				// 1 MiB at one byte per 10 ms would take hours.
				added <- w.Add(Entry{Path: "slow.log", Size: 1 << 20, Reader: sr})
			}()
			select {
			case <-sr.started:
			case <-time.After(5 * time.Second):
				t.Fatal("the archive never read the entry")
			}
			time.Sleep(30 * time.Millisecond)
			start := time.Now()
			w.Abort()
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Abort took %v during a slow Add", d)
			}
			select {
			case err := <-added:
				if err == nil {
					t.Error("the interrupted Add reported success")
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Add did not return after Abort")
			}
			if _, err := os.Stat(tmp); !os.IsNotExist(err) {
				t.Errorf("temporary file still there: %v", err)
			}
		})
	}
}

func TestWriterDoesNotReplaceExistingBundle(t *testing.T) {
	dir := t.TempDir()
	pub, priv := newKeys(t)
	existing := filepath.Join(dir, bundleName(TarGz))
	if err := os.WriteFile(existing, []byte("older bundle"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := createWriter(t, dir, TarGz)
	if err := w.AddBytes("a.txt", "test", []byte("a")); err != nil {
		t.Fatal(err)
	}
	res, err := w.Close(newManifest(), priv)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "pbx-support-test-1.tar.gz")
	if res.Path != want || res.SignaturePath != want+".minisig" {
		t.Errorf("Path, SignaturePath = %q, %q; want %q", res.Path, res.SignaturePath, want)
	}
	if b, _ := os.ReadFile(existing); string(b) != "older bundle" {
		t.Errorf("existing bundle was replaced")
	}
	if v := verify(t, res.Path, pub); !v.OK() {
		t.Errorf("Verify: %+v", v)
	}
}

// A final name that does not end in the format's extension must give an
// error, not a panic that leaves the temporary file behind.
func TestWriterNameWithoutExtension(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(Options{Dir: dir, Name: "b", Format: TarGz, Guard: roomyGuard(dir)})
	if err != nil {
		return // rejected up front: fine
	}
	defer w.Abort()
	var perr any
	func() {
		defer func() { perr = recover() }()
		_, err = w.Close(newManifest(), nil)
	}()
	if perr != nil {
		t.Fatalf("Close with Name %q and format %s panicked: %v (temporary files: %v)", "b", TarGz, perr, partials(t, dir))
	}
}

func TestWriterRequiresGuard(t *testing.T) {
	if _, err := Create(Options{Dir: t.TempDir(), Name: "x.zip", Format: Zip}); err == nil {
		t.Fatal("Create without a guard succeeded")
	}
}

func TestWriterConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	pub, priv := newKeys(t)
	w := createWriter(t, dir, TarGz)
	var wg sync.WaitGroup
	const n = 16
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fmt.Sprintf("system/check-%02d.json", i)
			if err := w.AddBytes(p, "test", logText(uint64(i), 64<<10)); err != nil {
				t.Errorf("AddBytes(%s): %v", p, err)
			}
			w.Missing(p+".missing", "test", "none")
			w.Warn(p)
		}()
	}
	wg.Wait()
	res, err := w.Close(newManifest(), priv)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != n || res.Missing != n || len(res.Warnings) != n {
		t.Errorf("files, missing, warnings = %d, %d, %d; want %d each", res.Files, res.Missing, len(res.Warnings), n)
	}
	if v := verify(t, res.Path, pub); !v.OK() || v.Files != n {
		t.Errorf("Verify: %+v", v)
	}
}

// Written is read by the progress display while compression runs in the
// background; it must not race with the compressor's writes (run with
// -race to check).
func TestWriterWrittenDuringCompression(t *testing.T) {
	for _, f := range []Format{TarGz, TarZst} {
		t.Run(string(f), func(t *testing.T) {
			w := createWriter(t, t.TempDir(), f)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for ctx.Err() == nil {
					_ = w.Written()
					time.Sleep(50 * time.Microsecond)
				}
			}()
			for i := 0; i < 3; i++ {
				if err := w.AddBytes(fmt.Sprintf("f%d", i), "test", randomBytes(uint64(10+i), 1<<20)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Close(newManifest(), nil); err != nil {
				t.Fatal(err)
			}
			cancel()
			<-done
		})
	}
}
