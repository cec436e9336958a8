package agent

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/safefs"
)

// testAgent returns an agent whose PBX log folder is a fresh temporary
// folder, and that folder.
func testAgent(t *testing.T) (*Agent, string) {
	t.Helper()
	cfg := config.Default()
	root := t.TempDir()
	cfg.PBX.DataDir = filepath.Join(root, "pbx")
	cfg.PBX.LogDir = filepath.Join(root, "pbx", "log")
	cfg.Agent.StateDir = filepath.Join(root, "state")
	if err := os.MkdirAll(cfg.PBX.LogDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return New(cfg, "", "test", nil), cfg.PBX.LogDir
}

// writeLog creates dir/rel with data and the given age relative to now.
func writeLog(t *testing.T, dir, rel string, data []byte, now time.Time, age time.Duration) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	mt := now.Add(-age)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	return p
}

// lines returns n log lines of exactly width bytes each, newline included.
func lines(n, width int, tag string) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		l := fmt.Sprintf("%s line %06d ", tag, i)
		l += strings.Repeat("x", width-1-len(l)) + "\n"
		b.WriteString(l)
	}
	return b.Bytes()
}

func planned(p *logPlan) []string {
	var out []string
	for _, f := range p.files {
		out = append(out, f.rel)
	}
	return out
}

func missingFor(p *logPlan, path string) (bundle.MissingEntry, bool) {
	for _, m := range p.missing {
		if m.Path == path {
			return m, true
		}
	}
	return bundle.MissingEntry{}, false
}

func totalKeep(p *logPlan) int64 {
	var n int64
	for _, f := range p.files {
		n += f.keep
	}
	return n
}

func TestPlanLogsOrderSinceAndCaps(t *testing.T) {
	a, dir := testAgent(t)
	now := time.Now()
	writeLog(t, dir, "callmanager.log", lines(50, 100, "cm"), now, 2*time.Hour) // oldest active, still first
	writeLog(t, dir, "b.log", lines(30, 100, "b"), now, time.Minute)
	writeLog(t, dir, "a.log", lines(10, 100, "a"), now, 30*time.Minute)
	writeLog(t, dir, "sub/c.log", lines(5, 100, "c"), now, time.Hour)
	writeLog(t, dir, "empty.log", nil, now, 3*time.Hour)
	writeLog(t, dir, "callmanager.log.1.gz", make([]byte, 800), now, time.Hour)
	writeLog(t, dir, "web.log.gz", make([]byte, 600), now, 10*time.Minute)
	writeLog(t, dir, "old1.log.gz", make([]byte, 700), now, 48*time.Hour)
	writeLog(t, dir, "OLD2.LOG.GZ", make([]byte, 900), now, 72*time.Hour)
	writeLog(t, dir, "sub/old3.gz", make([]byte, 100), now, 25*time.Hour)

	req := BundleRequest{Since: 24 * time.Hour, MaxFileSize: 4000, MaxSize: smallFiles + 1<<20}
	p := a.planLogs(req, now)

	want := []string{"callmanager.log", "b.log", "a.log", "sub/c.log", "empty.log", "web.log.gz", "callmanager.log.1.gz"}
	if got := planned(p); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("planned %q, want %q", got, want)
	}
	sizes := map[string]int64{"callmanager.log": 5000, "b.log": 3000, "a.log": 1000, "sub/c.log": 500, "empty.log": 0,
		"web.log.gz": 600, "callmanager.log.1.gz": 800}
	for _, f := range p.files {
		wantKeep := min(sizes[f.rel], req.MaxFileSize)
		if f.size != sizes[f.rel] || f.keep != wantKeep {
			t.Errorf("%s: size %d keep %d; want size %d keep %d", f.rel, f.size, f.keep, sizes[f.rel], wantKeep)
		}
		if f.archive != strings.HasSuffix(f.rel, ".gz") {
			t.Errorf("%s: archive = %v", f.rel, f.archive)
		}
		if f.src != filepath.Join(dir, filepath.FromSlash(f.rel)) {
			t.Errorf("%s: src = %q", f.rel, f.src)
		}
	}
	if len(p.warnings) != 1 {
		t.Fatalf("warnings = %q, want one about old archives", p.warnings)
	}
	w := p.warnings[0]
	if !strings.Contains(w, "3 archived logs") || !strings.Contains(w, "--since") {
		t.Errorf("warning %q does not give the count 3 and name --since", w)
	}
	for _, old := range []string{"old1.log.gz", "OLD2.LOG.GZ", "sub/old3.gz"} {
		if _, ok := missingFor(p, "logs/"+old); ok {
			t.Errorf("%s older than --since is listed as missing; the warning covers it", old)
		}
	}
	if len(p.missing) != 0 {
		t.Errorf("missing = %+v", p.missing)
	}
}

