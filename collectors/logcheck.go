package collectors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/safefs"
	"github.com/pbxagent/pbxagent/logprune"
)

// CallManagerLog is the PBX call manager's active log, the one PortSIP
// support asks for.
const CallManagerLog = "callmanager.log"

// staleArchiveAge: archives exist but none is newer than this while an active
// log is large suggests the rotation stopped.
const staleArchiveAge = 48 * time.Hour

// logClearFactor sets the clear levels of the logs check: a stale or oversized
// state is held until the age or size falls below 90% of its trigger level.
const logClearFactor = 0.9

// LogCheck watches the PBX log folder: whether callmanager.log is still
// written, whether rotation works, and how much the archives take. It also
// carries the record of automatic prunes to the next report.
type LogCheck struct {
	cfg    config.LogsCheck
	dir    string
	now    func() time.Time
	mu     sync.Mutex
	pruned []PruneRecord
	// Paths are named in the remedies.
	Paths PBXPaths
}

// NewLogCheck returns the logs collector for the PBX log folder (Config.LogDir()).
// now is the clock (nil means time.Now).
func NewLogCheck(cfg config.LogsCheck, logDir string, now func() time.Time) *LogCheck {
	if now == nil {
		now = time.Now
	}
	return &LogCheck{cfg: cfg, dir: logDir, now: now}
}

// PruneRecord is one prune of archived logs, reported once in the next report.
type PruneRecord struct {
	Time       time.Time       `json:"time"`
	Dir        string          `json:"dir"`
	Deleted    []logprune.File `json:"deleted"`
	BytesFreed int64           `json:"bytes_freed"`
	Skipped    int             `json:"skipped"`
	Errors     []string        `json:"errors,omitempty"`
}

// NotePruned records a prune so that the next report lists its deletions
// and errors; records accumulate until a report takes them. Dry runs and
// prunes that did nothing are ignored.
func (l *LogCheck) NotePruned(r logprune.Result) {
	if r.DryRun || (len(r.Deleted) == 0 && len(r.Errors) == 0) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruned = append(l.pruned, PruneRecord{Time: l.now(), Dir: r.Resolved, Deleted: slices.Clone(r.Deleted),
		BytesFreed: r.BytesFreed, Skipped: len(r.Skipped), Errors: slices.Clone(r.Errors)})
}

// takePruned returns and clears the pending prune records.
func (l *LogCheck) takePruned() []PruneRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pruned
	l.pruned = nil
	return p
}

// giveBackPruned restores records a failed Collect could not report.
func (l *LogCheck) giveBackPruned(p []PruneRecord) {
	if len(p) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruned = append(p, l.pruned...)
}

// LogFile is one file of the log folder.
type LogFile struct {
	Name    string    `json:"name"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
}

// LogArchives summarises the archived *.gz logs directly in the folder.
type LogArchives struct {
	Count  int       `json:"count"`
	Bytes  int64     `json:"bytes"`
	Oldest time.Time `json:"oldest,omitzero"`
	Newest time.Time `json:"newest,omitzero"`
}

// count adds one archive.
func (a *LogArchives) count(f LogFile) {
	a.Count++
	a.Bytes += f.Size
	if a.Oldest.IsZero() || f.ModTime.Before(a.Oldest) {
		a.Oldest = f.ModTime
	}
	if f.ModTime.After(a.Newest) {
		a.Newest = f.ModTime
	}
}

// LogsData is the logs collector's Data.
type LogsData struct {
	Dir string `json:"dir"`
	// FolderBytes and FolderFiles cover the whole folder, subfolders included.
	FolderBytes int64 `json:"folder_bytes"`
	FolderFiles int   `json:"folder_files"`
	// CallManager is callmanager.log; nil when it does not exist.
	CallManager *LogFile `json:"callmanager,omitempty"`
	// CallManagerAgeSeconds is the time since callmanager.log was written.
	CallManagerAgeSeconds float64 `json:"callmanager_age_seconds,omitempty"`
	// Active are the top-level logs not ending in .gz, largest first.
	Active   []LogFile   `json:"active"`
	Archives LogArchives `json:"archives"`
	// Stale: callmanager.log not written for stale_after.
	Stale bool `json:"stale"`
	// RotationStuck: an active log is larger than max_active_size.
	RotationStuck bool     `json:"rotation_stuck"`
	Problems      []string `json:"problems,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	// Pruned lists the prunes since the previous report.
	Pruned []PruneRecord `json:"pruned,omitempty"`
}

// Collect reads the log folder. It returns ErrNoData when the folder does
// not exist (PortSIP not installed here).
func (l *LogCheck) Collect(ctx context.Context) (*Report, error) {
	pruned := l.takePruned()
	rep, err := l.collect(ctx, pruned)
	if err != nil {
		l.giveBackPruned(pruned)
	}
	return rep, err
}

