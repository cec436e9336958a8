package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/logprune"
)

var logNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func logsCfg() config.LogsCheck {
	return config.LogsCheck{MaxActiveSize: config.MiB, StaleAfter: config.Duration(time.Hour),
		PruneMaxAge: config.Duration(30 * 24 * time.Hour), PruneMaxTotal: 10 * config.GiB}
}

// logFile creates dir/name of size bytes (sparse) modified age before logNow.
func logFile(t *testing.T, dir, name string, size int64, age time.Duration) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mt := logNow.Add(-age)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
}

// pbxLogDir builds a healthy log folder.
func pbxLogDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "log")
	logFile(t, dir, CallManagerLog, 300<<10, 10*time.Second)
	logFile(t, dir, "nats.log", 100<<10, time.Minute)
	logFile(t, dir, "callmanager.2025-05-01.log.gz", 1000, 31*24*time.Hour)
	logFile(t, dir, "callmanager.2025-05-20.log.gz", 2000, 12*24*time.Hour)
	logFile(t, dir, "callmanager.2025-05-31.log.gz", 3000, 20*time.Hour)
	logFile(t, dir, "old/kept.log.gz", 5000, 90*24*time.Hour)
	return dir
}

func collectLogs(t *testing.T, l *LogCheck) (*Report, LogsData) {
	t.Helper()
	rep, err := l.Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	d, ok := rep.Data.(LogsData)
	if !ok {
		t.Fatalf("Data is %T", rep.Data)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary == "" || strings.Contains(rep.Summary, "\n") || rep.Text == "" || rep.Sticky < rep.State {
		t.Fatalf("report %+v", rep)
	}
	return rep, d
}

func TestLogsHealthy(t *testing.T) {
	dir := pbxLogDir(t)
	rep, d := collectLogs(t, NewLogCheck(logsCfg(), dir, func() time.Time { return logNow }))
	if rep.State != StateOK || rep.Advice != "" || d.Stale || d.RotationStuck {
		t.Fatalf("healthy folder: %v %q %+v", rep.State, rep.Summary, d)
	}
	if d.CallManager == nil || d.CallManager.Size != 300<<10 || d.CallManagerAgeSeconds != 10 {
		t.Errorf("callmanager %+v age %v", d.CallManager, d.CallManagerAgeSeconds)
	}
	a := d.Archives
	if a.Count != 3 || a.Bytes != 6000 || !a.Oldest.Equal(logNow.Add(-31*24*time.Hour)) || !a.Newest.Equal(logNow.Add(-20*time.Hour)) {
		t.Errorf("archives %+v (the one in a subfolder is not an archive of the folder)", a)
	}
	if d.FolderBytes != 300<<10+100<<10+6000+5000 || d.FolderFiles != 6 {
		t.Errorf("folder %d bytes in %d files", d.FolderBytes, d.FolderFiles)
	}
	if len(d.Active) != 2 || d.Active[0].Name != CallManagerLog {
		t.Errorf("active %+v", d.Active)
	}
	if want := "callmanager.log 300.0 KiB, written 10s ago; folder 410.7 KiB; 3 archived logs 5.9 KiB"; rep.Summary != want {
		t.Errorf("summary %q, want %q", rep.Summary, want)
	}
}

func TestLogsStale(t *testing.T) {
	dir := pbxLogDir(t)
	logFile(t, dir, CallManagerLog, 300<<10, 2*time.Hour)
	rep, d := collectLogs(t, NewLogCheck(logsCfg(), dir, func() time.Time { return logNow }))
	if rep.State != StateCritical || !d.Stale || !strings.HasPrefix(rep.Summary, "callmanager looks stopped: callmanager.log not written for 2h;") {
		t.Fatalf("stale: %v %q", rep.State, rep.Summary)
	}
	if !strings.Contains(rep.Advice, "pbx_ctl.sh") && !strings.Contains(rep.Advice, "services.msc") {
		t.Errorf("advice %q", rep.Advice)
	}
	// 57 minutes: not stale yet, but inside the clear band (90% of 1h).
	logFile(t, dir, CallManagerLog, 300<<10, 57*time.Minute)
	rep, _ = collectLogs(t, NewLogCheck(logsCfg(), dir, func() time.Time { return logNow }))
	if rep.State != StateOK || rep.Sticky != StateCritical {
		t.Errorf("57m: state %v sticky %v", rep.State, rep.Sticky)
	}
}

func TestLogsRotationStuck(t *testing.T) {
	dir := pbxLogDir(t)
	logFile(t, dir, CallManagerLog, 3<<20, time.Second)
	for _, n := range []string{"callmanager.2025-05-20.log.gz", "callmanager.2025-05-31.log.gz"} {
		os.Remove(filepath.Join(dir, n))
	}
	rep, d := collectLogs(t, NewLogCheck(logsCfg(), dir, func() time.Time { return logNow }))
	if rep.State != StateWarning || !d.RotationStuck || !strings.Contains(rep.Summary, "log rotation looks stuck: callmanager.log is 3.0 MiB (limit 1.0 MiB)") {
		t.Fatalf("stuck rotation: %v %q", rep.State, rep.Summary)
	}
	if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], "newest archived log is 31d old") {
		t.Errorf("notes %v", d.Notes)
	}
	if !strings.Contains(rep.Advice, "pbxagent logs prune --dry-run") {
		t.Errorf("advice %q", rep.Advice)
	}
	// 0.95 MiB: under the limit but inside the clear band.
	logFile(t, dir, CallManagerLog, 973<<10, time.Second)
	rep, _ = collectLogs(t, NewLogCheck(logsCfg(), dir, func() time.Time { return logNow }))
	if rep.State != StateOK || rep.Sticky != StateWarning {
		t.Errorf("0.95 MiB: state %v sticky %v", rep.State, rep.Sticky)
	}
}

