package bundle

import (
	"io"
	"runtime"

	"github.com/klauspost/pgzip"
)

// gzipLevel is the deflate level of tar.gz bundles; see docs/benchmarks.md
// for how it compares with gzip -6 in speed and size.
const gzipLevel = 6

// newGzipWriter compresses in parallel blocks on all cores; the output is
// an ordinary single-member gzip stream that gzip and tar read.
func newGzipWriter(w io.Writer) (io.WriteCloser, error) {
	zw, err := pgzip.NewWriterLevel(w, gzipLevel)
	if err != nil {
		return nil, err
	}
	if err := zw.SetConcurrency(1<<20, 2*runtime.GOMAXPROCS(0)); err != nil {
		return nil, err
	}
	return zw, nil
}
