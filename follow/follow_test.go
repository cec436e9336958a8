package follow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineLen is the length of one numbered test line, "line 000001\n".
const lineLen = 12

// hangLimit is a generous bound used only to detect a hung Run.
const hangLimit = 5 * time.Second

func line(n int) string { return fmt.Sprintf("line %06d\n", n) }

// lines returns the numbered lines from..to inclusive.
func lines(from, to int) string {
	var b strings.Builder
	for n := from; n <= to; n++ {
		b.WriteString(line(n))
	}
	return b.String()
}

// logWriter imitates the PBX writing callmanager.log: numbered lines,
// appended through an O_APPEND handle, with rotation on demand.
type logWriter struct {
	t    *testing.T
	path string

	mu   sync.Mutex
	file *os.File
	n    int // last line number written

	stop chan struct{}
	done chan struct{}
}

func newLogWriter(t *testing.T, path string) *logWriter {
	t.Helper()
	lw := &logWriter{t: t, path: path}
	lw.file = lw.create()
	t.Cleanup(func() {
		lw.halt()
		lw.mu.Lock()
		defer lw.mu.Unlock()
		_ = lw.file.Close()
	})
	return lw
}

func (lw *logWriter) create() *os.File {
	f, err := createAppend(lw.path)
	if err != nil {
		lw.t.Errorf("create %s: %v", lw.path, err)
	}
	return f
}

// write appends k lines and returns the last line number.
func (lw *logWriter) write(k int) int {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	for range k {
		lw.n++
		if _, err := lw.file.WriteString(line(lw.n)); err != nil {
			lw.t.Errorf("write line %d: %v", lw.n, err)
		}
	}
	return lw.n
}

// last returns the last line number written.
func (lw *logWriter) last() int {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.n
}

// start writes one line every interval in a goroutine until halt.
func (lw *logWriter) start(every time.Duration) {
	lw.stop = make(chan struct{})
	lw.done = make(chan struct{})
	go func() {
		defer close(lw.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-lw.stop:
				return
			case <-tk.C:
				lw.write(1)
			}
		}
	}()
}

// halt stops the writer goroutine and waits for it.
func (lw *logWriter) halt() {
	if lw.stop == nil {
		return
	}
	close(lw.stop)
	<-lw.done
	lw.stop = nil
}

// rotateRename rotates logrotate "create" style, the slow way a real
// writer does it: rename the file (the writer keeps appending to the
// renamed file), leave the path missing for gap, create the new file
// (still empty while the writer appends to the old one for another gap),
// then reopen.
func (lw *logWriter) rotateRename(suffix string, gap time.Duration) {
	lw.mu.Lock()
	if err := os.Rename(lw.path, lw.path+suffix); err != nil {
		lw.t.Errorf("rename: %v", err)
	}
	lw.mu.Unlock()
	time.Sleep(gap)
	next := lw.create()
	time.Sleep(gap)
	lw.mu.Lock()
	_ = lw.file.Close()
	lw.file = next
	lw.mu.Unlock()
}

// rotateCopyTruncate rotates logrotate "copytruncate" style and returns the
// last line number written before the truncation.
func (lw *logWriter) rotateCopyTruncate(suffix string) int {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	data, err := os.ReadFile(lw.path)
	if err != nil {
		lw.t.Errorf("copy: %v", err)
	}
	if err := os.WriteFile(lw.path+suffix, data, 0o644); err != nil {
		lw.t.Errorf("copy: %v", err)
	}
	// Truncate through the path: the writer's handle is append-only.
	if err := os.Truncate(lw.path, 0); err != nil {
		lw.t.Errorf("truncate: %v", err)
	}
	return lw.n
}

// fill appends k lines with a single write and returns the last line
// number.
func (lw *logWriter) fill(k int) int {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if _, err := lw.file.WriteString(lines(lw.n+1, lw.n+k)); err != nil {
		lw.t.Errorf("write: %v", err)
	}
	lw.n += k
	return lw.n
}

