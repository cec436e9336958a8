package bundle

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/shirou/gopsutil/v4/disk"

	"github.com/pbxagent/pbxagent/config"
)

// ErrReserve reports that writing would push the output filesystem below
// its free-space reserve.
var ErrReserve = errors.New("not enough free space on the output filesystem")

// ReserveError says how much space a bundle needs and where.
type ReserveError struct {
	Dir      string // output folder
	Free     int64  // bytes available now
	Reserve  int64  // bytes that must stay free
	Need     int64  // bytes the bundle still needs (estimate), 0 if unknown
	While    bool   // true if the limit was hit while writing
	Estimate bool   // Need is an estimate
}

func (e *ReserveError) Error() string {
	msg := fmt.Sprintf("%s: %s free, and %s must stay free for the PBX", e.Dir, config.HumanBytes(e.Free), config.HumanBytes(e.Reserve))
	short := e.Reserve + e.Need - e.Free
	if short < 0 {
		short = 0
	}
	if e.While {
		msg = "stopped writing the bundle before it filled the disk: " + msg
	} else {
		msg = "not enough space for the bundle: " + msg
	}
	if e.Need > 0 {
		msg += fmt.Sprintf("; the bundle needs about %s more, so %s must be freed", config.HumanBytes(e.Need), config.HumanBytes(short))
	}
	return msg + "; write it to another disk with --output DIR (for example a USB drive or /tmp on another filesystem), or lower --max-size"
}

// Unwrap makes errors.Is(err, ErrReserve) true.
func (e *ReserveError) Unwrap() error { return ErrReserve }

// Guard keeps a free-space reserve on the filesystem holding a folder. All
// writers of one bundle (the archive and any spool files) share one Guard, so
// the reserve holds for their sum: it reads the real free space rather than
// counting bytes.
type Guard struct {
	dir     string
	percent float64
	min     int64
	every   int64
	// usage reads (free, total) bytes; replaced in tests.
	usage func(dir string) (free, total int64, err error)

	mu      sync.Mutex
	pending int64
}

// NewGuard keeps max(min, percent% of the filesystem size) free under dir.
func NewGuard(dir string, percent float64, min int64) *Guard {
	// pending starts full so that the very first write is checked.
	return &Guard{dir: dir, percent: percent, min: min, every: 1 << 20, pending: 1 << 20, usage: diskUsage}
}

func diskUsage(dir string) (int64, int64, error) {
	u, err := disk.Usage(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("read free space of %s: %w", dir, err)
	}
	return int64(u.Free), int64(u.Total), nil
}

// Reserve returns the bytes to keep free on a filesystem of total bytes.
func (g *Guard) Reserve(total int64) int64 {
	r := int64(float64(total) * g.percent / 100)
	if r < g.min {
		r = g.min
	}
	return r
}

// Check fails with a *ReserveError unless need more bytes fit above the
// reserve.
func (g *Guard) Check(need int64) error {
	free, total, err := g.usage(g.dir)
	if err != nil {
		return err
	}
	res := g.Reserve(total)
	if free-need < res {
		return &ReserveError{Dir: g.dir, Free: free, Reserve: res, Need: need, Estimate: true}
	}
	return nil
}

// Available returns the bytes that can still be written above the reserve.
func (g *Guard) Available() (int64, error) {
	free, total, err := g.usage(g.dir)
	if err != nil {
		return 0, err
	}
	a := free - g.Reserve(total)
	if a < 0 {
		a = 0
	}
	return a, nil
}

// wrote accounts n bytes and, every megabyte, re-reads the free space.
func (g *Guard) wrote(n int) error {
	g.mu.Lock()
	g.pending += int64(n)
	due := g.pending >= g.every || int64(n) > g.every
	if due {
		g.pending = 0
	}
	g.mu.Unlock()
	if !due {
		return nil
	}
	free, total, err := g.usage(g.dir)
	if err != nil {
		return err
	}
	// The next chunk must fit too, so the reserve is never crossed by
	// more than one write.
	ahead := max(g.every, int64(n))
	if res := g.Reserve(total); free-ahead < res {
		return &ReserveError{Dir: g.dir, Free: free, Reserve: res, While: true}
	}
	return nil
}

// Writer wraps w so that every write is checked against the reserve. The
// check happens before the bytes reach w.
func (g *Guard) Writer(w io.Writer) io.Writer { return &guardedWriter{g: g, w: w} }

type guardedWriter struct {
	g *Guard
	w io.Writer
}

func (gw *guardedWriter) Write(p []byte) (int, error) {
	if err := gw.g.wrote(len(p)); err != nil {
		return 0, err
	}
	return gw.w.Write(p)
}
