package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/safefs"
)

// activeLog is the log support always asks for first.
const activeLog = "callmanager.log"

// logFile is one file of the PBX log folder chosen for the bundle.
type logFile struct {
	src     string // path on the host
	rel     string // path below the log folder, slash-separated
	size    int64
	mtime   time.Time
	archive bool  // a rotated *.gz log: included whole or not at all
	keep    int64 // bytes to include (the newest ones)
}

// logPlan is the set of logs a bundle takes, decided before writing so the
// free-space check can estimate the archive's size.
type logPlan struct {
	dir      *safefs.Dir // the PBX log folder, nil when it could not be opened
	files    []logFile
	warnings []string
	missing  []bundle.MissingEntry
}

// estimate is a lower bound of the archive size: compressed archives count
// in full, text at a tenth (PBX logs compress about tenfold).
func (p *logPlan) estimate(req BundleRequest) int64 {
	var n int64 = 1 << 20
	for _, f := range p.files {
		if f.archive {
			n += f.keep
		} else {
			n += f.keep / 10
		}
	}
	return n
}

// planLogs lists the PBX log folder and applies --since, the per-file cap and
// the total budget: callmanager.log first, then the other active logs newest
// first, then archived *.gz logs newest first. Active logs keep their tail.
func (a *Agent) planLogs(req BundleRequest, now time.Time) *logPlan {
	p := &logPlan{}
	d, err := a.openLogDir()
	if err != nil {
		p.missing = append(p.missing, bundle.MissingEntry{Path: "logs/", Collector: "logs",
			Reason: fmt.Sprintf("PBX log folder: %s (set pbx.log_dir or pbx.data_dir in the configuration if PortSIP uses another path)", reason(a.cfg.LogDir(), err))})
		return p
	}
	p.dir = d
	p.warnings = append(p.warnings, d.Notes...)
	active, archived := p.scan(d, req, now)
	sort.SliceStable(active, func(i, j int) bool {
		ci, cj := active[i].rel == activeLog, active[j].rel == activeLog
		if ci != cj {
			return ci
		}
		return active[i].mtime.After(active[j].mtime)
	})
	sort.SliceStable(archived, func(i, j int) bool { return archived[i].mtime.After(archived[j].mtime) })
	p.fit(req, active, archived)
	return p
}

// leaveOut lists the log rel as missing from the bundle, and why.
func (p *logPlan) leaveOut(rel, why string) {
	p.missing = append(p.missing, bundle.MissingEntry{Path: "logs/" + rel, Collector: "logs", Reason: why})
}

// scan walks the log folder and returns the active logs and the archives
// within req.Since; what it refuses or leaves out is listed in p.
func (p *logPlan) scan(d *safefs.Dir, req BundleRequest, now time.Time) (active, archived []logFile) {
	var oldCount int
	var oldBytes int64
	walkLogs(d, "", func(rel string, fi safefs.Info, err error) {
		path := d.Join(rel)
		if err != nil {
			p.leaveOut(rel, reason(path, err))
			return
		}
		if name := fi.Name; strings.HasPrefix(name, "pbx-support-") || strings.HasPrefix(name, ".pbx-support-") {
			return // a bundle (or one being written) in an output folder under the log folder
		}
		if "logs/"+rel == windowLogName {
			p.leaveOut(rel, "the name is used for the live window's lines in the bundle; this file was left out")
			return
		}
		if why := safefs.TypeReason(fi.Mode); why != "" {
			p.leaveOut(rel, fmt.Sprintf("refused (%s): %s is not a regular file (in PBX folders symlinks are never followed, FIFOs and devices never read)", why, path))
			return
		}
		lf := logFile{src: path, rel: rel, size: fi.Size, mtime: fi.ModTime}
		if !strings.HasSuffix(strings.ToLower(rel), ".gz") {
			active = append(active, lf)
			return
		}
		lf.archive = true
		if now.Sub(fi.ModTime) > req.Since {
			oldCount++
			oldBytes += fi.Size
			return
		}
		archived = append(archived, lf)
	})
	if oldCount > 0 {
		p.warnings = append(p.warnings, fmt.Sprintf("%d archived logs (%s) older than --since %s were left out; use a longer --since to include them",
			oldCount, config.HumanBytes(oldBytes), config.Duration(req.Since)))
	}
	return active, archived
}

// fit plans the logs into the --max-size budget, newest first: active logs
// keep their newest bytes, archives go in whole or not at all.
func (p *logPlan) fit(req BundleRequest, active, archived []logFile) {
	budget := req.MaxSize - smallFiles
	if req.Duration > 0 {
		budget -= min(req.MaxFileSize, req.MaxSize/4) // the live window's share
	}
	if budget < 0 {
		budget = 0
	}
	for _, f := range active {
		f.keep = min(f.size, req.MaxFileSize, budget)
		if f.keep == 0 && f.size > 0 {
			p.leaveOut(f.rel, fmt.Sprintf("left out: the --max-size budget (%s) was used by newer logs", config.HumanBytes(req.MaxSize)))
			continue
		}
		budget -= f.keep
		p.files = append(p.files, f)
	}
	for _, f := range archived {
		if f.size > req.MaxFileSize || f.size > budget {
			p.leaveOut(f.rel, fmt.Sprintf("left out: %s does not fit the remaining --max-size budget (%s) or --max-file-size", config.HumanBytes(f.size), config.HumanBytes(budget)))
			continue
		}
		f.keep = f.size
		budget -= f.keep
		p.files = append(p.files, f)
	}
}

