package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/recorder"
)

// Window is a past time window of a bundle (`--last 15m`, `--from/--to`).
type Window struct {
	From, To time.Time
}

// IsZero reports whether no past window was asked for.
func (w Window) IsZero() bool { return w.From.IsZero() && w.To.IsZero() }

// LastWindow is the window of the last d up to now.
func LastWindow(d time.Duration, now time.Time) Window {
	return Window{From: now.Add(-d), To: now}
}

// pastWindow holds the flight recorder's packets of the past window.
type pastWindow struct {
	spool  *bundle.Spool
	stats  recorder.ExtractStats
	source string
}

// addPast takes the packets of the past window from the flight recorder.
// The running service is asked to seal its open segment first, so no
// segment is read while it is written; without a service the finished
// segments are read as they are. Newest segments are preferred when the
// window holds more than the capture cap.
func (a *Agent) addPast(ctx context.Context, b *bundleRun) error {
	w, win, pw := b.w, b.win, b.req.Past
	dir := a.cfg.RecorderDir()
	sec := map[string]any{"dir": dir, "from": pw.From, "to": pw.To}
	win.sections["recorder"] = sec
	segs, err := recorder.SealRemote(ctx, dir)
	source := "segments sealed by the running service"
	if err != nil {
		if !errors.Is(err, recorder.ErrNoService) {
			w.Warn(fmt.Sprintf("the flight recorder service did not seal its open segment (%v); its last seconds may be missing", err))
		}
		source = "finished segments on disk (no running service answered)"
		if segs, err = recorder.Finished(dir); err != nil {
			why := fmt.Sprintf("no flight recorder data: %v (is `pbxagent run` running with recorder.enabled?)", err)
			sec["error"] = why
			w.Missing(captureName, "recorder", why)
			w.Warn(why)
			return nil
		}
	}
	sec["source"] = source
	from := a.pastBudget(w, segs, pw, sec)
	sp, err := bundle.NewSpool(b.req.OutputDir, b.guard)
	if err != nil {
		return err
	}
	win.closers = append(win.closers, func() { sp.Close() })
	st, err := recorder.Extract(ctx, dir, segs, from, pw.To, sp)
	if err != nil {
		return fmt.Errorf("read the flight recorder: %w", err)
	}
	win.past = &pastWindow{spool: sp, stats: st, source: source}
	sec["packets"], sec["hep"], sec["segments"], sec["bytes"] = st.Packets, st.HEP, st.Segments, st.Bytes
	if st.Packets == 0 {
		why := fmt.Sprintf("the flight recorder holds no packet from %s to %s (%s)", pw.From.Format(time.RFC3339), pw.To.Format(time.RFC3339), coverage(segs))
		sec["note"] = why
		w.Warn(why)
		return nil
	}
	if first := st.First; first.Sub(pw.From) > time.Minute && from.Equal(pw.From) {
		w.Warn(fmt.Sprintf("the flight recorder's packets of the window start at %s, not %s (%s)", first.Format(time.RFC3339), pw.From.Format(time.RFC3339), coverage(segs)))
	}
	return nil
}

// pastBudget returns the start of the window actually taken: the newest
// segments are kept when the window holds more than the capture cap.
func (a *Agent) pastBudget(w *bundle.Writer, segs []recorder.Index, pw Window, sec map[string]any) time.Time {
	limit := int64(DefaultMaxCaptureBytes)
	var total int64
	for i := len(segs) - 1; i >= 0; i-- {
		x := segs[i]
		if !x.Overlaps(pw.From, pw.To) {
			continue
		}
		total += x.PcapngBytes()
		if total > limit && i < len(segs)-1 {
			from := segs[i+1].First
			if from.After(pw.From) {
				w.Warn(fmt.Sprintf("the flight recorder window holds more than %s; packets from %s on are in the bundle", config.HumanBytes(limit), from.Format(time.RFC3339)))
				sec["truncated_from"] = from
				return from
			}
		}
	}
	return pw.From
}

// coverage says what span the ring covers.
func coverage(segs []recorder.Index) string {
	var first, last time.Time
	for _, x := range segs {
		if x.Packets == 0 {
			continue
		}
		if first.IsZero() || x.First.Before(first) {
			first = x.First
		}
		if x.Last.After(last) {
			last = x.Last
		}
	}
	if first.IsZero() {
		return "the ring is empty"
	}
	return fmt.Sprintf("the ring covers %s to %s", first.Format(time.RFC3339), last.Format(time.RFC3339))
}

// captureEntry is the bundle's capture/capture.pcapng: the past window's
// packets followed by the live capture's, as two pcapng sections of one
// file.
func (win *window) captureEntry() (bundle.Entry, bool) {
	var readers []io.Reader
	var size int64
	collector := ""
	if p := win.past; p != nil && p.spool.Size() > 0 {
		readers = append(readers, p.spool.Reader())
		size += p.spool.Size()
		collector = "recorder"
	}
	if lc := win.capture; lc != nil && lc.spool.Size() > 0 {
		readers = append(readers, lc.spool.Reader())
		size += lc.spool.Size()
		if collector != "" {
			collector += "+"
		}
		collector += "capture"
	}
	if size == 0 {
		return bundle.Entry{}, false
	}
	return bundle.Entry{Path: captureName, Collector: collector, Size: size, Reader: io.MultiReader(readers...)}, true
}

// hasCapture reports whether the bundle holds packets to analyse.
func (win *window) hasCapture() bool {
	_, ok := win.captureEntry()
	return ok
}
