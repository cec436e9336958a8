package recorder

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzWrite feeds arbitrary bytes to the ring's stream parser and the crash
// repair: neither may panic, and whatever the ring kept must read back.
func FuzzWrite(f *testing.F) {
	f.Add(stream(f, t0, time.Millisecond, 3, 80, "lo"))
	f.Add(stream(f, t0, time.Millisecond, 3, 80, HEPInterface)[:150])
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		r, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		r.Write(data)
		r.Close()
		os.WriteFile(filepath.Join(dir, "seg-0000000000000000001.pcapng.open"), data, 0o600)
		if _, err := Open(Options{Dir: dir}); err != nil {
			t.Fatal(err)
		}
		segs, err := Finished(dir)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := Extract(t.Context(), dir, segs, time.Time{}, time.Unix(1<<40, 0), &buf); err != nil {
			t.Fatal(err)
		}
	})
}
