//go:build linux

package safefs

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

// attackDir builds a folder holding every kind of hostile entry next to a
// root-only marker file outside it.
func attackDir(t testing.TB) (dir, marker string) {
	t.Helper()
	root := t.TempDir()
	marker = filepath.Join(root, "secret")
	must(t, os.WriteFile(marker, []byte("MARKER-root-only\n"), 0o600))
	dir = filepath.Join(root, "pbx")
	must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "ok.log"), []byte("hello\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "sub", "x.log"), []byte("sub\n"), 0o644))
	must(t, os.Symlink(marker, filepath.Join(dir, "link.log")))
	must(t, os.Symlink(root, filepath.Join(dir, "uplink")))
	must(t, unix.Mkfifo(filepath.Join(dir, "fifo.log"), 0o644))
	must(t, os.Mkdir(filepath.Join(dir, "dir.log"), 0o755))
	must(t, os.Link(filepath.Join(dir, "ok.log"), filepath.Join(dir, "hard.log")))
	return dir, marker
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusals(t *testing.T) {
	for _, mode := range []string{"openat2", "per-component"} {
		t.Run(mode, func(t *testing.T) {
			dir, _ := attackDir(t)
			d, err := OpenDir(dir, DirOptions{Owner: -1})
			must(t, err)
			defer d.Close()
			if mode == "per-component" {
				d.noOpenat2.Store(true)
			}
			cases := map[string]string{
				"link.log":       ReasonSymlink,
				"uplink/secret":  ReasonSymlink,
				"fifo.log":       ReasonFIFO,
				"dir.log":        ReasonDirectory,
				"uplink/pbx/sub": ReasonSymlink,
			}
			for rel, want := range cases {
				done := make(chan error, 1)
				go func() {
					f, err := d.Open(rel)
					if err == nil {
						f.Close()
					}
					done <- err
				}()
				select {
				case err := <-done:
					if r, ok := Refusal(err); !ok || r != want {
						t.Errorf("Open(%s) = %v, want refusal %q", rel, err, want)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("Open(%s) blocked", rel)
				}
			}
			f, err := d.Open("sub/x.log")
			must(t, err)
			f.Close()
			data, info, err := d.ReadFile("hard.log", 100)
			must(t, err)
			if string(data) != "hello\n" || info.Links != 2 {
				t.Errorf("hard link: %q links=%d", data, info.Links)
			}
			if _, _, err := d.ReadFile("ok.log", 3); !errors.Is(err, ErrTooLarge) && !isReason(err, ReasonTooLarge) {
				t.Errorf("ReadFile over the limit: %v", err)
			}
		})
	}
}

func isReason(err error, want string) bool {
	r, ok := Refusal(err)
	return ok && r == want
}

func TestOpenDevice(t *testing.T) {
	testutil.NeedRoot(t)
	dir, _ := attackDir(t)
	dev := filepath.Join(dir, "zero.log")
	must(t, unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5)))) // /dev/zero
	d, err := OpenDir(dir, DirOptions{Owner: -1})
	must(t, err)
	defer d.Close()
	if _, _, err := d.ReadFile("zero.log", 1<<20); !isReason(err, ReasonDevice) {
		t.Errorf("device node: %v", err)
	}
	sock := filepath.Join(dir, "sock.log")
	l, err := net.Listen("unix", sock)
	must(t, err)
	defer l.Close()
	if _, err := d.Open("sock.log"); !isReason(err, ReasonSocket) {
		t.Errorf("socket: %v", err)
	}
	st, err := d.Stat("zero.log")
	must(t, err)
	if TypeReason(st.Mode) != ReasonDevice {
		t.Errorf("Stat mode %v", st.Mode)
	}
}

