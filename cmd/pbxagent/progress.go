package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/pbxagent/pbxagent/agent"
	"github.com/pbxagent/pbxagent/config"
)

// progress shows a bundle run: on a terminal a live line with the countdown
// and the current step; elsewhere one log line per step.
type progress struct {
	w    io.Writer
	tty  bool
	quit chan struct{}

	mu      sync.Mutex
	last    agent.Progress
	bar     *progressbar.ProgressBar
	started time.Time
	log     *slog.Logger
	stopped bool
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, tty: isTerminal(w), quit: make(chan struct{}), started: time.Now()}
	if !p.tty {
		p.log = slog.New(slog.NewTextHandler(w, nil))
		return p
	}
	_ = quiet // the live line goes to stderr; --json output on stdout stays clean
	p.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(20),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionSetPredictTime(false),
	)
	go p.tick()
	return p
}

// tick refreshes the countdown every 200 ms.
func (p *progress) tick() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			p.mu.Lock()
			p.render()
			p.mu.Unlock()
		}
	}
}

func (p *progress) render() {
	if p.bar == nil || p.stopped {
		return
	}
	desc := p.last.Step
	if !p.last.WindowEnd.IsZero() {
		left := time.Until(p.last.WindowEnd).Round(time.Second)
		if left < 0 {
			left = 0
		}
		desc = fmt.Sprintf("%s  [%s left]", desc, left)
	}
	if p.last.Capturing {
		desc = fmt.Sprintf("%s  %d packets", desc, p.last.Packets)
	}
	if p.last.Written > 0 {
		desc = fmt.Sprintf("%s  %s written", desc, config.HumanBytes(p.last.Written))
	}
	p.bar.Describe(desc)
	_ = p.bar.Add(1)
}

// update receives a step from the bundle run.
func (p *progress) update(ev agent.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := ev.Step != p.last.Step
	p.last = ev
	if p.tty {
		p.render()
		return
	}
	if changed {
		attrs := []any{"step", ev.Step}
		if !ev.WindowEnd.IsZero() {
			attrs = append(attrs, "window_left", time.Until(ev.WindowEnd).Round(time.Second).String())
		}
		p.log.Info("bundle", attrs...)
	}
}

// note prints a message without garbling the live line.
func (p *progress) note(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil && !p.stopped {
		_ = p.bar.Clear()
		fmt.Fprintln(p.w)
	}
	if p.log != nil {
		p.log.Warn(msg)
		return
	}
	fmt.Fprintln(p.w, msg)
}

// done removes the live line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.quit)
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
	}
}
