package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/redact"
)

// logSink adds log files to the bundle with every secret redacted. A
// log's redacted size is only known once it has been read, and a tar
// header needs it first, so the redacted text goes through a spool file
// (unlinked at once on Linux) in the output folder: memory stays bounded
// whatever the size of the log.
type logSink struct {
	ctx   context.Context // ends the redaction of a log early
	w     *bundle.Writer
	r     *redact.Redactor
	dir   string
	guard *bundle.Guard
}

// newLogSink returns the sink for w; g bounds the spool's disk use (nil: a
// guard without reserve).
func (a *Agent) newLogSink(ctx context.Context, w *bundle.Writer, dir string, g *bundle.Guard) *logSink {
	if dir == "" {
		dir = os.TempDir()
	}
	if g == nil {
		g = bundle.NewGuard(dir, 0, 0)
	}
	return &logSink{ctx: ctx, w: w, r: a.redactor, dir: dir, guard: g}
}

// maxExpansion bounds the uncompressed size of a .gz log relative to its
// compressed size (text logs compress 5-20 fold), and minExpansion is the
// least allowed, so a gzip bomb cannot keep the bundle busy for long.
const (
	maxExpansion = 100
	minExpansion = 256 << 20
)

// Missing records a file left out.
func (s *logSink) Missing(path, collector, reason string) { s.w.Missing(path, collector, reason) }

// Warn adds a warning to the manifest.
func (s *logSink) Warn(msg string) { s.w.Warn(msg) }

// Add redacts e's content (decompressing and re-compressing a ".gz" log)
// and adds it with the number of values replaced. A log that cannot be
// redacted is left out with the reason, never added as it is.
func (s *logSink) Add(e bundle.Entry) error {
	sp, err := bundle.NewSpool(s.dir, s.guard)
	if err != nil {
		return err
	}
	defer sp.Close()
	src := &ctxReader{ctx: s.ctx, r: io.LimitReader(e.Reader, e.Size)}
	var n int
	if strings.HasSuffix(strings.ToLower(e.Path), ".gz") {
		n, err = s.r.CopyGzip(sp, src, max(e.Size*maxExpansion, minExpansion))
	} else {
		n, err = s.r.Copy(sp, src)
	}
	if err != nil {
		var out *bundle.ReserveError
		if errors.As(err, &out) {
			return err
		}
		if err := s.ctx.Err(); err != nil {
			return fmt.Errorf("bundle aborted: %w", err) // as the archive's own writer does
		}
		s.w.Missing(e.Path, e.Collector, fmt.Sprintf("%s could not be redacted, so it was left out: %v", e.Source, err))
		return nil
	}
	e.Reader, e.Size, e.Redactions = sp.Reader(), sp.Size(), &n
	return s.w.Add(e)
}

// ctxReader ends a read when ctx is done, so redacting a large log does
// not delay the end of an aborted run.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// logAdder is where addTail puts a log: a logSink in a bundle, or a plain
// *bundle.Writer.
type logAdder interface {
	Add(bundle.Entry) error
	Missing(path, collector, reason string)
	Warn(msg string)
}