func TestPlanLogsNoWarningWithoutOldArchives(t *testing.T) {
	a, dir := testAgent(t)
	now := time.Now()
	writeLog(t, dir, "callmanager.log", []byte("x\n"), now, 100*time.Hour) // active logs ignore --since
	writeLog(t, dir, "new.gz", []byte("gz"), now, time.Hour)
	p := a.planLogs(BundleRequest{Since: 2 * time.Hour, MaxFileSize: 1 << 20, MaxSize: smallFiles + 1<<20}, now)
	if len(p.warnings) != 0 {
		t.Errorf("warnings = %q", p.warnings)
	}
	if got := planned(p); len(got) != 2 {
		t.Errorf("planned %q", got)
	}
}

func TestPlanLogsBudget(t *testing.T) {
	a, dir := testAgent(t)
	now := time.Now()
	writeLog(t, dir, "callmanager.log", lines(50, 100, "cm"), now, time.Hour) // 5000
	writeLog(t, dir, "new.log", lines(50, 100, "n"), now, time.Minute)        // 5000
	writeLog(t, dir, "mid.log", lines(50, 100, "m"), now, 10*time.Minute)     // 5000
	writeLog(t, dir, "old.log", lines(50, 100, "o"), now, 20*time.Minute)     // 5000
	writeLog(t, dir, "x.gz", make([]byte, 100), now, time.Minute)

	req := BundleRequest{Since: 24 * time.Hour, MaxFileSize: 4000, MaxSize: smallFiles + 9000}
	p := a.planLogs(req, now)
	keep := map[string]int64{}
	for _, f := range p.files {
		keep[f.rel] = f.keep
	}
	if keep["callmanager.log"] != 4000 || keep["new.log"] != 4000 || keep["mid.log"] != 1000 {
		t.Errorf("keep = %v; want callmanager.log 4000, new.log 4000, mid.log 1000", keep)
	}
	for _, rel := range []string{"old.log", "x.gz"} {
		m, ok := missingFor(p, "logs/"+rel)
		if !ok {
			t.Errorf("%s left out without a missing entry (missing: %+v)", rel, p.missing)
			continue
		}
		if !strings.Contains(m.Reason, "left out") || !strings.Contains(m.Reason, "--max-size") {
			t.Errorf("%s: reason %q", rel, m.Reason)
		}
		if _, in := keep[rel]; in {
			t.Errorf("%s both planned and missing", rel)
		}
	}
	if n := totalKeep(p); n > req.MaxSize-smallFiles {
		t.Errorf("planned %d bytes, budget is %d", n, req.MaxSize-smallFiles)
	}

	// The live window takes its share of the budget first.
	req.Duration = time.Minute
	p = a.planLogs(req, now)
	share := min(req.MaxFileSize, req.MaxSize/4)
	if n := totalKeep(p); n > req.MaxSize-smallFiles-share {
		t.Errorf("with a live window planned %d bytes, budget is %d", n, req.MaxSize-smallFiles-share)
	}

	// A --max-size below the room kept for small files leaves no logs,
	// and says so.
	p = a.planLogs(BundleRequest{Since: time.Hour, MaxFileSize: 1000, MaxSize: 1000}, now)
	if n := totalKeep(p); n != 0 {
		t.Errorf("with no budget planned %d bytes", n)
	}
	if _, ok := missingFor(p, "logs/callmanager.log"); !ok {
		t.Errorf("callmanager.log not reported missing with no budget: %+v", p.missing)
	}
}

