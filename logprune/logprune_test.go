package logprune

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// write creates dir/name with size bytes and the given age.
func write(t *testing.T, dir, name string, size int, age time.Duration) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	mt := now.Add(-age)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	return p
}

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func names(fs []File) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name+":"+f.Reason)
	}
	return n
}

func skipReason(r *Result, name string) string {
	for _, s := range r.Skipped {
		if s.Name == name {
			return s.Reason
		}
	}
	return ""
}

const day = 24 * time.Hour

// logDir builds a PBX log folder: active logs, four archives of known size
// and age, and things that must never be deleted.
func logDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	write(t, dir, "callmanager.log", 500, 100*day) // active logs: never, however old
	write(t, dir, "nats.log", 500, 100*day)
	write(t, dir, "callmanager.log.1", 500, 100*day)
	write(t, dir, "notes.gz.txt", 500, 100*day)
	write(t, dir, "a.log.gz", 100, 40*day)
	write(t, dir, "b.log.gz", 200, 20*day)
	write(t, dir, "c.log.gz", 300, 10*day)
	write(t, dir, "d.log.gz", 400, 1*day)
	write(t, dir, "old/sub.log.gz", 1000, 100*day) // in a subfolder: no recursion
	if err := os.Mkdir(filepath.Join(dir, "folder.gz"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPlanBudgets(t *testing.T) {
	dir := logDir(t)
	for _, tc := range []struct {
		name     string
		maxAge   time.Duration
		maxTotal int64
		want     []string
	}{
		{"age only", 30 * day, 0, []string{"a.log.gz:" + ReasonAge}},
		{"age boundary is kept", 40 * day, 0, nil},
		{"just past the age", 40*day - time.Second, 0, []string{"a.log.gz:" + ReasonAge}},
		{"age then budget exact", 30 * day, 700, []string{"a.log.gz:" + ReasonAge, "b.log.gz:" + ReasonBudget}},
		{"budget one byte less", 30 * day, 699, []string{"a.log.gz:" + ReasonAge, "b.log.gz:" + ReasonBudget, "c.log.gz:" + ReasonBudget}},
		{"budget exactly met", 0, 1000, nil},
		{"budget only", 0, 900, []string{"a.log.gz:" + ReasonBudget}},
		{"budget keeps total", 0, 900 - 1, []string{"a.log.gz:" + ReasonBudget, "b.log.gz:" + ReasonBudget}},
		{"everything fits", 365 * day, 10000, nil},
		{"zero disables both", 0, 0, nil},
		{"tiny budget", 0, 1, []string{"a.log.gz:" + ReasonBudget, "b.log.gz:" + ReasonBudget, "c.log.gz:" + ReasonBudget, "d.log.gz:" + ReasonBudget}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Plan(dir, tc.maxAge, tc.maxTotal, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(r.Planned); !slices.Equal(got, tc.want) {
				t.Errorf("planned %v, want %v", got, tc.want)
			}
			if r.Archives != 4 || r.ArchiveBytes != 1000 {
				t.Errorf("archives %d / %d bytes, want 4 / 1000", r.Archives, r.ArchiveBytes)
			}
			if got := skipReason(r, "folder.gz"); got != SkipNotRegular {
				t.Errorf("folder.gz skipped for %q", got)
			}
		})
	}
}

func TestPruneKeepsActiveLogsAndSubfolders(t *testing.T) {
	dir := logDir(t)
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	r, err := Prune(context.Background(), dir, 0, 1, now, false, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Deleted) != 4 || r.BytesFreed != 1000 {
		t.Fatalf("deleted %v (%d bytes), want the 4 archives (1000 bytes)", names(r.Deleted), r.BytesFreed)
	}
	for _, keep := range []string{"callmanager.log", "nats.log", "callmanager.log.1", "notes.gz.txt", "old/sub.log.gz", "folder.gz"} {
		if !exists(t, filepath.Join(dir, keep)) {
			t.Errorf("%s was deleted", keep)
		}
	}
	for _, gone := range []string{"a.log.gz", "b.log.gz", "c.log.gz", "d.log.gz"} {
		if exists(t, filepath.Join(dir, gone)) {
			t.Errorf("%s still there", gone)
		}
		// Every deletion is logged with name, size and mtime.
		var line string
		for _, l := range strings.Split(logBuf.String(), "\n") {
			if strings.Contains(l, "name="+gone) {
				line = l
			}
		}
		if !strings.Contains(line, "deleted archived log") || !strings.Contains(line, "size=") || !strings.Contains(line, "mtime=") {
			t.Errorf("deletion of %s not logged properly: %q", gone, line)
		}
	}
	if err := Apply(context.Background(), r, log); err == nil {
		t.Error("a plan was applied twice")
	}
}

func TestDryRunDeletesNothing(t *testing.T) {
	dir := logDir(t)
	r, err := Prune(context.Background(), dir, 30*day, 700, now, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Planned) != 2 || len(r.Deleted) != 0 || r.PlannedBytes() != 300 || !r.DryRun {
		t.Fatalf("dry run: planned %v deleted %v", names(r.Planned), names(r.Deleted))
	}
	if !exists(t, filepath.Join(dir, "a.log.gz")) || !exists(t, filepath.Join(dir, "b.log.gz")) {
		t.Error("dry run deleted files")
	}
	if err := Apply(context.Background(), r, nil); err == nil {
		t.Error("a dry-run plan was applied")
	}
}

func TestSymlinkedArchiveNotFollowed(t *testing.T) {
	dir := logDir(t)
	outside := write(t, t.TempDir(), "precious.db", 5000, 400*day)
	link := filepath.Join(dir, "evil.log.gz")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	mt := now.Add(-400 * day)
	_ = os.Chtimes(link, mt, mt) // sets the target's time: it must still not count
	r, err := Prune(context.Background(), dir, day, 1, now, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := skipReason(r, "evil.log.gz"); got != SkipSymlink {
		t.Errorf("symlink skipped for %q", got)
	}
	if r.ArchiveBytes != 1000 {
		t.Errorf("archive bytes %d: the symlink's target was counted", r.ArchiveBytes)
	}
	if !exists(t, link) {
		t.Error("the symlink itself was deleted")
	}
	if b, err := os.ReadFile(outside); err != nil || len(b) != 5000 {
		t.Errorf("target damaged: %d bytes, %v", len(b), err)
	}
}

func TestSymlinkedFolderRefused(t *testing.T) {
	dir := logDir(t)
	link := filepath.Join(t.TempDir(), "log")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Plan(link, day, 1, now); !errors.Is(err, ErrSymlinkDir) {
		t.Fatalf("Plan through a symlinked folder: %v, want ErrSymlinkDir", err)
	}
	if _, err := Prune(context.Background(), link+string(filepath.Separator), day, 1, now, false, nil); !errors.Is(err, ErrSymlinkDir) {
		t.Fatalf("Prune through a symlinked folder with a trailing separator: %v", err)
	}
	if !exists(t, filepath.Join(dir, "a.log.gz")) {
		t.Fatal("a file was deleted through a symlinked folder")
	}

	// A symlink in a parent (data moved to a bigger disk) is resolved once
	// and the real folder pruned.
	parentLink := filepath.Join(t.TempDir(), "pbx")
	if err := os.Symlink(filepath.Dir(dir), parentLink); err != nil {
		t.Fatal(err)
	}
	r, err := Prune(context.Background(), filepath.Join(parentLink, "log"), 30*day, 0, now, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	if r.Resolved != real || len(r.Deleted) != 1 || exists(t, filepath.Join(dir, "a.log.gz")) {
		t.Errorf("resolved %s, deleted %v", r.Resolved, names(r.Deleted))
	}
}

func TestFolderSwappedAfterPlan(t *testing.T) {
	dir := logDir(t)
	r, err := Plan(dir, 0, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	// The folder is moved away and another one with the same archive names
	// takes its place: nothing may be deleted in either.
	moved := dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	other := logDir(t)
	if err := os.Rename(other, dir); err != nil {
		t.Fatal(err)
	}
	if err := Apply(context.Background(), r, nil); !errors.Is(err, ErrDirChanged) {
		t.Fatalf("Apply after the folder was swapped: %v, want ErrDirChanged", err)
	}
	for _, d := range []string{dir, moved} {
		if !exists(t, filepath.Join(d, "a.log.gz")) {
			t.Errorf("file deleted in %s", d)
		}
	}

	// The folder replaced by a symlink to the planned folder is refused too.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, dir); err != nil {
		t.Fatal(err)
	}
	r2, err := Plan(moved, 0, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	r2.Dir = dir // as if planned on the path before it became a link
	r2.Resolved = dir
	if err := Apply(context.Background(), r2, nil); err == nil || len(r2.Deleted) != 0 {
		t.Fatalf("Apply through a folder turned into a symlink: %v, deleted %v", err, names(r2.Deleted))
	}
}

// changeAfterPlan runs the time-of-check/time-of-use cases against a remover.
func changeAfterPlan(t *testing.T, apply func(*Result) error) {
	dir := logDir(t)
	outside := write(t, t.TempDir(), "target.gz", 100, 0)
	r, err := Plan(dir, 0, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Planned) != 4 {
		t.Fatalf("planned %v", names(r.Planned))
	}
	// a: replaced by a new file with the same name, size and mtime (and
	// likely the same inode number, reused); only its ctime differs.
	time.Sleep(20 * time.Millisecond) // past the kernel's coarse timestamp tick
	a := filepath.Join(dir, "a.log.gz")
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a.log.gz", 100, 40*day)
	// b: grown (still being written).
	f, err := os.OpenFile(filepath.Join(dir, "b.log.gz"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more")
	f.Close()
	// c: replaced by a symlink to a file outside the folder.
	c := filepath.Join(dir, "c.log.gz")
	if err := os.Remove(c); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, c); err != nil {
		t.Fatal(err)
	}
	// d: unchanged, so deleted.
	if err := apply(r); err != nil {
		t.Fatal(err)
	}
	if got := names(r.Deleted); !slices.Equal(got, []string{"d.log.gz:" + ReasonBudget}) {
		t.Errorf("deleted %v, want only d.log.gz", got)
	}
	for _, n := range []string{"a.log.gz", "b.log.gz", "c.log.gz"} {
		if got := skipReason(r, n); got != SkipChanged {
			t.Errorf("%s skipped for %q, want %q", n, got, SkipChanged)
		}
		if !exists(t, filepath.Join(dir, n)) {
			t.Errorf("%s deleted after it changed", n)
		}
	}
	if !exists(t, outside) {
		t.Error("symlink target deleted")
	}
}

func TestChangedAfterPlanNotDeleted(t *testing.T) {
	changeAfterPlan(t, func(r *Result) error { return Apply(context.Background(), r, nil) })
}

func TestFileGoneBeforeApply(t *testing.T) {
	dir := logDir(t)
	r, err := Plan(dir, 30*day, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "a.log.gz")); err != nil {
		t.Fatal(err)
	}
	if err := Apply(context.Background(), r, nil); err != nil {
		t.Fatal(err)
	}
	if skipReason(r, "a.log.gz") != SkipGone || len(r.Deleted) != 0 {
		t.Errorf("skipped %v deleted %v", r.Skipped, names(r.Deleted))
	}
}

func TestPlanErrors(t *testing.T) {
	if _, err := Plan(filepath.Join(t.TempDir(), "missing"), day, 1, now); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
	file := write(t, t.TempDir(), "file", 1, 0)
	if _, err := Plan(file, day, 1, now); err == nil {
		t.Error("a file accepted as the log folder")
	}
	if err := Apply(context.Background(), &Result{Planned: []File{{Name: "x.gz"}}}, nil); err == nil {
		t.Error("a plan not made by Plan was applied")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := logDir(t)
	r, err := Plan(dir, 0, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(ctx, r, nil); err == nil || len(r.Deleted) != 0 {
		t.Errorf("cancelled apply: %v, deleted %v", err, names(r.Deleted))
	}
}

func TestSafeName(t *testing.T) {
	for name, want := range map[string]bool{
		"a.log.gz": true, ".gz": false, "../x.gz": false, "a/b.gz": false, `a\b.gz`: false, "..": false, "": false, "x\x00.gz": false,
	} {
		if got := safeName(name); got != want {
			t.Errorf("safeName(%q) = %v", name, got)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"a.log.gz":        "a.log.gz",
		"caf\u00e9.gz":    "caf\u00e9.gz",
		"x\x1b[2J.gz":     `"x\x1b[2J.gz"`,
		"a\nb.gz":         `"a\nb.gz"`,
		"bad\xff.gz":      `"bad\xff.gz"`,
		"csi\u009b31m.gz": `"csi\u009b31m.gz"`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestParentSwappedForSymlink: a data folder owned by the PBX user whose log
// folder is replaced by a symlink to another folder is refused; nothing in
// the target is deleted.
func TestParentSwappedForSymlink(t *testing.T) {
	testutil.NeedRoot(t)
	root := t.TempDir()
	data := filepath.Join(root, "pbx")
	victim := filepath.Join(root, "victim")
	write(t, victim, "precious.log.gz", 100, 100*day)
	write(t, data, "log/a.log.gz", 100, 100*day)
	if err := os.Chown(data, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r, err := Plan(filepath.Join(data, "log"), day, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	// The PBX user swaps its data folder for a symlink after the plan.
	if err := os.Rename(data, data+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(data, 65534, 65534)
	if err := os.Symlink(victim, filepath.Join(data, "log")); err != nil {
		t.Fatal(err)
	}
	if err := Apply(context.Background(), r, nil); err == nil {
		t.Fatal("Apply went through a swapped folder")
	}
	if _, err := Plan(filepath.Join(data, "log"), day, 0, now); !errors.Is(err, ErrSymlinkDir) {
		t.Errorf("Plan through the symlink: %v", err)
	}
	// A symlinked data folder made by the PBX user (in a folder it owns).
	os.Remove(filepath.Join(data, "log"))
	if err := os.Symlink(victim, filepath.Join(data, "moved")); err != nil {
		t.Fatal(err)
	}
	if _, err := Plan(filepath.Join(data, "moved"), day, 0, now); !errors.Is(err, ErrSymlinkDir) {
		t.Errorf("Plan through a user-made symlinked parent: %v", err)
	}
	if !exists(t, filepath.Join(victim, "precious.log.gz")) {
		t.Fatal("a file was deleted in the symlink's target")
	}
}
