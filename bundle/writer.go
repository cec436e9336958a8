// Package bundle writes and verifies support bundles: one archive streamed
// straight to disk (no staging folder, so it needs no more space than its
// own size), a manifest.json of SHA-256 hashes at the archive's root, and a
// detached minisign signature beside it.
//
// The package knows nothing of PortSIP: callers (the agent, later the
// service reacting to an alert) decide what goes in. Every write passes a
// free-space Guard, so a bundle never fills the disk it is meant to
// diagnose, and the archive is written under a temporary name, fsynced and
// renamed, so no run ever leaves a half archive behind.
package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mholt/archives"

	"github.com/pbxagent/pbxagent/minisign"
)

// Entry is one file to add to the archive.
type Entry struct {
	// Path inside the archive, slash-separated ("logs/callmanager.log").
	Path string
	// Collector is the name of what produced the file.
	Collector string
	// Source is the file's original path on the host, if any.
	Source string
	// Size is the exact number of bytes Reader will provide. If Reader
	// ends early the rest is zero-filled and the entry records the error.
	Size    int64
	ModTime time.Time
	Reader  io.Reader
	// TruncatedBytes were left out of the original to respect the caps.
	TruncatedBytes int64
	// Redactions is the number of secrets replaced, for redacted files.
	Redactions *int
	// Error notes a problem with the file that is not fatal.
	Error string
}

// Options configure a new archive.
type Options struct {
	// Dir is the output folder; it is created 0700 if missing.
	Dir string
	// Name is the final file name, including the format's extension.
	Name   string
	Format Format
	// Guard keeps the output filesystem's reserve; required.
	Guard *Guard
	// Encrypt, when set, wraps the file's writer so the archive is
	// encrypted as it is streamed (no plaintext copy on disk); Name must
	// then end in the format's extension plus EncryptExt. The size, SHA-256
	// and signature cover the encrypted file; the trusted comment also
	// records the plaintext archive's SHA-256 (plain_sha256).
	Encrypt func(dst io.Writer) (io.WriteCloser, error)
}

// EncryptExt is appended to the name of an encrypted archive.
const EncryptExt = ".age"

// ext is the final file name's required extension.
func (o Options) ext() string {
	if o.Encrypt != nil {
		return o.Format.Ext() + EncryptExt
	}
	return o.Format.Ext()
}

// Writer streams one bundle archive. Its methods are safe for concurrent
// use; entries are written in the order Add is called.
type Writer struct {
	opt     Options
	tmpPath string
	f       *os.File
	buf     *bufio.Writer
	sha     hash.Hash
	pre     hash.Hash
	size    atomic.Int64 // written by the compressor's goroutines
	comp    io.WriteCloser
	enc     io.WriteCloser
	plain   hash.Hash
	ctx     context.Context
	cancel  context.CancelFunc
	jobs    chan archives.ArchiveAsyncJob
	done    chan error

	jobsClosed bool

	mu       sync.Mutex
	err      error
	finished bool
	files    []FileEntry
	missing  []MissingEntry
	warnings []string
	paths    map[string]bool
}

type countWriter struct{ n *atomic.Int64 }

