package recorder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Finished lists the finished segments of a ring folder, oldest first,
// without changing anything: a reader that is not the recorder (the CLI
// while the service is stopped) uses it. Segments without an index are
// scanned.
func Finished(dir string) ([]Index, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("recorder: list %s: %w", dir, err)
	}
	var out []*Index
	for _, e := range ents {
		name := e.Name()
		_, kind, ok := parseSegName(name)
		if seg, open := segKind(kind); !ok || !seg || open || !e.Type().IsRegular() {
			continue
		}
		x, err := readIndex(indexPath(dir, name))
		if err != nil || x.File != name {
			if x, _, _, err = scanSegment(filepath.Join(dir, name)); err != nil {
				continue
			}
			x.File = name
		}
		out = append(out, x)
	}
	sortIndexes(out)
	res := make([]Index, len(out))
	for i, x := range out {
		res[i] = *x
	}
	return res, nil
}

// ExtractStats says what [Extract] wrote.
type ExtractStats struct {
	Segments int       `json:"segments"`
	Packets  int64     `json:"packets"`
	HEP      int64     `json:"hep"`
	Bytes    int64     `json:"bytes"`
	First    time.Time `json:"first,omitzero"`
	Last     time.Time `json:"last,omitzero"`
}

// Extract writes the packets of the segments in dir whose timestamps lie
// in [from, to] to w as one pcapng stream. Consecutive segments of the same
// capture share one section; a segment of another capture (after a restart)
// starts a new section, which pcapng readers handle.
func Extract(ctx context.Context, dir string, segs []Index, from, to time.Time, w io.Writer) (ExtractStats, error) {
	var st ExtractStats
	cw := &countWriter{w: w}
	var lastHeader []byte
	for _, x := range segs {
		if !x.Overlaps(from, to) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if strings.ContainsAny(x.File, `/\`) {
			return st, fmt.Errorf("recorder: bad segment name %q", x.File)
		}
		f, err := openRegular(filepath.Join(dir, x.File))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted by the ring meanwhile
			}
			return st, fmt.Errorf("recorder: %w", err)
		}
		var n, hep int64
		r, _, err := segReader(f)
		if err == nil {
			n, hep, err = extractOne(r, from, to, cw, &lastHeader, &st)
		}
		f.Close()
		if err != nil {
			return st, fmt.Errorf("recorder: read %s: %w", x.File, err)
		}
		if n > 0 {
			st.Segments++
			st.Packets += n
			st.HEP += hep
		}
	}
	st.Bytes = cw.n
	return st, nil
}

func extractOne(r io.Reader, from, to time.Time, w io.Writer, lastHeader *[]byte, st *ExtractStats) (n, hep int64, err error) {
	var sec section
	emitted := false // this section's header went out
	lo, hi := from.UnixNano(), to.UnixNano()
	_, err = scanBlocks(r, func(typ uint32, b []byte) error {
		switch typ {
		case blockSHB:
			sec.reset(b)
			emitted = false
		case blockIDB:
			sec.addIDB(b)
			if emitted {
				*lastHeader = append(*lastHeader, b...)
				_, err := w.Write(b)
				return err
			}
		case blockEPB:
			p, ok := parseEPB(b, sec.units)
			if !ok || p.ts < lo || p.ts > hi {
				return nil
			}
			if !emitted {
				if !bytes.Equal(*lastHeader, sec.header) {
					if _, err := w.Write(sec.header); err != nil {
						return err
					}
					*lastHeader = append((*lastHeader)[:0], sec.header...)
				}
				emitted = true
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
			n++
			if sec.isHEP(p.iface) {
				hep++
			}
			ts := time.Unix(0, p.ts).UTC()
			if st.First.IsZero() || ts.Before(st.First) {
				st.First = ts
			}
			if ts.After(st.Last) {
				st.Last = ts
			}
		}
		return nil
	})
	return n, hep, err
}

// countWriter counts the bytes that reached w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