// parseLines returns the line numbers in out, failing on malformed data.
func parseLines(t *testing.T, out string) []int {
	t.Helper()
	if out == "" {
		return nil
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output ends mid-line: %q", out[max(0, len(out)-20):])
	}
	var nums []int
	for l := range strings.Lines(out) {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(l, "line "), "\n"))
		if err != nil || len(l) != lineLen {
			t.Fatalf("malformed line %q", l)
		}
		nums = append(nums, n)
	}
	return nums
}

type runResult struct {
	stats Stats
	err   error
}

// startRun runs fl.Run in a goroutine writing to out.
func startRun(ctx context.Context, fl *Follower, out io.Writer) <-chan runResult {
	ch := make(chan runResult, 1)
	go func() {
		st, err := fl.Run(ctx, out)
		ch <- runResult{st, err}
	}()
	return ch
}

// wait waits for Run to return, failing if it hangs.
func wait(t *testing.T, ch <-chan runResult) runResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(hangLimit):
		t.Fatalf("Run did not return within %v", hangLimit)
		return runResult{}
	}
}

// runOnce runs one poll and the final drain: Run with a done context.
func runOnce(t *testing.T, fl *Follower) (string, Stats) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	st, err := fl.Run(ctx, &out)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Bytes != int64(out.Len()) {
		t.Fatalf("Stats.Bytes = %d, wrote %d", st.Bytes, out.Len())
	}
	return out.String(), st
}

func openT(t *testing.T, path string, opt Options) *Follower {
	t.Helper()
	fl, err := Open(path, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = fl.Close() })
	return fl
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read history: %v", err)
	}
	return string(b)
}

// followRotations runs a live follow with a steady writer and the given
// number of rename rotations, and checks that History plus Run hold every
// line exactly once and in order.
func followRotations(t *testing.T, rotations int) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	before := lw.write(200)

	fl := openT(t, path, Options{Poll: 10 * time.Millisecond})
	if got, want := fl.StartOffset(), int64(before*lineLen); got != want {
		t.Fatalf("StartOffset = %d, want %d", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	res := startRun(ctx, fl, &out)
	lw.start(time.Millisecond)

	time.Sleep(80 * time.Millisecond)
	for i := range rotations {
		lw.rotateRename("."+strconv.Itoa(i+1), 15*time.Millisecond)
		time.Sleep(60 * time.Millisecond)
	}

	// History reads the original file, renamed by now, concurrently
	// with Run.
	hr, length, skipped := fl.History(1 << 30)
	if got := readAll(t, hr); got != lines(1, before) {
		t.Errorf("History holds %d bytes, want exactly lines 1..%d", len(got), before)
	}
	if length != int64(before*lineLen) || skipped != 0 {
		t.Errorf("History length, skipped = %d, %d; want %d, 0", length, skipped, before*lineLen)
	}

	lw.halt()
	last := lw.last()
	cancel()
	r := wait(t, res)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	got := parseLines(t, out.String())
	if len(got) != last-before || (len(got) > 0 && (got[0] != before+1 || got[len(got)-1] != last)) {
		t.Errorf("Run delivered %d lines, want %d..%d", len(got), before+1, last)
	}
	if out.String() != lines(before+1, last) {
		t.Errorf("Run output is not exactly lines %d..%d once each, in order", before+1, last)
	}
	if r.stats.Renames != rotations || r.stats.Truncations != 0 {
		t.Errorf("Renames, Truncations = %d, %d; want %d, 0", r.stats.Renames, r.stats.Truncations, rotations)
	}
	if r.stats.Bytes != int64(out.Len()) || r.stats.Dropped != 0 {
		t.Errorf("Stats = %+v, output %d bytes", r.stats, out.Len())
	}
	t.Logf("%d lines followed across %d files", len(got), rotations+1)
}

func TestFollowRename(t *testing.T) { followRotations(t, 1) }

func TestFollowSeveralRenames(t *testing.T) { followRotations(t, 4) }

func TestFollowCopyTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	before := lw.write(300)

	fl := openT(t, path, Options{Poll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	res := startRun(ctx, fl, &out)
	lw.start(time.Millisecond)

	time.Sleep(100 * time.Millisecond)
	truncatedAfter := lw.rotateCopyTruncate(".1")
	time.Sleep(100 * time.Millisecond)
	lw.halt()
	last := lw.last()
	cancel()
	r := wait(t, res)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}

	got := parseLines(t, out.String())
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("line %d follows line %d: duplicate or out of order", got[i], got[i-1])
		}
	}
	if len(got) == 0 || got[0] != before+1 {
		t.Fatalf("output does not start at line %d", before+1)
	}
	if !strings.HasSuffix(out.String(), lines(truncatedAfter+1, last)) {
		t.Errorf("lines %d..%d written after the truncation are not all present", truncatedAfter+1, last)
	}
	if r.stats.Truncations != 1 || r.stats.Renames != 0 {
		t.Errorf("Truncations, Renames = %d, %d; want 1, 0", r.stats.Truncations, r.stats.Renames)
	}
	t.Logf("lost %d of %d lines to copytruncate", last-before-len(got), last-before)
}

