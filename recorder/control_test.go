package recorder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestControlSeal(t *testing.T) {
	// Unix socket paths are short; t.TempDir can be too long.
	dir, err := os.MkdirTemp("", "rec")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if _, err := SealRemote(context.Background(), dir); !errors.Is(err, ErrNoService) {
		t.Fatalf("without a service: %v", err)
	}
	r, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	feed(t, r, stream(t, t0, time.Millisecond, 50, 100, "lo"), 999)
	var segs []Index
	for i := 0; i < 100; i++ {
		if segs, err = SealRemote(ctx, dir); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || len(segs) != 1 || segs[0].Packets != 50 {
		t.Fatalf("seal: %v %+v", err, segs)
	}
	fi, err := os.Lstat(filepath.Join(dir, ControlSocket))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
	st, err := StatsRemote(ctx, dir)
	if err != nil || st.Packets != 50 {
		t.Fatalf("stats %+v %v", st, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, ControlSocket)); err == nil {
		t.Fatal("socket left behind")
	}
}
