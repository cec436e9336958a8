package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	var d time.Duration
	var seq []time.Duration
	for range 8 {
		d = NextDelay(d, 30*time.Second, 30*time.Minute)
		seq = append(seq, d)
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute}
	if !slices.Equal(seq, want) {
		t.Errorf("delays %v, want %v", seq, want)
	}
	for range 1000 {
		if j := Jitter(time.Minute); j < 48*time.Second || j > 72*time.Second {
			t.Fatalf("jitter %s out of ±20%%", j)
		}
	}
}

func TestSpoolDeliversOnceKeepsPermanentAndBounds(t *testing.T) {
	s, err := New(filepath.Join(t.TempDir(), "q"), ".item", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dropped []string
	for i := range 4 {
		if err := s.Enqueue([]byte(fmt.Sprint(i)), func(d []byte) { dropped = append(dropped, string(d)) }); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Len(); n != 3 || !slices.Equal(dropped, []string{"0"}) {
		t.Fatalf("len %d, dropped %v; want 3, [0]", n, dropped)
	}
	if st, _ := os.Stat(s.Dir()); st.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v", st.Mode().Perm())
	}
	// A symlink planted in the folder is not followed: dropped as unreadable.
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("x"), 0o600)
	os.Symlink(secret, filepath.Join(s.Dir(), "00000000000000000000-zz.item"))
	var got []string
	deliver := func(_ context.Context, d []byte) error {
		got = append(got, string(d))
		switch string(d) {
		case "1":
			return fmt.Errorf("%w: no", ErrPermanent)
		case "2":
			if len(got) < 4 {
				return errors.New("down")
			}
		}
		return nil
	}
	if err := s.Flush(context.Background(), deliver); err == nil {
		t.Fatal("Flush hid the failures")
	}
	if !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("first pass delivered %v, want [1 2] (stop at the temporary failure)", got)
	}
	s.Flush(context.Background(), deliver)
	if !slices.Equal(got, []string{"1", "2", "1", "2", "3"}) {
		t.Fatalf("second pass: %v", got)
	}
	if n, _ := s.Len(); n != 1 {
		t.Errorf("%d items left, want the permanently refused one", n)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("the symlink's target was touched: %v", err)
	}
}

func TestRunRetriesWithBackoff(t *testing.T) {
	s, _ := New(t.TempDir(), ".item", 10, nil)
	s.SetBackoff(time.Millisecond, 4*time.Millisecond)
	s.Enqueue([]byte("a"), nil)
	fails := 3
	done := make(chan struct{})
	var waits int
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		s.Run(ctx, func(context.Context, []byte) error {
			if fails > 0 {
				fails--
				return errors.New("500")
			}
			close(done)
			return nil
		}, func(time.Duration) { waits++ })
	}()
	<-done
	cancel()
	if waits != 3 {
		t.Errorf("%d backoff waits, want 3", waits)
	}
}