func TestPlanLogsArchiveLargerThanBudget(t *testing.T) {
	a, dir := testAgent(t)
	now := time.Now()
	writeLog(t, dir, "callmanager.log", lines(30, 100, "cm"), now, time.Minute) // 3000
	writeLog(t, dir, "big.log.gz", make([]byte, 8000), now, time.Hour)          // newer, too big
	writeLog(t, dir, "small.log.gz", make([]byte, 2000), now, 2*time.Hour)      // fits
	writeLog(t, dir, "huge.log.gz", make([]byte, 6000), now, 3*time.Hour)       // over --max-file-size
	req := BundleRequest{Since: 24 * time.Hour, MaxFileSize: 5000, MaxSize: smallFiles + 10000}
	p := a.planLogs(req, now)
	if got := strings.Join(planned(p), " "); got != "callmanager.log small.log.gz" {
		t.Errorf("planned %q, want callmanager.log small.log.gz", got)
	}
	for _, f := range p.files {
		if f.archive && f.keep != f.size {
			t.Errorf("archived %s planned in part (%d of %d)", f.rel, f.keep, f.size)
		}
	}
	m, ok := missingFor(p, "logs/big.log.gz")
	if !ok || !strings.Contains(m.Reason, "does not fit") {
		t.Errorf("big.log.gz: missing %v %+v", ok, m)
	}
	if _, ok := missingFor(p, "logs/huge.log.gz"); !ok {
		t.Errorf("huge.log.gz over --max-file-size not reported: %+v", p.missing)
	}
}

// Sizes chosen by a seeded generator: whatever the mix, the plan keeps each
// file within --max-file-size, archives whole, and the sum within budget.
func TestPlanLogsBudgetNeverExceeded(t *testing.T) {
	now := time.Now()
	for seed := 1; seed <= 8; seed++ {
		a, dir := testAgent(t)
		x := uint32(seed * 7919)
		next := func(n uint32) uint32 { x = x*1664525 + 1013904223; return (x >> 8) % n }
		count := 0
		for i := 0; i < 12; i++ {
			name := fmt.Sprintf("f%02d.log", i)
			if next(3) == 0 {
				name += ".gz"
			}
			writeLog(t, dir, name, make([]byte, next(6000)), now, time.Duration(next(3600))*time.Second)
			count++
		}
		req := BundleRequest{Since: 24 * time.Hour, MaxFileSize: int64(500 + next(4000)), MaxSize: smallFiles + int64(next(20000))}
		p := a.planLogs(req, now)
		if n := totalKeep(p); n > req.MaxSize-smallFiles || n > req.MaxSize {
			t.Errorf("seed %d: planned %d bytes with --max-size %d", seed, n, req.MaxSize)
		}
		for _, f := range p.files {
			if f.keep > req.MaxFileSize || f.keep > f.size || (f.archive && f.keep != f.size) {
				t.Errorf("seed %d: %s keep %d of %d with --max-file-size %d", seed, f.rel, f.keep, f.size, req.MaxFileSize)
			}
		}
		if len(p.files)+len(p.missing) != count {
			t.Errorf("seed %d: %d planned + %d missing of %d files", seed, len(p.files), len(p.missing), count)
		}
	}
}

func TestPlanLogsDoesNotFollowSymlinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	a, dir := testAgent(t)
	now := time.Now()
	writeLog(t, dir, "callmanager.log", []byte("real\n"), now, time.Minute)
	outside := t.TempDir()
	secret := writeLog(t, outside, "shadow", []byte("root:x:0:0\n"), now, time.Minute)
	writeLog(t, outside, "more/inner.log", []byte("inner\n"), now, time.Minute)
	for name, target := range map[string]string{
		"passwd.log":      secret,
		"recent.gz":       secret,
		"linked-dir":      filepath.Join(outside, "more"),
		"cm-again.log":    filepath.Join(dir, "callmanager.log"),
		"dangling.log":    filepath.Join(outside, "nothing"),
		"sub/nested.link": secret,
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	p := a.planLogs(BundleRequest{Since: 24 * time.Hour, MaxFileSize: 1 << 20, MaxSize: smallFiles + 1<<20}, now)
	if got := planned(p); len(got) != 1 || got[0] != "callmanager.log" {
		t.Errorf("planned %q, want only callmanager.log", got)
	}
	for _, name := range []string{"passwd.log", "recent.gz", "linked-dir", "cm-again.log", "dangling.log", "sub/nested.link"} {
		m, ok := missingFor(p, "logs/"+name)
		if !ok {
			t.Errorf("symlink %s not recorded as missing", name)
			continue
		}
		if !strings.Contains(m.Reason, "refused (symlink)") {
			t.Errorf("%s: reason %q", name, m.Reason)
		}
	}
	for _, m := range p.missing {
		if strings.Contains(m.Path, "inner.log") {
			t.Errorf("walked into a symlinked folder: %+v", m)
		}
	}
}

func TestPlanLogsMissingFolder(t *testing.T) {
	a, dir := testAgent(t)
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	p := a.planLogs(BundleRequest{Since: time.Hour, MaxFileSize: 1 << 20, MaxSize: smallFiles + 1<<20}, time.Now())
	if len(p.files) != 0 || len(p.missing) != 1 {
		t.Fatalf("files %v missing %+v", planned(p), p.missing)
	}
	r := p.missing[0].Reason
	if !strings.Contains(r, dir) || !strings.Contains(r, "does not exist") || !strings.Contains(r, "pbx.log_dir") {
		t.Errorf("reason %q does not name the folder, the cause and the setting", r)
	}
}

