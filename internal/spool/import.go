package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

// CorruptSuffix is added to an old queue file Import cannot convert: the
// file is kept aside under that name, never delivered and never deleted.
const CorruptSuffix = ".corrupt"

// Import moves the files named *ext directly in dir (the queue of an
// earlier version, in another format) into s, oldest first. Each one is
// converted, written to s atomically (mode 0600, fsynced, folder synced)
// under the old name with s's extension, and only then removed from dir,
// so a crash at any point leaves every item in one queue or the other,
// never in neither. An item found in both (a crash between the write and
// the removal) is not imported twice. A file that is not regular (never
// opened), cannot be read or cannot be converted is renamed to
// <name>.corrupt, logged, and left for the administrator. It returns how many items were imported.
func (s *Spool) Import(dir, ext string, convert func([]byte) ([]byte, error)) (int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read old queue folder: %w", err)
	}
	var names []string
	regular := map[string]bool{}
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ext) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
			regular[e.Name()] = e.Type().IsRegular()
		}
	}
	slices.Sort(names)
	n := 0
	var errs []error
	for _, name := range names {
		ok, err := s.importOne(dir, name, strings.TrimSuffix(name, ext)+s.ext, regular[name], convert)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			n++
		}
	}
	if n > 0 {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return n, errors.Join(errs...)
}

// importOne moves one old file; ok reports that it is now in s. A file
// that is not regular (a symlink, FIFO or device) is never opened.
func (s *Spool) importOne(dir, name, newName string, regular bool, convert func([]byte) ([]byte, error)) (ok bool, err error) {
	old := filepath.Join(dir, name)
	var data []byte
	err = errors.New("not a regular file")
	if regular {
		data, err = read(old)
	}
	if err == nil {
		data, err = convert(data)
	}
	if err != nil {
		aside := old + CorruptSuffix
		if rerr := os.Rename(old, aside); rerr != nil {
			return false, fmt.Errorf("set aside unreadable old queue file %s: %w", old, rerr)
		}
		atomicfile.SyncDir(dir)
		s.log.Error("old queue file cannot be read; kept aside, not delivered", "file", aside, "error", err)
		return false, nil
	}
	s.mu.Lock()
	err = atomicfile.Write(filepath.Join(s.dir, newName), data, 0o600)
	s.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("import old queue file %s: %w", old, err)
	}
	if err := os.Remove(old); err != nil {
		// The item is in both queues; the next start finds the old file
		// again and writes the same item under the same name, not a second one.
		return true, fmt.Errorf("remove imported old queue file %s: %w", old, err)
	}
	atomicfile.SyncDir(dir)
	s.log.Info("old queue file moved to the new queue", "from", old, "to", filepath.Join(s.dir, newName))
	return true, nil
}
