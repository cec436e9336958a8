package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/analyze"
	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/follow"
	"github.com/pbxagent/pbxagent/internal/safefs"
)

// windowLogName is the archive path of the lines written to callmanager.log
// during the live window.
const windowLogName = "logs/callmanager.window.log"

// followPoll is how often callmanager.log is checked for new lines and
// rotation; short, so a copy-and-truncate rotation loses as little as possible.
const followPoll = 25 * time.Millisecond

// window holds the long-running captures of the live window.
type window struct {
	mu       sync.Mutex
	logDir   *safefs.Dir // the PBX log folder the follower opens through
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	follower *follow.Follower
	spool    *bundle.Spool
	capture  *liveCapture
	past     *pastWindow
	report   *analyze.Report
	fstats   follow.Stats
	ferr     error
	sections map[string]any
	closers  []func()
	sink     *logSink // adds logs redacted
}

// logSink returns the window's sink for logs, or a new one for w.
func (win *window) logSink(ctx context.Context, a *Agent, w *bundle.Writer, dir string) *logSink {
	if win.sink == nil {
		win.sink = a.newLogSink(ctx, w, dir, nil)
	}
	return win.sink
}

func (a *Agent) startWindow(ctx context.Context, req BundleRequest, w *bundle.Writer, g *bundle.Guard, win *window, host string) error {
	wctx, cancel := context.WithCancel(ctx)
	win.cancel = cancel
	if !req.NoCapture {
		lc, err := a.startCapture(wctx, req, w, g, host)
		if err != nil {
			return err
		}
		if lc != nil {
			win.capture = lc
			win.closers = append(win.closers, func() { lc.spool.Close() })
		}
	}
	src := filepath.Join(a.cfg.LogDir(), activeLog)
	if win.logDir == nil {
		w.Missing(windowLogName, "follow", fmt.Sprintf("cannot follow %s: the log folder could not be opened", src))
		return nil
	}
	f, err := follow.OpenIn(win.logDir, activeLog, follow.Options{Poll: followPoll, MaxBytes: min(req.MaxFileSize, req.MaxSize/4)})
	if err != nil {
		w.Missing(windowLogName, "follow", fmt.Sprintf("cannot follow %s: %s", src, reason(src, err)))
		return nil
	}
	sp, err := bundle.NewSpool(req.OutputDir, g)
	if err != nil {
		f.Close()
		return err
	}
	win.follower, win.spool = f, sp
	win.closers = append(win.closers, func() { f.Close() }, func() { sp.Close() })
	win.wg.Add(1)
	go func() {
		defer win.wg.Done()
		st, err := f.Run(wctx, sp)
		win.mu.Lock()
		win.fstats, win.ferr = st, err
		win.mu.Unlock()
	}()
	return nil
}

// finish ends the live captures and adds what they collected.
func (win *window) finish(w *bundle.Writer) error {
	if win.cancel != nil {
		win.cancel()
	}
	win.wg.Wait()
	if err := win.finishCapture(w); err != nil {
		return err
	}
	if win.follower == nil {
		return nil
	}
	return win.finishFollow(w)
}

// finishCapture adds the live capture's file, or says that it wrote nothing.
func (win *window) finishCapture(w *bundle.Writer) error {
	if win.capture != nil {
		win.capture.finish(w, win.sections)
	}
	if e, ok := win.captureEntry(); ok {
		if win.capture != nil && win.capture.err != nil {
			e.Error = win.capture.err.Error()
		}
		return w.Add(e)
	} else if win.capture != nil {
		w.Missing(captureName, "capture", "the capture wrote nothing")
	}
	return nil
}

// finishFollow adds the callmanager.log lines followed during the window
// and their section of the manifest.
func (win *window) finishFollow(w *bundle.Writer) error {
	win.mu.Lock()
	st, ferr := win.fstats, win.ferr
	win.mu.Unlock()
	sec := map[string]any{
		"source":       win.follower.Path(),
		"start_offset": win.follower.StartOffset(),
		"bytes":        st.Bytes,
		"dropped":      st.Dropped,
		"renames":      st.Renames,
		"truncations":  st.Truncations,
	}
	e := bundle.Entry{Path: windowLogName, Collector: "follow", Source: win.follower.Path(),
		Size: win.spool.Size(), Reader: win.spool.Reader(), TruncatedBytes: st.Dropped}
	if ferr != nil {
		sec["error"] = ferr.Error()
		e.Error = ferr.Error()
		if r, ok := refusedReason(ferr); ok {
			sec["error"], e.Error = r, r
		}
	}
	if n := win.follower.Links(); n > 1 {
		w.Warn(linkNote(win.follower.Path(), n))
	}
	win.sections["follow"] = sec
	if win.sink != nil {
		return win.sink.Add(e)
	}
	return w.Add(e)
}

func (win *window) close() {
	if win.cancel != nil {
		win.cancel()
	}
	win.wg.Wait()
	if win.capture != nil {
		<-win.capture.done
	}
	for _, c := range win.closers {
		c()
	}
}

// captureSummary counts the packets of the live capture and of the past
// window, or is nil when there was neither.
func (win *window) captureSummary() *CaptureSummary {
	var cs *CaptureSummary
	if lc := win.capture; lc != nil {
		cs = &CaptureSummary{Packets: lc.stats.Written, KernelDropped: lc.stats.KernelDropped,
			Truncated: lc.stats.Truncated, StopReason: lc.stats.StopReason, Filter: lc.stats.Filter}
	}
	if p := win.past; p != nil {
		if cs == nil {
			cs = &CaptureSummary{}
		}
		cs.Packets += p.stats.Packets
		cs.Past = p.stats.Packets
	}
	return cs
}
