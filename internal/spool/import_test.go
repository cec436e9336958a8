//go:build !windows

package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }

// TestImport: old files are converted into the spool in their order, under
// their names, 0600; the old ones are removed; a file that cannot be
// converted, a symlink and a FIFO are kept aside as .corrupt (the link not
// followed, the FIFO not opened); other files and folders stay untouched.
func TestImport(t *testing.T) {
	old := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(old, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("002.old", "b")
	write("001.old", "a")
	write("003.old", "bad")
	write("notes.txt", "keep")
	target := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(target, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(old, "004.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(old, "005.old"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(old, "006.old")); err != nil {
		t.Fatal(err)
	}
	s, err := New(filepath.Join(old, "new"), ".item", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Import(old, ".old", func(b []byte) ([]byte, error) {
		if string(b) == "bad" {
			return nil, errors.New("not an item")
		}
		return []byte(strings.ToUpper(string(b))), nil
	})
	if err != nil || n != 2 {
		t.Fatalf("imported %d, %v; want 2", n, err)
	}
	var got []string
	err = s.Flush(context.Background(), func(_ context.Context, b []byte) error { got = append(got, string(b)); return nil })
	if err != nil || !slices.Equal(got, []string{"A", "B"}) {
		t.Errorf("delivered %q (%v), want A, B", got, err)
	}
	ents, _ := os.ReadDir(old)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"003.old.corrupt", "004.old.corrupt", "005.old", "006.old.corrupt", "new", "notes.txt"}
	if !slices.Equal(names, want) {
		t.Errorf("old folder holds %q, want %q", names, want)
	}
	if b, _ := os.ReadFile(target); string(b) != "s" {
		t.Error("the symlink's target was touched")
	}
}

// TestImportedFilesMode: imported items are 0600 whatever the old mode.
func TestImportedFilesMode(t *testing.T) {
	old := t.TempDir()
	if err := os.WriteFile(filepath.Join(old, "1.old"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(filepath.Join(old, "new"), ".item", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(old, ".old", func(b []byte) ([]byte, error) { return b, nil }); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(old, "new", "1.item"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("imported item: %v %v", st, err)
	}
}
