package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// scanSegment reads a segment file and returns its index as rebuilt from
// its packets, the length of the well-formed prefix of its pcapng stream
// and whether the file holds more than that prefix (a compressed segment
// cut off by a crash, or a torn last block).
func scanSegment(path string) (*Index, int64, bool, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, 0, false, err
	}
	defer f.Close()
	r, gz, err := segReader(f)
	if err != nil {
		return nil, 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	x := &Index{Writer: writerTag}
	var ids callIDs
	var sec section
	n, err := scanBlocks(r, func(typ uint32, b []byte) error {
		switch typ {
		case blockSHB:
			sec.reset(b)
		case blockIDB:
			sec.addIDB(b)
		case blockEPB:
			p, ok := parseEPB(b, sec.units)
			if !ok {
				return errCorrupt
			}
			ts := time.Unix(0, p.ts).UTC()
			if x.Packets == 0 || ts.Before(x.First) {
				x.First = ts
			}
			if ts.After(x.Last) {
				x.Last = ts
			}
			x.Packets++
			if sec.isHEP(p.iface) {
				x.HEP++
			}
			if id := sipCallID(p.data); id != nil {
				ids.add(id)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errCorrupt) {
		return nil, 0, false, fmt.Errorf("read %s: %w", path, err)
	}
	x.CallIDs, x.CallIDsTruncated = ids.list, ids.truncated
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, false, err
	}
	x.Bytes = fi.Size()
	if gz == nil {
		return x, n, fi.Size() != n, nil
	}
	x.Stream = n
	rest, _ := io.Copy(io.Discard, r) // what followed the readable blocks
	return x, n, gz.err != nil || rest > 0 || n != gz.n, nil
}

// ours reports whether the start of a file is a section header written by
// pbxagent (its shb_userappl option names it).
func ours(path string) bool {
	f, err := openRegular(path)
	if err != nil {
		return false
	}
	defer f.Close()
	r, _, err := segReader(f)
	if err != nil {
		return false
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(r, head)
	head = head[:n]
	typ, l, ok, err := blockLen(head)
	if err != nil || !ok || typ != blockSHB || l > len(head) {
		return false
	}
	return bytes.Contains(head[:l], []byte("pbxagent"))
}

// repairAll lists the ring folder: finished segments are indexed (their
// index rebuilt if missing), a segment left open by a crash is cut to its
// readable prefix and finished, or removed when nothing in it is readable.
// Files the recorder cannot prove it wrote are left alone.
func repairAll(dir string, log *slog.Logger) (segs []*Index, repaired, discarded int, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("recorder: list %s: %w", dir, err)
	}
	have := map[string]bool{}
	for _, e := range ents {
		have[e.Name()] = true
	}
	for _, e := range ents {
		name := e.Name()
		_, kind, ok := parseSegName(name)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, name)
		seg, open := segKind(kind)
		switch {
		case seg && !open:
			x, err := readIndex(indexPath(dir, name))
			if err != nil || x.File != name {
				if x, err = reindex(dir, path, name, false, log); err != nil {
					log.Warn("recorder: segment left alone", "file", path, "err", err)
					continue
				}
			}
			segs = append(segs, x)
		case seg && open:
			final := strings.TrimSuffix(name, ".open")
			if have[final] {
				log.Warn("recorder: open segment beside a finished one of the same name left alone", "file", path)
				continue
			}
			x, err := reindex(dir, path, final, true, log)
			switch {
			case err == nil:
				segs = append(segs, x)
				repaired++
			case errors.Is(err, errEmpty):
				discarded++
			default:
				log.Warn("recorder: open segment left alone", "file", path, "err", err)
			}
		case kind == "idx.json":
			base := strings.TrimSuffix(name, ".idx.json")
			if !have[base+".pcapng"] && !have[base+".pcapng.open"] && !have[base+segSuffix] && !have[base+segSuffix+".open"] {
				if x, err := readIndex(path); err == nil && (x.File == base+".pcapng" || x.File == base+segSuffix) {
					os.Remove(path)
				}
			}
		}
	}
	sortIndexes(segs)
	syncDir(dir)
	return segs, repaired, discarded, nil
}

// errEmpty marks a segment with no readable packet, which was removed.
var errEmpty = errors.New("no readable packet")

// reindex rebuilds the index of a segment; for one left open by a crash it
// also cuts the file to its readable prefix and renames it finished.
func reindex(dir, path, final string, open bool, log *slog.Logger) (*Index, error) {
	if !ours(path) {
		if open {
			if fi, err := os.Lstat(path); err == nil && fi.Size() < 512 && fi.Mode().IsRegular() {
				// Cut off before its section header was complete: a file
				// this small with the recorder's name holds nothing.
				if err := os.Remove(path); err != nil {
					return nil, err
				}
				log.Info("recorder: dropped a segment cut off before its first packet", "file", path)
				return nil, errEmpty
			}
		}
		return nil, errors.New("does not start with a pbxagent section header")
	}
	x, n, torn, err := scanSegment(path)
	if err != nil {
		return nil, err
	}
	x.File = final
	if x.Packets == 0 {
		if err := os.Remove(path); err != nil {
			return nil, err
		}
		log.Info("recorder: dropped a segment without a readable packet", "file", path)
		return nil, errEmpty
	}
	if torn {
		size, err := cutToPrefix(path, n, x.Bytes)
		if err != nil {
			return nil, fmt.Errorf("cut to its readable prefix: %w", err)
		}
		log.Warn("recorder: segment cut off by a crash repaired", "file", path, "kept_bytes", size, "dropped_bytes", x.Bytes-size)
		x.Bytes, x.Repaired = size, true
	}
	if open {
		if f, err := os.OpenFile(path, os.O_WRONLY|noFollow, 0); err == nil {
			_ = f.Sync()
			f.Close()
		}
		x.Repaired = true
	}
	if err := writeIndex(dir, x); err != nil {
		return nil, err
	}
	if open {
		if err := os.Rename(path, filepath.Join(dir, final)); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// cutToPrefix keeps the first n bytes of a segment's pcapng stream: a plain
// file is truncated, a compressed one rewritten. It returns the new size.
func cutToPrefix(path string, n, size int64) (int64, error) {
	if strings.HasSuffix(strings.TrimSuffix(path, ".open"), segSuffix) || isGzip(path) {
		return rewriteGzip(path, n)
	}
	if n == size {
		return n, nil
	}
	return n, os.Truncate(path, n)
}

// isGzip reports whether a file starts with gzip's magic.
func isGzip(path string) bool {
	f, err := openRegular(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	_, err = io.ReadFull(f, head)
	return err == nil && bytes.Equal(head, gzipMagic)
}