// openLogDir opens the PBX log folder with safefs; its notes name a folder
// that is world-writable or owned by neither root nor the PBX user (the
// owner of the data folder).
func (a *Agent) openLogDir() (*safefs.Dir, error) {
	owner := int64(-1)
	if dd, err := safefs.OpenDir(a.cfg.PBX.DataDir, safefs.DirOptions{Owner: -1}); err == nil {
		owner = dd.Info().UID
		dd.Close()
	}
	return safefs.OpenDir(a.cfg.LogDir(), safefs.DirOptions{Owner: owner})
}

// walkLogs calls fn for every entry below rel in d, depth first, without
// following symlinks; folders are descended, not reported.
func walkLogs(d *safefs.Dir, rel string, fn func(rel string, fi safefs.Info, err error)) {
	sub := d
	if rel != "" {
		s, err := d.OpenSubdir(rel)
		if err != nil {
			fn(rel, safefs.Info{}, err)
			return
		}
		defer s.Close()
		sub = s
	}
	ents, err := sub.ReadDir()
	if err != nil {
		fn(rel, safefs.Info{}, err)
		return
	}
	for _, e := range ents {
		r := e.Name()
		if rel != "" {
			r = rel + "/" + r
		}
		fi, err := d.Stat(r)
		if err == nil && fi.Mode.IsDir() {
			walkLogs(d, r, fn)
			continue
		}
		fn(r, fi, err)
	}
}

// close releases the log folder's handle.
func (p *logPlan) close() {
	if p.dir != nil {
		p.dir.Close()
	}
}

// addLogs streams the planned logs into the archive. callmanager.log is
// taken from the follower when a live window runs, so the history and the
// window meet at one offset with no line lost or repeated.
func (a *Agent) addLogs(ctx context.Context, bw *bundle.Writer, req BundleRequest, p *logPlan, win *window) error {
	w := win.logSink(ctx, a, bw, req.OutputDir) // every log goes in redacted
	for _, m := range p.missing {
		w.Missing(m.Path, m.Collector, m.Reason)
	}
	for _, f := range p.files {
		dst := "logs/" + f.rel
		if ctx.Err() != nil {
			w.Missing(dst, "logs", "not collected: the run was interrupted")
			continue
		}
		if f.rel == activeLog && win.follower != nil {
			// The log may have grown since planning: take it whole up to
			// the per-file cap unless the budget already cut it.
			keep := f.keep
			if keep >= f.size {
				keep = req.MaxFileSize
			}
			r, n, skipped := win.follower.History(keep)
			if err := w.Add(bundle.Entry{Path: dst, Collector: "logs", Source: f.src, Size: n,
				ModTime: f.mtime, Reader: r, TruncatedBytes: skipped}); err != nil {
				return err
			}
			continue
		}
		if err := addTail(w, p.dir, f, dst); err != nil {
			return err
		}
	}
	if !req.Past.IsZero() {
		a.addPastLog(ctx, w, req, p)
	}
	return nil
}

// addTail adds the newest f.keep bytes of a file, starting at a line
// boundary when the file is cut.
func addTail(w logAdder, d *safefs.Dir, f logFile, dst string) error {
	fh, err := d.Open(f.rel)
	if err != nil {
		w.Missing(dst, "logs", reason(f.src, err))
		return nil
	}
	defer fh.Close()
	fi, err := fh.Restat()
	if err != nil {
		w.Missing(dst, "logs", reason(f.src, err))
		return nil
	}
	if fi.Links > 1 {
		w.Warn(linkNote(f.src, fi.Links))
	}
	// Take the tail from the file's current end: a log that grew since
	// planning keeps its newest lines within the planned byte count.
	size := fi.Size
	if f.archive && size != f.size {
		size = min(size, f.size) // an archive is included whole or cut, never realigned
	}
	keep := min(f.keep, size)
	start := size - keep
	if start > 0 && !f.archive {
		start = lineStart(fh, start, size)
	}
	e := bundle.Entry{Path: dst, Collector: "logs", Source: f.src, Size: size - start,
		ModTime: fi.ModTime, Reader: io.NewSectionReader(fh, start, size-start), TruncatedBytes: start}
	if fi.Size < f.size {
		e.Error = fmt.Sprintf("file shrank from %d to %d bytes while the bundle was made (rotated?)", f.size, fi.Size)
	}
	return w.Add(e)
}

// lineStart moves a cut point forward to just after the next newline (within
// 64 KiB), so a tail does not begin with half a line.
func lineStart(r io.ReaderAt, start, size int64) int64 {
	buf := make([]byte, min(64<<10, size-start))
	n, _ := r.ReadAt(buf, start-1)
	if n > 0 && buf[0] == '\n' {
		return start
	}
	if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 && start-1+int64(i)+1 < size {
		return start - 1 + int64(i) + 1
	}
	return start
}