func TestTruncateDetected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	lw.write(100)
	fl := openT(t, path, Options{})

	lw.write(10)
	if out, _ := runOnce(t, fl); out != lines(101, 110) {
		t.Fatalf("first window = %q", out)
	}

	// Truncated and regrown to fewer bytes than the read offset.
	lw.rotateCopyTruncate(".1")
	lw.write(5)
	out, st := runOnce(t, fl)
	if out != lines(111, 115) || st.Truncations != 1 {
		t.Fatalf("after shrink: Truncations %d, output %q", st.Truncations, out)
	}

	// Truncated and regrown past the read offset between two polls: only
	// the changed bytes before the offset reveal it.
	lw.rotateCopyTruncate(".2")
	lw.write(50)
	out, st = runOnce(t, fl)
	if out != lines(116, 165) || st.Truncations != 1 {
		t.Fatalf("after regrowth: Truncations %d, got lines %v", st.Truncations, parseLines(t, out))
	}
}

func TestFinalDrainAfterRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	lw.write(3)
	fl := openT(t, path, Options{Poll: time.Hour})

	// Between two polls: more lines, rename, lines to the renamed file,
	// then a new file with lines of its own.
	lw.write(5)
	lw.rotateRename(".1", 0)
	lw.write(4)
	out, st := runOnce(t, fl)
	if out != lines(4, 12) || st.Renames != 1 {
		t.Fatalf("Renames %d, output %q", st.Renames, out)
	}
	hr, _, _ := fl.History(1 << 20)
	if got := readAll(t, hr); got != lines(1, 3) {
		t.Fatalf("History = %q", got)
	}
}

func TestMissingPathWaited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	fl := openT(t, path, Options{})
	lw.write(2)
	lw.mu.Lock()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	lw.mu.Unlock()
	lw.write(2)
	out, st := runOnce(t, fl)
	if out != lines(1, 4) || st.Renames != 0 {
		t.Fatalf("with path missing: Renames %d, output %q", st.Renames, out)
	}
	next := lw.create()
	lw.mu.Lock()
	_ = lw.file.Close()
	lw.file = next
	lw.mu.Unlock()
	lw.write(3)
	out, st = runOnce(t, fl)
	if out != lines(5, 7) || st.Renames != 1 {
		t.Fatalf("after re-creation: Renames %d, output %q", st.Renames, out)
	}
}

func TestFinalDrainOnCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	lw.write(10)
	// A poll interval far longer than the test: only the final drain
	// can pick up the lines, and cancel must interrupt the wait.
	fl := openT(t, path, Options{Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	res := startRun(ctx, fl, &out)
	time.Sleep(50 * time.Millisecond)
	lw.write(50)
	cancelled := time.Now()
	cancel()
	r := wait(t, res)
	t.Logf("Run returned %v after cancel", time.Since(cancelled))
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	if out.String() != lines(11, 60) {
		t.Fatalf("final drain delivered %d bytes, want lines 11..60", out.Len())
	}
}

func TestCancelPrompt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	newLogWriter(t, path).write(1)
	fl := openT(t, path, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	res := startRun(ctx, fl, io.Discard)
	time.Sleep(30 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	r := wait(t, res) // fails on a hang
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	t.Logf("Run returned %v after cancel", time.Since(cancelled))
}

func TestMaxBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	fl := openT(t, path, Options{MaxBytes: 500})
	lw.write(100)
	out, st := runOnce(t, fl)
	if out != lines(1, 100)[:500] || st.Bytes != 500 || st.Dropped != 700 {
		t.Fatalf("Bytes %d, Dropped %d, output %d bytes", st.Bytes, st.Dropped, len(out))
	}
	// The cap applies per Run; a later Run continues after the dropped
	// bytes.
	lw.write(10)
	out, st = runOnce(t, fl)
	if out != lines(101, 110) || st.Dropped != 0 {
		t.Fatalf("second window: Dropped %d, output %q", st.Dropped, out)
	}
}

func TestHistoryLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	lw.write(200)
	fl := openT(t, path, Options{})
	lw.write(20) // after Open: not history

	r, length, skipped := fl.History(50 * lineLen)
	if got := readAll(t, r); got != lines(151, 200) {
		t.Errorf("History(50 lines) = %d bytes, want lines 151..200", len(got))
	}
	if length != 50*lineLen || skipped != 150*lineLen {
		t.Errorf("length, skipped = %d, %d", length, skipped)
	}
	r, length, skipped = fl.History(0)
	if got := readAll(t, r); got != "" || length != 0 || skipped != 200*lineLen {
		t.Errorf("History(0) = %q, %d, %d", got, length, skipped)
	}
}

func TestOpenMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	_, err := Open(path, Options{})
	if err == nil {
		t.Fatal("Open of a missing file succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q: want fs.ErrNotExist naming the path", err)
	}
	if _, err := Open(t.TempDir(), Options{}); err == nil {
		t.Fatal("Open of a directory succeeded")
	}
}

func TestCloseStopsRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	fl, err := Open(path, Options{Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res := startRun(context.Background(), fl, &out)

	// A second concurrent Run is refused.
	time.Sleep(50 * time.Millisecond)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	deadline := time.Now().Add(hangLimit)
	for {
		_, err := fl.Run(done, io.Discard)
		if errors.Is(err, ErrBusy) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("concurrent Run: got %v, want ErrBusy", err)
		}
		time.Sleep(5 * time.Millisecond)
	}

	lw.write(5)
	if err := fl.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r := wait(t, res)
	if r.err != nil || out.String() != lines(1, 5) {
		t.Fatalf("Run after Close: err %v, output %q", r.err, out.String())
	}
	if _, err := fl.Run(context.Background(), io.Discard); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v, want ErrClosed", err)
	}
	if err := fl.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	fl := openT(t, path, Options{})
	lw.write(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := fl.Run(ctx, failWriter{})
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Run with failing writer: %v", err)
	}
}

// copyTruncate rotates logrotate "copytruncate" style without holding up
// the writer, as logrotate does: lines appended between the copy and the
// truncation may be in neither file. It returns the last line number
// written once the file has been truncated; later lines are in the file.
func (lw *logWriter) copyTruncate(suffix string) int {
	data, err := os.ReadFile(lw.path)
	if err != nil {
		lw.t.Errorf("copy: %v", err)
	}
	if err := os.WriteFile(lw.path+suffix, data, 0o644); err != nil {
		lw.t.Errorf("copy: %v", err)
	}
	if err := os.Truncate(lw.path, 0); err != nil {
		lw.t.Errorf("truncate: %v", err)
	}
	return lw.last()
}

