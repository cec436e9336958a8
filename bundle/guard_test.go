package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestGuardReserve(t *testing.T) {
	cases := []struct {
		percent float64
		min     int64
		total   int64
		want    int64
	}{
		{5, 256 * mib, 10 * gib, 512 * mib}, // percent wins
		{5, 256 * mib, 1 * gib, 256 * mib},  // minimum wins
		{5, 256 * mib, 0, 256 * mib},
		{0, 0, 10 * gib, 0},
		{10, 0, 1000, 100},
		{50, 600, 1000, 600},
		{50, 400, 1000, 500},
	}
	for _, c := range cases {
		g := NewGuard(t.TempDir(), c.percent, c.min)
		if got := g.Reserve(c.total); got != c.want {
			t.Errorf("Reserve(%d) with %v%% and min %d = %d, want %d", c.total, c.percent, c.min, got, c.want)
		}
	}
}

func TestGuardCheck(t *testing.T) {
	dir := t.TempDir()
	g := NewGuard(dir, 5, 256*mib)
	g.usage = newFakeDisk(300*mib, 1*gib).usage // reserve 256 MiB

	if err := g.Check(40 * mib); err != nil {
		t.Fatalf("Check(40 MiB) with 44 MiB above the reserve: %v", err)
	}
	if err := g.Check(44 * mib); err != nil {
		t.Fatalf("Check(44 MiB), exactly what is above the reserve: %v", err)
	}
	err := g.Check(100 * mib)
	if err == nil {
		t.Fatal("Check(100 MiB) with 44 MiB above the reserve succeeded")
	}
	if !errors.Is(err, ErrReserve) {
		t.Errorf("errors.Is(%v, ErrReserve) = false", err)
	}
	var re *ReserveError
	if !errors.As(err, &re) {
		t.Fatalf("error %T is not a *ReserveError", err)
	}
	if re.While || !re.Estimate || re.Free != 300*mib || re.Reserve != 256*mib || re.Need != 100*mib || re.Dir != dir {
		t.Errorf("ReserveError = %+v", re)
	}
	msg := err.Error()
	for _, want := range []string{
		"not enough space for the bundle",
		dir,
		"300.0 MiB free",   // free now
		"256.0 MiB must",   // reserve
		"about 100.0 MiB",  // need
		"56.0 MiB must be", // short: 256 + 100 - 300
		"--output",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}

	if a, err := g.Available(); err != nil || a != 44*mib {
		t.Errorf("Available() = %d, %v; want %d", a, err, 44*mib)
	}
	g.usage = newFakeDisk(100*mib, 1*gib).usage
	if a, err := g.Available(); err != nil || a != 0 {
		t.Errorf("Available() below the reserve = %d, %v; want 0", a, err)
	}
}

func TestGuardUsageError(t *testing.T) {
	g := NewGuard(t.TempDir(), 5, 0)
	boom := errors.New("statfs failed")
	g.usage = func(string) (int64, int64, error) { return 0, 0, boom }
	if err := g.Check(1); !errors.Is(err, boom) {
		t.Errorf("Check = %v, want the usage error", err)
	}
	if _, err := g.Available(); !errors.Is(err, boom) {
		t.Errorf("Available = %v, want the usage error", err)
	}
	if _, err := g.Writer(&bytes.Buffer{}).Write([]byte("x")); !errors.Is(err, boom) {
		t.Errorf("Write = %v, want the usage error", err)
	}
}

func TestGuardRealDisk(t *testing.T) {
	// The real free-space reader works on the test's own folder.
	g := NewGuard(t.TempDir(), 0, 0)
	if _, err := g.Available(); err != nil {
		t.Fatalf("Available on a real folder: %v", err)
	}
	if err := NewGuard(t.TempDir()+"/does/not/exist", 0, 0).Check(0); err == nil {
		t.Error("Check on a missing folder succeeded")
	}
}