// zipWriter opens a zip bundle in a fresh folder; zip is read back with the
// standard library below.
func zipWriter(t *testing.T) *bundle.Writer {
	t.Helper()
	out := t.TempDir()
	w, err := bundle.Create(bundle.Options{Dir: out, Name: "b.zip", Format: bundle.Zip, Guard: bundle.NewGuard(out, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Abort)
	return w
}

// closeAndRead finishes w and returns the manifest and every file.
func closeAndRead(t *testing.T, w *bundle.Writer) (*bundle.Manifest, map[string][]byte) {
	t.Helper()
	res, err := w.Close(&bundle.Manifest{Host: "h"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(res.Path)
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
		files[f.Name], err = io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	var m bundle.Manifest
	if err := json.Unmarshal(files[bundle.ManifestName], &m); err != nil {
		t.Fatal(err)
	}
	return &m, files
}

func fileEntry(t *testing.T, m *bundle.Manifest, p string) bundle.FileEntry {
	t.Helper()
	for _, fe := range m.Files {
		if fe.Path == p {
			return fe
		}
	}
	t.Fatalf("%s not in the manifest", p)
	return bundle.FileEntry{}
}

func TestAddTailStartsAtLineBoundary(t *testing.T) {
	dir := t.TempDir()
	// Lines of varying length so cuts land inside lines.
	var data []byte
	for i := 0; i < 400; i++ {
		data = append(data, fmt.Sprintf("%04d %s\n", i, strings.Repeat("y", i%37))...)
	}
	src := writeLog(t, dir, "callmanager.log", data, time.Now(), 0)
	size := int64(len(data))
	w := zipWriter(t)
	d := openDirT(t, dir)
	keeps := []int64{1, 7, 100, 1001, 2500, size - 1, size}
	for _, keep := range keeps {
		f := logFile{src: src, rel: "callmanager.log", size: size, keep: keep}
		if err := addTail(w, d, f, fmt.Sprintf("logs/keep-%d.log", keep)); err != nil {
			t.Fatal(err)
		}
	}
	m, files := closeAndRead(t, w)
	for _, keep := range keeps {
		p := fmt.Sprintf("logs/keep-%d.log", keep)
		got := files[p]
		fe := fileEntry(t, m, p)
		start := size - int64(len(got))
		if !bytes.Equal(got, data[start:]) {
			t.Errorf("keep %d: content is not the file's tail", keep)
		}
		if fe.TruncatedBytes != start || fe.Size != int64(len(got)) {
			t.Errorf("keep %d: TruncatedBytes %d Size %d, want %d %d", keep, fe.TruncatedBytes, fe.Size, start, len(got))
		}
		if int64(len(got)) > keep {
			t.Errorf("keep %d: kept %d bytes", keep, len(got))
		}
		// The tail starts just after a newline, unless no line starts in
		// the kept bytes at all (then the cut stays where it was).
		cut := size - keep
		if start > 0 && data[start-1] != '\n' {
			if start != cut {
				t.Errorf("keep %d: tail moved from %d to %d, not to a line start", keep, cut, start)
			}
			if bytes.IndexByte(data[cut-1:size-1], '\n') >= 0 {
				t.Errorf("keep %d: tail starts inside a line although a later line starts within it: %q", keep, got[:min(len(got), 40)])
			}
		}
	}
}

func TestAddTailExactLinesAndArchives(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	text := lines(50, 100, "cm") // 5000 bytes, lines end at multiples of 100
	src := writeLog(t, dir, "callmanager.log", text, now, 0)
	gz := bytes.Repeat([]byte{0x1f, 0x8b, 'z', '\n', 'q'}, 200) // 1000 bytes with newlines inside
	gzSrc := writeLog(t, dir, "old.log.gz", gz, now, 0)
	w := zipWriter(t)
	d := openDirT(t, dir)
	if err := addTail(w, d, logFile{src: src, rel: "callmanager.log", size: 5000, keep: 3000}, "logs/callmanager.log"); err != nil {
		t.Fatal(err)
	}
	// An archived log is never cut at a newline.
	if err := addTail(w, d, logFile{src: gzSrc, rel: "old.log.gz", size: 1000, keep: 998, archive: true}, "logs/old.log.gz"); err != nil {
		t.Fatal(err)
	}
	m, files := closeAndRead(t, w)
	fe := fileEntry(t, m, "logs/callmanager.log")
	if fe.TruncatedBytes != 5000-3000 || !bytes.Equal(files["logs/callmanager.log"], text[2000:]) {
		t.Errorf("cut on a line boundary: TruncatedBytes %d, %d bytes", fe.TruncatedBytes, len(files["logs/callmanager.log"]))
	}
	if got := files["logs/old.log.gz"]; !bytes.Equal(got, gz[2:]) {
		t.Errorf("archived log: %d bytes, want the last 998 unchanged", len(got))
	}
}

func TestAddTailShrunkAndGone(t *testing.T) {
	dir := t.TempDir()
	data := lines(20, 50, "s") // 1000 bytes
	src := writeLog(t, dir, "callmanager.log", data, time.Now(), 0)
	w := zipWriter(t)
	d := openDirT(t, dir)
	// Planned at 4000 bytes, rotated to 1000 since.
	if err := addTail(w, d, logFile{src: src, rel: "callmanager.log", size: 4000, keep: 4000}, "logs/callmanager.log"); err != nil {
		t.Fatal(err)
	}
	if err := addTail(w, d, logFile{src: filepath.Join(dir, "gone.log"), rel: "gone.log", size: 10, keep: 10}, "logs/gone.log"); err != nil {
		t.Fatal(err)
	}
	m, files := closeAndRead(t, w)
	fe := fileEntry(t, m, "logs/callmanager.log")
	if !bytes.Equal(files["logs/callmanager.log"], data) || !strings.Contains(fe.Error, "shrank from 4000 to 1000") {
		t.Errorf("shrunk log: %d bytes, error %q", len(files["logs/callmanager.log"]), fe.Error)
	}
	if len(m.Missing) != 1 || m.Missing[0].Path != "logs/gone.log" || !strings.Contains(m.Missing[0].Reason, "does not exist") {
		t.Errorf("missing = %+v", m.Missing)
	}
}

// planLogs and addLogs together: what the plan says is what the archive
// holds, and logs are written callmanager.log first.
func TestPlanAndAddLogs(t *testing.T) {
	a, dir := testAgent(t)
	now := time.Now()
	cm := lines(60, 100, "cm")
	writeLog(t, dir, "callmanager.log", cm, now, time.Hour)
	writeLog(t, dir, "other.log", lines(10, 100, "o"), now, time.Minute)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("gzipped password=s3cr3t\n"))
	zw.Close()
	writeLog(t, dir, "rot.log.gz", gz.Bytes(), now, time.Minute)
	req := BundleRequest{Since: 24 * time.Hour, MaxFileSize: 2550, MaxSize: smallFiles + 1<<20}
	p := a.planLogs(req, now)
	w := zipWriter(t)
	if err := a.addLogs(context.Background(), w, req, p, &window{}); err != nil {
		t.Fatal(err)
	}
	m, files := closeAndRead(t, w)
	if len(m.Files) != 3 || m.Files[0].Path != "logs/callmanager.log" {
		t.Fatalf("files = %+v", m.Files)
	}
	fe := m.Files[0]
	// A 2550-byte tail would start mid-line (at 3450): it starts at the
	// next line instead, 2500 bytes.
	if fe.Size != 2500 || fe.TruncatedBytes != 3500 || !bytes.Equal(files["logs/callmanager.log"], cm[3500:]) {
		t.Errorf("callmanager.log: size %d truncated %d", fe.Size, fe.TruncatedBytes)
	}
	if fe.Source != filepath.Join(dir, "callmanager.log") || fe.Collector != "logs" {
		t.Errorf("callmanager.log entry: %+v", fe)
	}
	// An archived log is redacted inside and re-compressed.
	zr, err := gzip.NewReader(bytes.NewReader(files["logs/rot.log.gz"]))
	if err != nil {
		t.Fatalf("rot.log.gz: %v", err)
	}
	if got, _ := io.ReadAll(zr); string(got) != "gzipped password=REDACTED\n" {
		t.Errorf("rot.log.gz holds %q", got)
	}
	if r := m.Files[2].Redactions; m.Files[2].Path != "logs/rot.log.gz" || r == nil || *r != 1 {
		t.Errorf("rot.log.gz entry: %+v", m.Files[2])
	}
}

func TestLineStart(t *testing.T) {
	data := "aaaa\nbbbb\ncccc\n" + "dddd"
	cases := []struct {
		start int64
		want  int64
	}{
		{1, 5},  // inside the first line: next line
		{4, 5},  // on the newline itself
		{5, 5},  // already at a line start
		{6, 10}, // inside the second line
		{10, 10},
		{11, 15},
		{15, 15}, // last line starts here
		{16, 16}, // inside the last line, no newline after: unchanged
		{18, 18},
	}
	r := strings.NewReader(data)
	for _, c := range cases {
		if got := lineStart(r, c.start, int64(len(data))); got != c.want {
			t.Errorf("lineStart(%d) = %d, want %d", c.start, got, c.want)
		}
	}
	// A line longer than the 64 KiB window is cut where it is.
	long := strings.Repeat("z", 100<<10) + "\nend\n"
	if got := lineStart(strings.NewReader(long), 10, int64(len(long))); got != 10 {
		t.Errorf("lineStart in a 100 KiB line = %d, want 10", got)
	}
	near := strings.Repeat("z", 1000) + "\nend\n"
	if got := lineStart(strings.NewReader(near), 10, int64(len(near))); got != 1001 {
		t.Errorf("lineStart before a newline 1 KB away = %d, want 1001", got)
	}
}

// checkLineStart states what lineStart promises for data and start.
func checkLineStart(t *testing.T, data []byte, start int64) {
	size := int64(len(data))
	got := lineStart(bytes.NewReader(data), start, size)
	if got < start || got > size {
		t.Fatalf("lineStart(%d) = %d, outside [%d, %d]", start, got, start, size)
	}
	if got == start {
		if data[start-1] == '\n' {
			return
		}
		// No newline within the window, or only the file's last byte.
		window := data[start:min(size, start+64<<10-1)]
		if i := bytes.IndexByte(window, '\n'); i >= 0 && start+int64(i)+1 < size {
			t.Fatalf("lineStart(%d) stayed although a line starts at %d", start, start+int64(i)+1)
		}
		return
	}
	if data[got-1] != '\n' {
		t.Fatalf("lineStart(%d) = %d, not just after a newline", start, got)
	}
	if bytes.IndexByte(data[start-1:got-1], '\n') >= 0 {
		t.Fatalf("lineStart(%d) = %d skipped a line start", start, got)
	}
	if got-start > 64<<10 {
		t.Fatalf("lineStart(%d) = %d moved more than 64 KiB", start, got)
	}
}

func FuzzLineStart(f *testing.F) {
	f.Add([]byte("aaaa\nbbbb\ncccc"), uint16(3))
	f.Add([]byte("\n\n\n"), uint16(1))
	f.Add([]byte("no newline at all"), uint16(5))
	f.Add([]byte("ends with newline\n"), uint16(10))
	f.Fuzz(func(t *testing.T, data []byte, s uint16) {
		if len(data) < 2 {
			return
		}
		start := 1 + int64(s)%int64(len(data)-1) // 0 < start < size, as addTail calls it
		checkLineStart(t, data, start)
	})
}

func TestBundleDefaults(t *testing.T) {
	cfg := config.Default()
	cfg.Agent.StateDir = "/state"
	cfg.Bundle.Since = config.Duration(36 * time.Hour)
	cfg.Bundle.MaxSize = 300 * config.MiB
	cfg.Bundle.MaxFileSize = 100 * config.MiB
	cfg.Bundle.Format = "tar.zst"
	a := New(cfg, "", "test", nil)

	got := a.BundleDefaults(BundleRequest{})
	if got.OutputDir != filepath.Join("/state", "bundles") || got.Since != 36*time.Hour ||
		got.MaxSize != int64(300*config.MiB) || got.MaxFileSize != int64(100*config.MiB) || got.Format != bundle.TarZst {
		t.Errorf("defaults = %+v", got)
	}

	set := BundleRequest{OutputDir: "/mnt/usb", Since: time.Hour, MaxSize: 50 << 20, MaxFileSize: 10 << 20, Format: bundle.Zip, Duration: time.Minute}
	if got := a.BundleDefaults(set); got.OutputDir != set.OutputDir || got.Since != set.Since || got.MaxSize != set.MaxSize ||
		got.MaxFileSize != set.MaxFileSize || got.Format != set.Format || got.Duration != set.Duration {
		t.Errorf("explicit values changed: %+v", got)
	}

	// A per-file cap above the total is lowered to the total.
	if got := a.BundleDefaults(BundleRequest{MaxSize: 20 << 20}); got.MaxFileSize != 20<<20 {
		t.Errorf("MaxFileSize = %d with MaxSize 20 MiB, want 20 MiB", got.MaxFileSize)
	}
	if got := a.BundleDefaults(BundleRequest{MaxSize: 1 << 20, MaxFileSize: 5 << 20}); got.MaxFileSize != 1<<20 {
		t.Errorf("explicit MaxFileSize above MaxSize kept: %d", got.MaxFileSize)
	}

	cfg.Bundle.Format = ""
	cfg.Bundle.OutputDir = "/var/out"
	got = a.BundleDefaults(BundleRequest{})
	if got.Format != bundle.DefaultFormat() || got.OutputDir != "/var/out" {
		t.Errorf("empty configured format / set output dir: %+v", got)
	}
}

func openDirT(t *testing.T, dir string) *safefs.Dir {
	t.Helper()
	d, err := safefs.OpenDir(dir, safefs.DirOptions{Owner: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