func (c countWriter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// Create opens a temporary file in opt.Dir and starts the archive.
func Create(opt Options) (*Writer, error) {
	if opt.Guard == nil {
		return nil, errors.New("bundle: a free-space guard is required")
	}
	if !strings.HasSuffix(opt.Name, opt.ext()) || len(opt.Name) == len(opt.ext()) || strings.ContainsAny(opt.Name, `/\`) {
		return nil, fmt.Errorf("bundle: file name %q must be a plain name ending in %s", opt.Name, opt.ext())
	}
	if err := os.MkdirAll(opt.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create output folder %s: %w", opt.Dir, err)
	}
	f, err := createPartial(opt.Dir)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		opt:     opt,
		tmpPath: f.Name(),
		f:       f,
		sha:     sha256.New(),
		pre:     minisign.NewPrehash(),
		jobs:    make(chan archives.ArchiveAsyncJob),
		done:    make(chan error, 1),
		paths:   map[string]bool{},
	}
	w.buf = bufio.NewWriterSize(opt.Guard.Writer(f), 1<<20)
	var out io.Writer = io.MultiWriter(w.buf, w.sha, w.pre, countWriter{&w.size})
	if opt.Encrypt != nil {
		if w.enc, err = opt.Encrypt(out); err != nil {
			w.removeTemp()
			return nil, fmt.Errorf("start encryption: %w", err)
		}
		w.plain = sha256.New()
		out = io.MultiWriter(w.enc, w.plain)
	}
	arch, compressor := opt.Format.archiver()
	if compressor != nil {
		w.comp, err = compressor(out)
		if err != nil {
			w.removeTemp()
			return nil, fmt.Errorf("start %s compressor: %w", opt.Format, err)
		}
		out = w.comp
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go func() { w.done <- arch.ArchiveAsync(w.ctx, out, w.jobs) }()
	return w, nil
}

// createPartial creates the locked, 0600 temporary file a bundle is written
// to; its name marks it as unfinished.
func createPartial(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, ".pbx-support-*.partial")
	if err != nil {
		return nil, fmt.Errorf("create bundle file in %s: %w", dir, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	if err := f.Chmod(0o600); err != nil && !isUnsupported(err) {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("set mode of %s: %w", f.Name(), err)
	}
	return f, nil
}

func isUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported)
}

// TempPath is the archive's temporary name while it is being written.
func (w *Writer) TempPath() string { return w.tmpPath }

// Written returns the compressed bytes written so far.
func (w *Writer) Written() int64 { return w.size.Load() }

// Add copies one entry into the archive. A failure to write (disk reserve,
// I/O error) is fatal for the whole archive and returned; a short read of
// the entry's source is not: it is zero-filled and recorded.
func (w *Writer) Add(e Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.finished {
		return errors.New("bundle: add after close")
	}
	if err := w.checkPath(e.Path); err != nil {
		return err
	}
	if e.ModTime.IsZero() {
		e.ModTime = time.Now()
	}
	er := &entryReader{ctx: w.ctx, r: e.Reader, left: e.Size, h: sha256.New()}
	job := archives.ArchiveAsyncJob{
		File: archives.FileInfo{
			FileInfo:      fileInfo{name: path.Base(e.Path), size: e.Size, mtime: e.ModTime},
			NameInArchive: e.Path,
			Open:          func() (fs.File, error) { return er, nil },
		},
	}
	res := make(chan error, 1)
	job.Result = res
	if err := w.submit(job, res); err != nil {
		return err
	}
	fe := FileEntry{
		Path:           e.Path,
		Size:           e.Size,
		SHA256:         hex.EncodeToString(er.h.Sum(nil)),
		Collector:      e.Collector,
		Source:         e.Source,
		ModTime:        e.ModTime.UTC(),
		TruncatedBytes: e.TruncatedBytes,
		Redactions:     e.Redactions,
		Error:          e.Error,
	}
	if er.readErr != nil {
		msg := fmt.Sprintf("source ended after %d of %d bytes (%v); the rest is zero-filled", e.Size-er.padded, e.Size, er.readErr)
		if fe.Error != "" {
			fe.Error += "; " + msg
		} else {
			fe.Error = msg
		}
	}
	w.files = append(w.files, fe)
	return nil
}

func (w *Writer) submit(job archives.ArchiveAsyncJob, res chan error) error {
	if w.jobsClosed {
		return errors.New("bundle: the archive is already closed")
	}
	select {
	case w.jobs <- job:
	case err := <-w.done:
		w.err = fmt.Errorf("write %s: archive writer stopped: %v", w.tmpPath, err)
		return w.err
	}
	if err := <-res; err != nil {
		w.err = fmt.Errorf("write %s into %s: %w", job.File.NameInArchive, w.tmpPath, err)
		if re := (*ReserveError)(nil); errors.As(err, &re) {
			w.err = fmt.Errorf("write %s: %w", job.File.NameInArchive, re)
		}
		return w.err
	}
	return nil
}

func (w *Writer) checkPath(p string) error {
	if !fs.ValidPath(p) || p == "." || p == ManifestName && !w.finished {
		return fmt.Errorf("bundle: invalid archive path %q", p)
	}
	if w.paths[p] {
		return fmt.Errorf("bundle: duplicate archive path %q", p)
	}
	w.paths[p] = true
	return nil
}

// AddBytes adds a small in-memory file.
func (w *Writer) AddBytes(p, collector string, data []byte) error {
	return w.Add(Entry{Path: p, Collector: collector, Size: int64(len(data)), Reader: bytesReader(data)})
}

// Missing records something that was looked for and not collected.
func (w *Writer) Missing(p, collector, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.missing = append(w.missing, MissingEntry{Path: p, Collector: collector, Reason: reason})
}

// Warn records a note for the manifest.
func (w *Writer) Warn(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, msg)
}

func (w *Writer) addLocked(p string, data []byte) error {
	w.paths[p] = true
	er := &entryReader{ctx: w.ctx, r: bytesReader(data), left: int64(len(data)), h: sha256.New()}
	res := make(chan error, 1)
	job := archives.ArchiveAsyncJob{
		File: archives.FileInfo{
			FileInfo:      fileInfo{name: path.Base(p), size: int64(len(data)), mtime: time.Now()},
			NameInArchive: p,
			Open:          func() (fs.File, error) { return er, nil },
		},
		Result: res,
	}
	return w.submit(job, res)
}

// Abort stops writing and removes the temporary file. It is safe to call
// more than once and after Close.
func (w *Writer) Abort() {
	// Cancel first, without the lock: an Add in progress sees it on its
	// next read and returns, releasing the lock.
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finished = true
	if !w.jobsClosed {
		w.jobsClosed = true
		close(w.jobs)
	}
	w.removeTemp()
}

func (w *Writer) removeTemp() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if w.tmpPath != "" {
		os.Remove(w.tmpPath)
		w.tmpPath = ""
	}
}

// entryReader feeds exactly `left` bytes to the archive, hashing them and
// zero-filling if the source ends early. It never returns a read error, so
// the archive stays well-formed whatever the source does.
type entryReader struct {
	ctx     context.Context
	r       io.Reader
	left    int64
	h       hash.Hash
	readErr error
	padded  int64
}

func (e *entryReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if err := e.ctx.Err(); err != nil {
		return 0, err // the archive is being abandoned
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	var n int
	if e.readErr == nil && e.r != nil {
		var err error
		n, err = e.r.Read(p)
		if err != nil && n == 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			e.readErr = err
		}
	} else if e.r == nil && e.readErr == nil {
		e.readErr = errors.New("no source")
	}
	if e.readErr != nil && n == 0 {
		clear(p)
		n = len(p)
		e.padded += int64(n)
	}
	e.h.Write(p[:n])
	e.left -= int64(n)
	return n, nil
}

func (e *entryReader) Stat() (fs.FileInfo, error) { return nil, errors.ErrUnsupported }
func (e *entryReader) Close() error               { return nil }

type fileInfo struct {
	name  string
	size  int64
	mtime time.Time
}

func (f fileInfo) Name() string       { return f.name }
func (f fileInfo) Size() int64        { return f.size }
func (f fileInfo) Mode() fs.FileMode  { return 0o600 }
func (f fileInfo) ModTime() time.Time { return f.mtime }
func (f fileInfo) IsDir() bool        { return false }
func (f fileInfo) Sys() any           { return nil }

type byteSliceReader struct {
	b []byte
}

func (r *byteSliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func bytesReader(b []byte) io.Reader { return &byteSliceReader{b: b} }
