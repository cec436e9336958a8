package bundle

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestSpool(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	s, err := NewSpool(dir, roomyGuard(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spoolFiles := func() []string {
		m, err := filepath.Glob(filepath.Join(dir, ".pbx-support-*.spool"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if runtime.GOOS == "linux" {
		if got := spoolFiles(); len(got) != 0 {
			t.Errorf("spool has a name in the folder while open: %v", got)
		}
	}

	var want bytes.Buffer
	for i, chunk := range [][]byte{[]byte("first line\n"), randomBytes(5, 1<<20), nil, []byte("last line\n")} {
		n, err := s.Write(chunk)
		if err != nil || n != len(chunk) {
			t.Fatalf("Write %d = %d, %v", i, n, err)
		}
		want.Write(chunk)
		if s.Size() != int64(want.Len()) {
			t.Fatalf("Size after write %d = %d, want %d", i, s.Size(), want.Len())
		}
	}
	got, err := io.ReadAll(s.Reader())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("Reader returned %d bytes, want %d identical bytes", len(got), want.Len())
	}
	// A reader taken earlier covers what was written until then, and
	// writing more does not disturb it.
	early := s.Reader()
	if _, err := s.Write([]byte("more\n")); err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(early)
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("earlier reader changed after a later write")
	}
	got, _ = io.ReadAll(s.Reader())
	if !bytes.HasSuffix(got, []byte("last line\nmore\n")) || len(got) != want.Len()+5 {
		t.Errorf("reader after the last write has %d bytes", len(got))
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := spoolFiles(); len(got) != 0 {
		t.Errorf("spool file left after Close: %v", got)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v, want os.ErrClosed", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("folder not empty after Close: %v", ents)
	}
}

// A spool's content goes into the archive as an ordinary entry.
func TestSpoolIntoBundle(t *testing.T) {
	dir := t.TempDir()
	pub, priv := newKeys(t)
	s, err := NewSpool(dir, roomyGuard(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	data := bytes.Repeat([]byte("INVITE sip:100@pbx SIP/2.0\n"), 4000)
	if _, err := s.Write(data); err != nil {
		t.Fatal(err)
	}
	w := createWriter(t, dir, TarZst)
	if err := w.Add(Entry{Path: "logs/callmanager.window.log", Size: s.Size(), Reader: s.Reader()}); err != nil {
		t.Fatal(err)
	}
	res, err := w.Close(newManifest(), priv)
	if err != nil {
		t.Fatal(err)
	}
	if got := entryMap(readArchive(t, res.Path, TarZst))["logs/callmanager.window.log"]; !bytes.Equal(got, data) {
		t.Errorf("window log in the archive has %d bytes, want %d", len(got), len(data))
	}
	if v := verify(t, res.Path, pub); !v.OK() {
		t.Errorf("Verify: %+v", v)
	}
}
