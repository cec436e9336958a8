package redact

import (
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// ErrExpandsTooMuch is returned by CopyGzip when the archive holds more
// than the allowed number of uncompressed bytes.
var ErrExpandsTooMuch = errors.New("archive expands beyond the limit")

// CopyGzip redacts a gzip archive as a stream: it decompresses src
// (every member of a multi-member archive), redacts the text as Copy does
// and writes it to dst as a new gzip archive, holding no more than one line
// in memory. At most maxExpanded uncompressed bytes are read (0: no limit);
// beyond that it stops with ErrExpandsTooMuch, so a small archive cannot
// make it work through gigabytes. It returns the number of values
// redacted.
func (r *Redactor) CopyGzip(dst io.Writer, src io.Reader, maxExpanded int64) (count int, err error) {
	zr, err := gzip.NewReader(src)
	if err != nil {
		return 0, fmt.Errorf("read gzip archive: %w", err)
	}
	defer zr.Close()
	var in io.Reader = zr
	lim := &limitedReader{r: zr, left: maxExpanded}
	if maxExpanded > 0 {
		in = lim
	}
	zw, err := gzip.NewWriterLevel(dst, gzip.DefaultCompression)
	if err != nil {
		return 0, err
	}
	zw.Name, zw.ModTime = zr.Name, zr.ModTime
	count, err = r.Copy(zw, in)
	if err != nil {
		return count, err
	}
	if lim.over {
		return count, fmt.Errorf("%w of %d bytes", ErrExpandsTooMuch, maxExpanded)
	}
	return count, zw.Close()
}

// limitedReader is io.LimitReader that remembers whether there was more.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		for {
			n, err := l.r.Read(one[:])
			if n > 0 {
				l.over = true
			}
			if n > 0 || err != nil {
				return 0, io.EOF
			}
		}
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
