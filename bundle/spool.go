package bundle

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// Spool is a temporary file in the output folder for a long-running capture
// (a followed log, packets) whose size is only known when the window ends;
// a tar header needs the size before the content. Its writes pass the same
// free-space guard as the archive. On Linux its name is removed at once, so
// nothing is left behind even if the process is killed.
type Spool struct {
	mu    sync.Mutex
	f     *os.File
	name  string // non-empty while the file still has a name
	w     io.Writer
	size  int64
	guard *Guard
}

// NewSpool creates a spool file in dir.
func NewSpool(dir string, g *Guard) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create output folder %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".pbx-support-*.spool")
	if err != nil {
		return nil, fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	_ = f.Chmod(0o600)
	s := &Spool{f: f, name: f.Name(), guard: g}
	// Unlinking an open file works on Unix; on Windows it fails and the
	// file is removed by Close instead.
	if os.Remove(f.Name()) == nil {
		s.name = ""
	}
	s.w = g.Writer(f)
	return s, nil
}

// Write appends to the spool.
func (s *Spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return 0, os.ErrClosed
	}
	n, err := s.w.Write(p)
	s.size += int64(n)
	return n, err
}

// Size is the number of bytes written.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Reader returns a reader over everything written so far.
func (s *Spool) Reader() io.Reader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return io.NewSectionReader(s.f, 0, s.size)
}

// Close releases the spool and removes its file.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if s.name != "" {
		if rerr := os.Remove(s.name); rerr != nil && err == nil {
			err = rerr
		}
		s.name = ""
	}
	return err
}
