package agent

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/pbxagent/pbxagent/bundle"
)

func TestParseLogTime(t *testing.T) {
	utc := time.UTC
	for _, c := range []struct {
		line string
		want time.Time
		ok   bool
	}{
		{"2026-11-27 10:15:00.123 [INFO] x", time.Date(2026, 11, 27, 10, 15, 0, 123e6, utc), true},
		{"[2026-11-27 10:15:00] INFO", time.Date(2026, 11, 27, 10, 15, 0, 0, utc), true},
		{"2026-11-27T10:15:00,5+01:00 x", time.Date(2026, 11, 27, 9, 15, 0, 5e8, utc), true},
		{"2026-11-27T10:15:00Z", time.Date(2026, 11, 27, 10, 15, 0, 0, utc), true},
		{"    at continuation 2026-11-27 10:15:00", time.Time{}, false},
		{"2026-13-27 10:15:00 bad month", time.Time{}, false},
	} {
		got, ok := parseLogTime([]byte(c.line), utc)
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("parseLogTime(%q) = %v %v, want %v %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// TestPastLogWindow: the lines of the active log and of a rotated .gz
// archive whose timestamps fall in the window are in the bundle (with the
// untimed lines that follow them), lines outside are not, and an archive
// rotated before the window is not read.
func TestPastLogWindow(t *testing.T) {
	a, dir := testAgent(t)
	now := time.Now()
	ts := func(d time.Duration) string { return now.Add(d).Local().Format("2006-01-02 15:04:05.000") }
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(ts(-30*time.Minute) + " [INFO] ARCHIVE-OLD\n" + ts(-8*time.Minute) + " [INFO] ARCHIVE-IN\n  trace ARCHIVE-CONT\n"))
	zw.Close()
	writeLog(t, dir, "callmanager.log.1.gz", gz.Bytes(), now, 7*time.Minute)
	writeLog(t, dir, "callmanager.log.2.gz", gz.Bytes(), now, 2*time.Hour) // rotated before the window
	writeLog(t, dir, "callmanager.log", []byte(ts(-6*time.Minute)+" [INFO] ACTIVE-IN password=hunter2secret\n"+
		ts(time.Hour)+" [INFO] ACTIVE-FUTURE\n  trace FUTURE-CONT\n"), now, 0)
	a.cfg.Agent.StateDir = t.TempDir()
	res, err := a.Bundle(context.Background(), BundleRequest{Past: LastWindow(10*time.Minute, now), OutputDir: t.TempDir(), NoSign: true, NoCapture: true, Format: bundle.Zip})
	if err != nil {
		t.Fatal(err)
	}
	files := readBundle(t, res.Path)
	got := string(files[windowLogName])
	for _, want := range []string{"ARCHIVE-IN", "ARCHIVE-CONT", "ACTIVE-IN"} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s:\n%s", windowLogName, want, got)
		}
	}
	for _, not := range []string{"ARCHIVE-OLD", "ACTIVE-FUTURE", "FUTURE-CONT", "hunter2secret"} {
		if strings.Contains(got, not) {
			t.Errorf("%s holds %s:\n%s", windowLogName, not, got)
		}
	}
	if n := strings.Count(got, "ARCHIVE-IN"); n != 1 {
		t.Errorf("ARCHIVE-IN %d times: the archive rotated before the window must not be read", n)
	}
}

func TestWindowLinesBounded(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := strings.Repeat("2026-01-01 00:00:01 x\n", 100)
	var out bytes.Buffer
	cut, err := windowLines(strings.NewReader(in), from, from.Add(time.Minute), time.UTC, &out, 100)
	if err != nil || !cut || out.Len() > 100 || out.Len() == 0 {
		t.Fatalf("cut %v err %v len %d, want cut at most 100 bytes", cut, err, out.Len())
	}
}

// readBundle returns the files of a zip bundle.
func readBundle(t *testing.T, path string) map[string][]byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return files
}

// FuzzWindowLines: any log content is read without a panic, and what is
// kept is within the limit and made of whole lines of the input.
func FuzzWindowLines(f *testing.F) {
	f.Add([]byte("2026-01-01 00:00:01.5 [INFO] a\n  cont\n2026-01-01 00:09:00 b\n"))
	f.Add([]byte("[2026-01-01T00:00:01+0100] x\nno stamp\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var out bytes.Buffer
		if _, err := windowLines(bytes.NewReader(data), from, from.Add(5*time.Minute), time.UTC, &out, 1<<10); err != nil {
			t.Fatal(err)
		}
		if out.Len() > 1<<10 {
			t.Fatalf("%d bytes kept, limit 1024", out.Len())
		}
		if out.Len() > 0 && out.Bytes()[out.Len()-1] != '\n' {
			t.Fatal("kept text does not end a line")
		}
	})
}
