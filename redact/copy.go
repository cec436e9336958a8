package redact

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// MaxLine is the longest line Copy redacts as one: a longer line is cut
// into pieces of at most MaxLine bytes, preferably after a blank or a
// comma near the end of the piece, so memory stays bounded whatever the
// input. A secret across such a cut may be missed by the key rules; the
// value rules (see WithValues) see each piece whole.
const MaxLine = 1 << 20

// Copy writes a redacted copy of src to dst, reading it line by line, and
// returns the number of values redacted. It gives the same result as
// Bytes for text whose lines are shorter than MaxLine, without holding
// more than one line in memory; the caller bounds src if its size is not
// trusted.
func (r *Redactor) Copy(dst io.Writer, src io.Reader) (count int, err error) {
	lr := &lineReader{br: bufio.NewReaderSize(src, 64<<10)}
	bw := bufio.NewWriterSize(dst, 64<<10)
	var st state
	for {
		l, rerr := lr.next()
		if rerr != nil && rerr != io.EOF {
			return count, rerr
		}
		nl := strings.HasSuffix(l, "\n")
		out, n := r.line(strings.TrimSuffix(l, "\n"), &st)
		count += n
		if _, err := bw.WriteString(out); err != nil {
			return count, err
		}
		if nl {
			if err := bw.WriteByte('\n'); err != nil {
				return count, err
			}
		}
		if rerr == io.EOF {
			return count, bw.Flush()
		}
	}
}

// lineReader returns lines with their '\n', cutting a line longer than
// MaxLine into pieces.
type lineReader struct {
	br      *bufio.Reader
	pending []byte // the rest of a cut line
	buf     []byte
}

// next returns the next line or piece; with io.EOF, the last bytes.
func (lr *lineReader) next() (string, error) {
	b := append(lr.buf[:0], lr.pending...)
	lr.pending = lr.pending[:0]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		lr.pending = append(lr.pending, b[i+1:]...)
		lr.buf = b
		return string(b[:i+1]), nil
	}
	for len(b) <= MaxLine {
		frag, err := lr.br.ReadSlice('\n')
		b = append(b, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil || len(b) <= MaxLine {
			lr.buf = b
			return string(b), err
		}
	}
	// Cut after a blank or comma in the last 4 KiB of the piece.
	cut := MaxLine
	from := cut - 4<<10
	if i := bytes.LastIndexAny(b[from:cut], " \t,"); i >= 0 {
		cut = from + i + 1
	}
	lr.pending = append(lr.pending, b[cut:]...)
	lr.buf = b
	return string(b[:cut]), nil
}