func (l *LogCheck) collect(ctx context.Context, pruned []PruneRecord) (*Report, error) {
	dir, err := safefs.OpenDir(l.dir, safefs.DirOptions{Owner: -1})
	if errors.Is(err, os.ErrNotExist) {
		return nil, noData("PBX log folder %s not found", l.dir)
	}
	if r, ok := safefs.Refusal(err); ok && r == safefs.ReasonNotDir {
		return nil, fmt.Errorf("PBX log folder %s is not a folder", l.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("PBX log folder: %w", err)
	}
	defer dir.Close()
	now := l.now()
	d := LogsData{Dir: l.dir, Active: []LogFile{}, Pruned: pruned}

	if err := d.list(dir); err != nil {
		return nil, err
	}
	if err := d.measure(ctx, dir.Path()); err != nil {
		return nil, fmt.Errorf("size of PBX log folder: %w", err)
	}
	return l.report(d, now), nil
}

// list sorts the folder's regular files into active logs (largest first)
// and archives (counted).
func (d *LogsData) list(dir *safefs.Dir) error {
	entries, err := dir.ReadDir()
	if err != nil {
		return fmt.Errorf("read PBX log folder: %w", err)
	}
	for _, e := range entries {
		info, err := dir.Stat(e.Name())
		if err != nil || !info.IsRegular() {
			continue // removed meanwhile, or not a log (never followed)
		}
		f := LogFile{Name: e.Name(), Size: info.Size, ModTime: info.ModTime}
		if strings.HasSuffix(f.Name, logprune.ArchiveSuffix) {
			d.Archives.count(f)
			continue
		}
		d.Active = append(d.Active, f)
		if f.Name == CallManagerLog {
			cm := f
			d.CallManager = &cm
		}
	}
	slices.SortFunc(d.Active, func(a, b LogFile) int {
		if c := cmp.Compare(b.Size, a.Size); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return nil
}

// measure counts the files and bytes of the folder and its subfolders;
// unreadable subfolders are skipped.
func (d *LogsData) measure(ctx context.Context, root string) error {
	return filepath.WalkDir(root, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable subfolder: count what can be read
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				d.FolderBytes += info.Size()
				d.FolderFiles++
			}
		}
		return nil
	})
}

func (l *LogCheck) report(d LogsData, now time.Time) *Report {
	rep := &Report{State: StateOK}
	l.checkStale(&d, rep, now)
	l.checkRotation(&d, rep, now)
	rep.Sticky = max(rep.Sticky, rep.State)
	rep.Summary = logsSummary(d)
	rep.Metrics = logsMetrics(d)
	rep.Text = logsText(d)
	rep.Data = d
	if rep.State != StateOK {
		rep.Advice = l.advice(d)
	}
	return rep
}

// checkStale flags a callmanager log not written for longer than
// stale_after.
func (l *LogCheck) checkStale(d *LogsData, rep *Report, now time.Time) {
	stale := l.cfg.StaleAfter.D()
	cm := d.CallManager
	if cm == nil {
		d.Notes = append(d.Notes, CallManagerLog+" not found in the folder")
		return
	}
	age := max(now.Sub(cm.ModTime), 0)
	d.CallManagerAgeSeconds = age.Seconds()
	if stale > 0 && age > stale {
		d.Stale = true
		rep.State = StateCritical
		d.Problems = append(d.Problems, fmt.Sprintf("callmanager looks stopped: %s not written for %s", CallManagerLog, roughDuration(age)))
	}
	if stale > 0 && float64(age) > float64(stale)*logClearFactor {
		rep.Sticky = StateCritical
	}
}

// checkRotation flags active logs over max_active_size, and notes archives
// that stopped appearing while the active log grows.
func (l *LogCheck) checkRotation(d *LogsData, rep *Report, now time.Time) {
	maxActive := int64(l.cfg.MaxActiveSize)
	var big []string
	sticky := false
	for _, f := range d.Active {
		if maxActive > 0 && f.Size > maxActive {
			big = append(big, fmt.Sprintf("%s is %s", f.Name, formatBytes(uint64(f.Size))))
		}
		if maxActive > 0 && float64(f.Size) > float64(maxActive)*logClearFactor {
			sticky = true
		}
	}
	if len(big) > 0 {
		d.RotationStuck = true
		rep.State = max(rep.State, StateWarning)
		d.Problems = append(d.Problems, fmt.Sprintf("log rotation looks stuck: %s (limit %s)", strings.Join(big, ", "),
			formatBytes(uint64(maxActive))))
	}
	if sticky {
		rep.Sticky = max(rep.Sticky, StateWarning)
	}
	if d.Archives.Count > 0 && len(d.Active) > 0 && maxActive > 0 && d.Active[0].Size > maxActive/2 {
		if age := now.Sub(d.Archives.Newest); age > staleArchiveAge {
			d.Notes = append(d.Notes, fmt.Sprintf("newest archived log is %s old while %s is %s: rotation may have stopped",
				roughDuration(age), d.Active[0].Name, formatBytes(uint64(d.Active[0].Size))))
		}
	}
}

