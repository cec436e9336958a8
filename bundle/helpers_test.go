package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/pbxagent/pbxagent/minisign"
)

const (
	gib = int64(1) << 30
	mib = int64(1) << 20
)

// fakeDisk is a filesystem whose free space the test controls. It is read
// from the compressor's goroutines, hence the atomics.
type fakeDisk struct {
	free  atomic.Int64
	total int64
	calls atomic.Int64
}

func newFakeDisk(free, total int64) *fakeDisk {
	d := &fakeDisk{total: total}
	d.free.Store(free)
	return d
}

func (d *fakeDisk) usage(string) (int64, int64, error) {
	d.calls.Add(1)
	return d.free.Load(), d.total, nil
}

// roomyGuard returns a guard over dir that always sees plenty of space, so
// tests do not depend on the machine's disk.
func roomyGuard(dir string) *Guard {
	g := NewGuard(dir, 5, 256*mib)
	g.usage = newFakeDisk(900*gib, 1000*gib).usage
	return g
}

func newKeys(t testing.TB) (minisign.PublicKey, minisign.PrivateKey) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// logText returns n bytes of PBX-like log lines, each one different. It
// compresses like a real log, which keeps the tests fast.
func logText(seed uint64, n int) []byte {
	b := make([]byte, 0, n+128)
	for i := uint64(0); len(b) < n; i++ {
		b = fmt.Appendf(b, "2026-11-27 10:%02d:%02d.%03d INFO [callmanager] seed=%d call-id=%08x REGISTER sip:%d@pbx.example 200 OK\n",
			i/60000%60, i/1000%60, i%1000, seed, i*2654435761, 100+i%900)
	}
	return b[:n]
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func newManifest() *Manifest {
	now := time.Now().UTC()
	return &Manifest{
		Host:         "pbx-test",
		AgentVersion: "0.0.0-test",
		StartedAt:    now.Add(-time.Second),
		FinishedAt:   now,
		CommandLine:  []string{"pbxagent", "bundle"},
	}
}

func bundleName(f Format) string { return "pbx-support-test" + f.Ext() }

// createWriter opens a writer in dir with a roomy guard.
func createWriter(t testing.TB, dir string, f Format) *Writer {
	t.Helper()
	w, err := Create(Options{Dir: dir, Name: bundleName(f), Format: f, Guard: roomyGuard(dir)})
	if err != nil {
		t.Fatalf("Create(%s): %v", f, err)
	}
	t.Cleanup(w.Abort)
	return w
}

// smallBundle writes a signed bundle holding files and returns its path and
// the public key that verifies it.
func smallBundle(t testing.TB, dir string, f Format, files map[string][]byte) (string, minisign.PublicKey) {
	t.Helper()
	pub, priv := newKeys(t)
	w := createWriter(t, dir, f)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if err := w.AddBytes(p, "test", files[p]); err != nil {
			t.Fatalf("AddBytes(%s): %v", p, err)
		}
	}
	res, err := w.Close(newManifest(), priv)
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
	return res.Path, pub
}

// archiveEntry is one file read back with the standard library.
type archiveEntry struct {
	name string
	data []byte
}

// readArchive extracts every regular file of a bundle with stock readers
// (archive/tar with compress/gzip or zstd, archive/zip), in archive order.
func readArchive(t testing.TB, p string, f Format) []archiveEntry {
	t.Helper()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []archiveEntry
	switch f {
	case Zip:
		zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatalf("zip.NewReader(%s): %v", p, err)
		}
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				t.Fatalf("open %s in %s: %v", zf.Name, p, err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("read %s in %s: %v", zf.Name, p, err)
			}
			out = append(out, archiveEntry{zf.Name, data})
		}
		return out
	case TarGz:
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("gzip.NewReader(%s): %v", p, err)
		}
		zr.Multistream(false)
		out = readTar(t, p, zr)
		if _, err := io.Copy(io.Discard, zr); err != nil {
			t.Fatalf("gzip trailer of %s: %v", p, err)
		}
		return out
	case TarZst:
		zr, err := zstd.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("zstd.NewReader(%s): %v", p, err)
		}
		defer zr.Close()
		return readTar(t, p, zr)
	}
	t.Fatalf("unknown format %q", f)
	return nil
}

func readTar(t testing.TB, p string, r io.Reader) []archiveEntry {
	t.Helper()
	var out []archiveEntry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("tar.Next in %s: %v", p, err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s in %s: %v", h.Name, p, err)
		}
		if h.Size != int64(len(data)) {
			t.Fatalf("%s in %s: header says %d bytes, read %d", h.Name, p, h.Size, len(data))
		}
		out = append(out, archiveEntry{h.Name, data})
	}
}

func entryMap(entries []archiveEntry) map[string][]byte {
	m := map[string][]byte{}
	for _, e := range entries {
		m[e.name] = e.data
	}
	return m
}

// writeTarGz writes entries as a plain tar.gz, the way someone tampering
// with a bundle by hand would.
func writeTarGz(t testing.TB, p string, entries []archiveEntry) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.data)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// partials lists the temporary archive files left in dir.
func partials(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".pbx-support-*.partial"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func verify(t testing.TB, archive string, pub minisign.PublicKey) *Verification {
	t.Helper()
	v, err := Verify(context.Background(), archive, archive+".minisig", pub)
	if err != nil {
		t.Fatalf("Verify(%s): %v", archive, err)
	}
	return v
}

func hasProblem(v *Verification, parts ...string) bool {
	for _, p := range v.Problems {
		ok := true
		for _, part := range parts {
			if !strings.Contains(p, part) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