func TestGuardWriterChecksEveryMegabyte(t *testing.T) {
	d := newFakeDisk(10*gib, 100*gib)
	g := NewGuard(t.TempDir(), 0, 1*gib)
	g.usage = d.usage
	var sink bytes.Buffer
	w := g.Writer(&sink)
	chunk := make([]byte, 64<<10)
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if d.calls.Load() != 1 {
		t.Fatalf("first write read the free space %d times, want 1", d.calls.Load())
	}
	for i := 0; i < 15; i++ { // 15 more chunks: 1 MiB in all
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.calls.Load(); n != 1 {
		t.Errorf("free space read %d times within the first megabyte, want 1", n)
	}
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if n := d.calls.Load(); n != 2 {
		t.Errorf("free space read %d times after a megabyte, want 2", n)
	}
	// Free space drops just above the reserve: the next checked write
	// must leave a megabyte ahead, so it fails, and nothing reaches sink.
	d.free.Store(1*gib + 512<<10)
	before := sink.Len()
	var err error
	for i := 0; i < 17 && err == nil; i++ {
		_, err = w.Write(chunk)
	}
	var re *ReserveError
	if !errors.As(err, &re) || !re.While || !errors.Is(err, ErrReserve) {
		t.Fatalf("write below the reserve = %v, want a *ReserveError with While", err)
	}
	if got := sink.Len() - before; got > 1<<20 {
		t.Errorf("%d bytes passed after the free space dropped, want at most 1 MiB", got)
	}
	if !strings.Contains(re.Error(), "stopped writing the bundle before it filled the disk") || !strings.Contains(re.Error(), "--output") {
		t.Errorf("message = %q", re.Error())
	}
	// A single write larger than the check interval is checked on its own.
	d.free.Store(1*gib + 3<<20)
	if _, err := w.Write(make([]byte, 4<<20)); !errors.Is(err, ErrReserve) {
		t.Errorf("4 MiB write with 3 MiB above the reserve = %v, want ErrReserve", err)
	}
}

// Free space drops while the archive is written: the write that would cross
// the reserve fails, the error says so, and Close removes the partial file.
func TestWriterStopsAtReserve(t *testing.T) {
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			d := newFakeDisk(50*gib, 100*gib)
			g := NewGuard(dir, 1, 256*mib) // reserve 1 GiB
			g.usage = d.usage
			w, err := Create(Options{Dir: dir, Name: bundleName(f), Format: f, Guard: g})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			if err := w.AddBytes("first.bin", "test", randomBytes(20, 64<<10)); err != nil {
				t.Fatalf("Add with plenty of space: %v", err)
			}
			tmp := w.TempPath()
			d.free.Store(1*gib + 100<<10) // 100 KiB above the reserve

			// Output reaches the guard a megabyte at a time, and
			// compressors write in the background (tar.zst keeps a few
			// frames of 2 MiB in flight), so the failure
			// may show on a later Add; it must show before 32 MiB more.
			// The guard itself never lets a write cross the reserve.
			var addErr error
			for i := 0; i < 64 && addErr == nil; i++ {
				addErr = w.AddBytes(fmt.Sprintf("more-%02d.bin", i), "test", randomBytes(uint64(30+i), 512<<10))
			}
			if addErr == nil {
				t.Fatal("32 MiB more were added with 100 KiB above the reserve")
			}
			if !errors.Is(addErr, ErrReserve) {
				t.Fatalf("Add error %v does not wrap ErrReserve", addErr)
			}
			var re *ReserveError
			if !errors.As(addErr, &re) {
				t.Fatalf("Add error %v is not a *ReserveError", addErr)
			}
			if !re.While || re.Dir != dir || re.Reserve != 1*gib {
				t.Errorf("ReserveError = %+v", re)
			}
			if err := w.AddBytes("after.bin", "test", []byte("x")); !errors.Is(err, ErrReserve) {
				t.Errorf("Add after the failure = %v, want the same reserve error", err)
			}
			res, err := w.Close(newManifest(), nil)
			if err == nil {
				t.Fatalf("Close after a reserve failure succeeded: %+v", res)
			}
			if !errors.Is(err, ErrReserve) {
				t.Errorf("Close error %v does not wrap ErrReserve", err)
			}
			if _, err := os.Stat(tmp); !os.IsNotExist(err) {
				t.Errorf("temporary file %s left after the failed Close: %v", tmp, err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("folder not empty: %v", ents)
			}
		})
	}
}

func TestSpoolSharesTheGuard(t *testing.T) {
	dir := t.TempDir()
	d := newFakeDisk(50*gib, 100*gib)
	g := NewGuard(dir, 0, 1*gib)
	g.usage = d.usage
	s, err := NewSpool(dir, g)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("line 1\n")); err != nil {
		t.Fatal(err)
	}
	d.free.Store(1 * gib)
	var werr error
	for i := 0; i < 300 && werr == nil; i++ {
		_, werr = s.Write(make([]byte, 8<<10))
	}
	if !errors.Is(werr, ErrReserve) {
		t.Fatalf("spool write below the reserve = %v, want ErrReserve", werr)
	}
	if s.Size() > 1<<20+7 {
		t.Errorf("spool grew to %d bytes after the reserve was reached", s.Size())
	}
}
