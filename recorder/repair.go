package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// scanSegment reads a segment file and returns its index as rebuilt from
// its packets, and the length of its well-formed prefix.
func scanSegment(path string) (*Index, int64, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	x := &Index{Writer: writerTag}
	var ids callIDs
	var sec section
	n, err := scanBlocks(f, func(typ uint32, b []byte) error {
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
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	x.Bytes = n
	x.CallIDs, x.CallIDsTruncated = ids.list, ids.truncated
	return x, n, nil
}

// ours reports whether the start of a file is a section header written by
// pbxagent (its shb_userappl option names it).
func ours(path string) bool {
	f, err := openRegular(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := f.Read(head)
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
		switch kind {
		case "pcapng":
			x, err := readIndex(indexPath(dir, name))
			if err != nil || x.File != name {
				if x, err = reindex(dir, path, name, false, log); err != nil {
					log.Warn("recorder: segment left alone", "file", path, "err", err)
					continue
				}
			}
			segs = append(segs, x)
		case "pcapng.open":
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
		case "idx.json":
			seg := strings.TrimSuffix(name, ".idx.json") + ".pcapng"
			if !have[seg] && !have[seg+".open"] {
				if x, err := readIndex(path); err == nil && x.File == seg {
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
	x, n, err := scanSegment(path)
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
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() != n {
		if err := os.Truncate(path, n); err != nil {
			return nil, fmt.Errorf("cut to its readable prefix: %w", err)
		}
		x.Repaired = true
		log.Warn("recorder: segment cut off by a crash repaired", "file", path, "kept_bytes", n, "dropped_bytes", fi.Size()-n)
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