func logsSummary(d LogsData) string {
	var parts []string
	parts = append(parts, d.Problems...)
	if d.CallManager != nil && !d.Stale {
		parts = append(parts, fmt.Sprintf("%s %s, written %s ago", CallManagerLog, formatBytes(uint64(d.CallManager.Size)),
			roughDuration(time.Duration(d.CallManagerAgeSeconds*float64(time.Second)))))
	}
	parts = append(parts, fmt.Sprintf("folder %s", formatBytes(uint64(d.FolderBytes))),
		fmt.Sprintf("%d archived logs %s", d.Archives.Count, formatBytes(uint64(d.Archives.Bytes))))
	if n, b := prunedTotals(d.Pruned); n > 0 || b > 0 {
		parts = append(parts, fmt.Sprintf("pruned %d archived logs, %s", n, formatBytes(uint64(b))))
	}
	if errs := prunedErrors(d.Pruned); errs > 0 {
		parts = append(parts, fmt.Sprintf("%d prune errors", errs))
	}
	return strings.Join(parts, "; ")
}

func logsMetrics(d LogsData) []Metric {
	label := map[string]string{"dir": d.Dir}
	ms := []Metric{
		{Name: "log_folder_bytes", Value: float64(d.FolderBytes), Unit: "B", Label: label},
		{Name: "log_archives", Value: float64(d.Archives.Count), Label: label},
		{Name: "log_archive_bytes", Value: float64(d.Archives.Bytes), Unit: "B", Label: label},
	}
	if d.CallManager != nil {
		ms = append(ms,
			Metric{Name: "callmanager_log_bytes", Value: float64(d.CallManager.Size), Unit: "B", Label: label},
			Metric{Name: "callmanager_log_age_seconds", Value: d.CallManagerAgeSeconds, Unit: "s", Label: label})
	}
	return ms
}

func prunedTotals(p []PruneRecord) (files int, bytes int64) {
	for _, r := range p {
		files += len(r.Deleted)
		bytes += r.BytesFreed
	}
	return files, bytes
}

func prunedErrors(p []PruneRecord) (n int) {
	for _, r := range p {
		n += len(r.Errors)
	}
	return n
}

func logsText(d LogsData) string {
	var b strings.Builder
	fmt.Fprintf(&b, "folder: %s (%d files, %s)\n", d.Dir, d.FolderFiles, formatBytes(uint64(d.FolderBytes)))
	if a := d.Archives; a.Count > 0 {
		fmt.Fprintf(&b, "archived *.gz logs: %d, %s, oldest %s, newest %s\n", a.Count, formatBytes(uint64(a.Bytes)),
			a.Oldest.Format(time.RFC3339), a.Newest.Format(time.RFC3339))
	} else {
		b.WriteString("archived *.gz logs: none\n")
	}
	rows := [][]string{{"ACTIVE LOG", "SIZE", "MODIFIED"}}
	for _, f := range d.Active {
		rows = append(rows, []string{f.Name, formatBytes(uint64(f.Size)), f.ModTime.Format(time.RFC3339)})
	}
	b.WriteString(textTable(rows))
	for _, p := range d.Problems {
		b.WriteString("problem: " + p + "\n")
	}
	for _, n := range d.Notes {
		b.WriteString("note: " + n + "\n")
	}
	for _, r := range d.Pruned {
		fmt.Fprintf(&b, "pruned at %s in %s: %d archived logs, %s freed\n", r.Time.Format(time.RFC3339), r.Dir,
			len(r.Deleted), formatBytes(uint64(r.BytesFreed)))
		for _, f := range r.Deleted {
			fmt.Fprintf(&b, "  deleted %s (%s, modified %s, %s)\n", f.Name, formatBytes(uint64(f.Size)), f.ModTime.Format(time.RFC3339), f.Reason)
		}
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  error: %s\n", e)
		}
	}
	return b.String()
}

func (l *LogCheck) advice(d LogsData) string {
	var b strings.Builder
	if d.Stale {
		if runtime.GOOS == "windows" {
			b.WriteString("The call manager no longer writes its log: check the \"PortSIP Call Manager\" service in services.msc and restart it. ")
		} else {
			b.WriteString("The call manager no longer writes its log: check it with `" + l.Paths.ctl("status") + "` " +
				"and `docker logs --tail 100 portsip.callmanager`, then restart the PBX with `" + l.Paths.ctl("restart") + "`. ")
		}
		b.WriteString("A full disk also stops logging: check the disk with `pbxagent status`. ")
	}
	if d.RotationStuck {
		fmt.Fprintf(&b, "An active log in %s is not being rotated; it will keep growing until the disk is full, "+
			"which makes the web portal fail with 500/502 and calls fail. Restarting the PBX usually restarts the rotation. "+
			"Free space by deleting archived *.gz logs: `pbxagent logs prune --dry-run`, then `pbxagent logs prune`.", d.Dir)
	}
	return strings.TrimSpace(b.String())
}