func TestLogsNoFolder(t *testing.T) {
	l := NewLogCheck(logsCfg(), filepath.Join(t.TempDir(), "missing"), nil)
	if _, err := l.Collect(context.Background()); !errors.Is(err, ErrNoData) {
		t.Fatalf("missing folder: %v", err)
	}
}

func TestLogsNotePruned(t *testing.T) {
	dir := pbxLogDir(t)
	l := NewLogCheck(logsCfg(), dir, func() time.Time { return logNow })
	r1, err := logprune.Prune(context.Background(), dir, 30*24*time.Hour, 0, logNow, false, nil)
	if err != nil || len(r1.Deleted) != 1 {
		t.Fatalf("prune: %v %+v", err, r1)
	}
	l.NotePruned(*r1)
	r2, err := logprune.Prune(context.Background(), dir, 0, 3000, logNow, false, nil)
	if err != nil || len(r2.Deleted) != 1 {
		t.Fatalf("prune: %v %+v", err, r2)
	}
	l.NotePruned(*r2)
	dry, _ := logprune.Prune(context.Background(), dir, 0, 1, logNow, true, nil)
	l.NotePruned(*dry) // a dry run deleted nothing: not reported

	// A failed Collect keeps the records for the next one.
	os.Rename(dir, dir+".away")
	if _, err := l.Collect(context.Background()); err == nil {
		t.Fatal("Collect without folder succeeded")
	}
	os.Rename(dir+".away", dir)

	rep, d := collectLogs(t, l)
	if len(d.Pruned) != 2 || !strings.Contains(rep.Summary, "pruned 2 archived logs, 2.9 KiB") {
		t.Fatalf("pruned %+v, summary %q", d.Pruned, rep.Summary)
	}
	for _, name := range []string{"callmanager.2025-05-01.log.gz", "callmanager.2025-05-20.log.gz"} {
		if !strings.Contains(rep.Text, "deleted "+name) {
			t.Errorf("text does not list %s:\n%s", name, rep.Text)
		}
	}
	// Reported once.
	rep, d = collectLogs(t, l)
	if len(d.Pruned) != 0 || strings.Contains(rep.Summary, "pruned") {
		t.Errorf("prune reported twice: %q", rep.Summary)
	}
}
