package collectors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

// CDRCursorFile is the file, in the state folder, that remembers the last
// CDR the service's call_failures check has read, so a restart neither
// re-reads nor skips calls. Only the service writes it (Persist).
const CDRCursorFile = "cdr-cursor.json"

// cdrCursor is the content of CDRCursorFile: the end time of the newest CDR
// read, the IDs of the CDRs that ended at that time, and the calls of the
// window (numbers masked), so that a restart keeps counting the burst.
type cdrCursor struct {
	Version int         `json:"version"`
	At      time.Time   `json:"at,omitzero"`
	IDs     []string    `json:"ids,omitempty"`
	Events  []callEvent `json:"events,omitempty"`
}

func (c *CallFailures) cursorPath() string {
	if c.stateDir == "" {
		return ""
	}
	return filepath.Join(c.stateDir, CDRCursorFile)
}

// loadCursor reads the cursor; a missing or unreadable one starts afresh.
func (c *CallFailures) loadCursor() cdrCursor {
	p := c.cursorPath()
	if p == "" {
		return cdrCursor{}
	}
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxCursorFile {
		return cdrCursor{}
	}
	b, err := os.ReadFile(p)
	var cur cdrCursor
	if err != nil || json.Unmarshal(b, &cur) != nil || cur.Version != 1 {
		return cdrCursor{}
	}
	return cur
}

// Persist saves the cursor, so that the next start of the service reads on
// from the last CDR this one read. Only the service calls it: `status` and
// `bundle` read the CDRs after the saved cursor without moving it, so a
// later service start never skips the calls they saw.
func (c *CallFailures) Persist() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.saveCursor(); err != nil {
		return fmt.Errorf("remember the last CDR read: %w", err)
	}
	return nil
}

// saveCursor writes the cursor (0600) when it moved.
func (c *CallFailures) saveCursor() error {
	p := c.cursorPath()
	if p == "" || c.cur.At.IsZero() {
		return nil
	}
	b, err := json.Marshal(c.cur)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(p); err == nil && string(old) == string(b) {
		return nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(c.stateDir, 0o700); err != nil {
		return err
	}
	return atomicfile.Write(p, b, 0o600)
}