func TestOpenDirResolve(t *testing.T) {
	testutil.NeedRoot(t)
	root := t.TempDir() // root-owned 0700
	real := filepath.Join(root, "real")
	must(t, os.MkdirAll(filepath.Join(real, "log"), 0o755))
	// A symlink made by root in a root-only folder is honoured and the
	// real folder reported.
	must(t, os.Symlink(real, filepath.Join(root, "moved")))
	d, err := OpenDir(filepath.Join(root, "moved", "log"), DirOptions{Owner: -1})
	must(t, err)
	if d.Path() != filepath.Join(real, "log") {
		t.Errorf("Path() = %s", d.Path())
	}
	d.Close()
	// One in a folder another user can write is refused.
	open := filepath.Join(root, "open")
	must(t, os.Mkdir(open, 0o755))
	must(t, os.Chown(open, 65534, 65534))
	must(t, os.Symlink(real, filepath.Join(open, "pbx")))
	if _, err := OpenDir(filepath.Join(open, "pbx", "log"), DirOptions{Owner: -1}); !isReason(err, ReasonSymlink) {
		t.Errorf("symlink in a user-writable folder: %v", err)
	}
	// Ownership notes.
	d, err = OpenDir(open, DirOptions{Owner: -1})
	must(t, err)
	defer d.Close()
	if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "uid 65534") {
		t.Errorf("notes: %v", d.Notes)
	}
	// A file where a folder is expected.
	must(t, os.WriteFile(filepath.Join(root, "f"), nil, 0o600))
	if _, err := OpenDir(filepath.Join(root, "f"), DirOptions{Owner: -1}); !isReason(err, ReasonNotDir) {
		t.Errorf("file as folder: %v", err)
	}
	if _, err := OpenDir(filepath.Join(root, "none"), DirOptions{Owner: -1}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}

// TestOpenSwapRace swaps a file for a symlink to a marker in a loop while
// opening it: the marker is never read.
func TestOpenSwapRace(t *testing.T) {
	dir, marker := attackDir(t)
	d, err := OpenDir(dir, DirOptions{Owner: -1})
	must(t, err)
	defer d.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := filepath.Join(dir, "race.log")
		tmpLink, tmpFile := filepath.Join(dir, ".l"), filepath.Join(dir, ".f")
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.Symlink(marker, tmpLink)
			_ = os.Rename(tmpLink, p)
			_ = os.WriteFile(tmpFile, []byte("benign\n"), 0o644)
			_ = os.Rename(tmpFile, p)
		}
	}()
	deadline := time.Now().Add(300 * time.Millisecond)
	opened := 0
	for time.Now().Before(deadline) {
		data, _, err := d.ReadFile("race.log", 1<<10)
		if err == nil {
			opened++
		}
		if strings.Contains(string(data), "MARKER") {
			t.Fatal("the marker was read through a swapped symlink")
		}
	}
	close(stop)
	<-done
	t.Logf("%d benign reads", opened)
}

func TestStatAndRemove(t *testing.T) {
	dir, marker := attackDir(t)
	d, err := OpenDir(dir, DirOptions{Owner: -1})
	must(t, err)
	defer d.Close()
	st, err := d.Stat("link.log")
	must(t, err)
	if st.Mode&fs.ModeSymlink == 0 {
		t.Errorf("Stat followed the symlink: %v", st.Mode)
	}
	if _, err := d.Stat("uplink/secret"); !isReason(err, ReasonSymlink) {
		t.Errorf("Stat through a symlinked parent: %v", err)
	}
	ents, err := d.ReadDir()
	must(t, err)
	if len(ents) < 6 {
		t.Errorf("ReadDir: %d entries", len(ents))
	}
	must(t, d.Remove("link.log"))
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("removing the symlink touched its target: %v", err)
	}
	if err := d.Remove("../secret"); err == nil {
		t.Error("Remove left the folder")
	}
}

// FuzzOpen: whatever path is asked for, Open returns only a regular file
// inside the folder, never the marker outside it, and never blocks.
func FuzzOpen(f *testing.F) {
	for _, s := range []string{"ok.log", "link.log", "uplink/secret", "../secret", "sub/x.log", "fifo.log", "/etc/passwd", "sub/../../secret", "uplink/pbx/ok.log"} {
		f.Add(s, false)
	}
	dir, _ := attackDir(f)
	f.Fuzz(func(t *testing.T, rel string, perComponent bool) {
		d, err := OpenDir(dir, DirOptions{Owner: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		d.noOpenat2.Store(perComponent)
		fh, err := d.Open(rel)
		if err != nil {
			return
		}
		defer fh.Close()
		data, _ := ReadLimited(fh, 64)
		if strings.Contains(string(data), "MARKER") || !fh.Info().IsRegular() {
			t.Fatalf("Open(%q) read %q (%v)", rel, data, fh.Info().Mode)
		}
	})
}
