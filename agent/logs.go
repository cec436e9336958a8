package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/config"
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
	dir := a.cfg.LogDir()
	var active, archived []logFile
	var oldCount int
	var oldBytes int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			p.missing = append(p.missing, bundle.MissingEntry{Path: "logs/" + a.relLog(path), Collector: "logs", Reason: reason(path, err)})
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel := a.relLog(path)
		if name := d.Name(); strings.HasPrefix(name, "pbx-support-") || strings.HasPrefix(name, ".pbx-support-") {
			return nil // a bundle (or one being written) in an output folder under the log folder
		}
		if "logs/"+rel == windowLogName {
			p.missing = append(p.missing, bundle.MissingEntry{Path: "logs/" + rel, Collector: "logs",
				Reason: "the name is used for the live window's lines in the bundle; this file was left out"})
			return nil
		}
		if !d.Type().IsRegular() {
			p.missing = append(p.missing, bundle.MissingEntry{Path: "logs/" + rel, Collector: "logs",
				Reason: fmt.Sprintf("%s is not a regular file (symlinks are not followed)", path)})
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			p.missing = append(p.missing, bundle.MissingEntry{Path: "logs/" + rel, Collector: "logs", Reason: reason(path, err)})
			return nil
		}
		lf := logFile{src: path, rel: rel, size: fi.Size(), mtime: fi.ModTime()}
		if strings.HasSuffix(strings.ToLower(path), ".gz") {
			lf.archive = true
			if now.Sub(fi.ModTime()) > req.Since {
				oldCount++
				oldBytes += fi.Size()
				return nil
			}
			archived = append(archived, lf)
			return nil
		}
		active = append(active, lf)
		return nil
	})
	if err != nil {
		p.missing = append(p.missing, bundle.MissingEntry{Path: "logs/", Collector: "logs",
			Reason: fmt.Sprintf("PBX log folder: %s (set pbx.log_dir or pbx.data_dir in the configuration if PortSIP uses another path)", reason(dir, err))})
		return p
	}
	if oldCount > 0 {
		p.warnings = append(p.warnings, fmt.Sprintf("%d archived logs (%s) older than --since %s were left out; use a longer --since to include them",
			oldCount, config.HumanBytes(oldBytes), config.Duration(req.Since)))
	}
	sort.SliceStable(active, func(i, j int) bool {
		ci, cj := active[i].rel == activeLog, active[j].rel == activeLog
		if ci != cj {
			return ci
		}
		return active[i].mtime.After(active[j].mtime)
	})
	sort.SliceStable(archived, func(i, j int) bool { return archived[i].mtime.After(archived[j].mtime) })

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
			p.missing = append(p.missing, bundle.MissingEntry{Path: "logs/" + f.rel, Collector: "logs",
				Reason: fmt.Sprintf("left out: the --max-size budget (%s) was used by newer logs", config.HumanBytes(req.MaxSize))})
			continue
		}
		budget -= f.keep
		p.files = append(p.files, f)
	}
	for _, f := range archived {
		if f.size > req.MaxFileSize || f.size > budget {
			p.missing = append(p.missing, bundle.MissingEntry{Path: "logs/" + f.rel, Collector: "logs",
				Reason: fmt.Sprintf("left out: %s does not fit the remaining --max-size budget (%s) or --max-file-size", config.HumanBytes(f.size), config.HumanBytes(budget))})
			continue
		}
		f.keep = f.size
		budget -= f.keep
		p.files = append(p.files, f)
	}
	return p
}

func (a *Agent) relLog(path string) string {
	rel, err := filepath.Rel(a.cfg.LogDir(), path)
	if err != nil {
		rel = filepath.Base(path)
	}
	return filepath.ToSlash(rel)
}

// addLogs streams the planned logs into the archive. callmanager.log is
// taken from the follower when a live window runs, so the history and the
// window meet at one offset with no line lost or repeated.
func (a *Agent) addLogs(ctx context.Context, w *bundle.Writer, req BundleRequest, p *logPlan, win *window) error {
	for _, m := range p.missing {
		w.Missing(m.Path, m.Collector, m.Reason)
	}
	for _, f := range p.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := "logs/" + f.rel
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
		if err := addTail(w, f, dst); err != nil {
			return err
		}
	}
	return nil
}

// addTail adds the newest f.keep bytes of a file, starting at a line
// boundary when the file is cut.
func addTail(w *bundle.Writer, f logFile, dst string) error {
	fh, err := os.Open(f.src)
	if err != nil {
		w.Missing(dst, "logs", reason(f.src, err))
		return nil
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		w.Missing(dst, "logs", reason(f.src, err))
		return nil
	}
	// Take the tail from the file's current end: a log that grew since
	// planning keeps its newest lines within the planned byte count.
	size := fi.Size()
	if f.archive && size != f.size {
		size = min(size, f.size) // an archive is included whole or cut, never realigned
	}
	keep := min(f.keep, size)
	start := size - keep
	if start > 0 && !f.archive {
		start = lineStart(fh, start, size)
	}
	e := bundle.Entry{Path: dst, Collector: "logs", Source: f.src, Size: size - start,
		ModTime: fi.ModTime(), Reader: io.NewSectionReader(fh, start, size-start), TruncatedBytes: start}
	if fi.Size() < f.size {
		e.Error = fmt.Sprintf("file shrank from %d to %d bytes while the bundle was made (rotated?)", f.size, fi.Size())
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