// followCopyTruncates follows a log that holds prefill lines and is then
// written every millisecond through several copytruncate rotations. It checks that every delivered line is
// delivered once and in order and that every line written after the last
// truncation is present, and returns the number of lines written after
// Open, how many of them Run did not deliver although a rotated copy holds
// them (missed), and how many neither Run nor a copy has (gone: written
// between a copy and its truncation, lost to the rotation itself).
func followCopyTruncates(t *testing.T, opt Options, rotations, prefill int) (written, missed, gone int, st Stats) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "callmanager.log")
	lw := newLogWriter(t, path)
	before := lw.fill(prefill)

	fl := openT(t, path, opt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	res := startRun(ctx, fl, &out)
	lw.start(time.Millisecond)

	time.Sleep(50 * time.Millisecond)
	truncatedAfter := 0
	for i := range rotations {
		truncatedAfter = lw.copyTruncate("." + strconv.Itoa(i+1))
		time.Sleep(50 * time.Millisecond)
	}
	lw.halt()
	last := lw.last()
	cancel()
	r := wait(t, res)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}

	got := parseLines(t, out.String())
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("line %d follows line %d: duplicate or out of order", got[i], got[i-1])
		}
	}
	if len(got) == 0 || got[0] <= before {
		t.Fatalf("output does not start after line %d", before)
	}
	if !strings.HasSuffix(out.String(), lines(truncatedAfter+1, last)) {
		t.Errorf("lines %d..%d written after the last truncation are not all present", truncatedAfter+1, last)
	}
	if r.stats.Truncations != rotations || r.stats.Renames != 0 {
		t.Errorf("Truncations, Renames = %d, %d; want %d, 0", r.stats.Truncations, r.stats.Renames, rotations)
	}

	delivered := make(map[int]bool, len(got))
	for _, n := range got {
		delivered[n] = true
	}
	copied := make(map[int]bool)
	for i := range rotations {
		data, err := os.ReadFile(path + "." + strconv.Itoa(i+1))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range parseLines(t, string(data)) {
			copied[n] = true
		}
	}
	for n := before + 1; n <= last; n++ {
		switch {
		case delivered[n]:
		case copied[n]:
			missed++
		default:
			gone++
		}
	}
	return last - before, missed, gone, r.stats
}

// TestCopyTruncateLoss measures the lines copytruncate rotation costs, with
// change notification and with polling only. Lines written after Run's last
// read and before a truncation are missed; notification makes that window
// (nearly) empty.
func TestCopyTruncateLoss(t *testing.T) {
	const rotations = 6
	// A log of 100 lines is copied faster than Run can react to the copy
	// opening it; one of 2 MB takes long enough, like a real log.
	const small, large = 100, 2 << 20 / lineLen
	for _, tc := range []struct {
		name    string
		opt     Options
		prefill int
	}{
		{"watch", Options{Poll: 25 * time.Millisecond}, small},
		{"watch-large", Options{Poll: 25 * time.Millisecond}, large},
		{"poll", Options{Poll: 25 * time.Millisecond, NoWatch: true}, small},
		{"poll-large", Options{Poll: 25 * time.Millisecond, NoWatch: true}, large},
	} {
		t.Run(tc.name, func(t *testing.T) {
			written, missed, gone, st := followCopyTruncates(t, tc.opt, rotations, tc.prefill)
			t.Logf("missed %d and lost to the rotation %d of %d lines over %d copytruncate rotations (watched %v)",
				missed, gone, written, rotations, st.Watched)
			if !st.Watched {
				if !tc.opt.NoWatch && runtime.GOOS == "linux" {
					t.Log("inotify unavailable: polled only")
				}
				return
			}
			// Without notification up to a poll interval of lines
			// (25) is missed per rotation. With it, a line waits at
			// most busyWake to be read until the first rotation opens
			// the file, and is read at once from then on; scheduling
			// delays under load add a little.
			if limit := int(busyWake/time.Millisecond) + rotations; missed > limit {
				t.Errorf("missed %d lines over %d rotations with change notification, want at most %d", missed, rotations, limit)
			}
		})
	}
}
