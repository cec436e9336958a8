package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/pbxagent/pbxagent/agent"
	"github.com/pbxagent/pbxagent/config"
)

// progress shows a bundle run: on a terminal one live line with the
// countdown, the current step and the byte and packet counts as they grow,
// redrawn in place and cut to the terminal's width (a line that wraps
// cannot be redrawn with a carriage return); elsewhere one log line per
// step. With text set (see newTextProgress) the line shows that text
// instead, for other long operations such as an upload.
type progress struct {
	w     io.Writer
	tty   bool
	width func() int
	quit  chan struct{}
	text  func(now time.Time) string // called under mu

	mu      sync.Mutex
	last    agent.Progress
	frame   int
	drawn   bool
	log     *slog.Logger
	stopped bool
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// termWidth returns the width of the terminal w is, 80 when unknown.
func termWidth(w io.Writer) func() int {
	return func() int {
		if f, ok := w.(*os.File); ok {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
				return cols
			}
		}
		return 80
	}
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, tty: isTerminal(w), quit: make(chan struct{}), width: termWidth(w)}
	if !p.tty {
		p.log = slog.New(slog.NewTextHandler(w, nil))
		return p
	}
	_ = quiet // the live line goes to stderr; --json output on stdout stays clean
	go p.tick()
	return p
}

// newTextProgress returns a live line on terminal w showing text(now),
// redrawn every 200 ms until done. w must be a terminal.
func newTextProgress(w io.Writer, text func(now time.Time) string) *progress {
	p := &progress{w: w, tty: true, quit: make(chan struct{}), width: termWidth(w), text: text}
	go p.tick()
	return p
}

// tick redraws the line every 200 ms: the countdown and the live counts
// change between steps.
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

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// line is the live line's text, before fitting it to the width.
func (p *progress) line(now time.Time) string {
	if p.text != nil {
		return spinner[p.frame%len(spinner)] + " " + p.text(now)
	}
	ev := p.last
	parts := []string{spinner[p.frame%len(spinner)] + " " + ev.Step}
	if !ev.WindowEnd.IsZero() {
		left := max(ev.WindowEnd.Sub(now).Round(time.Second), 0)
		parts = append(parts, fmt.Sprintf("%s left", left))
	}
	written, packets := ev.Written, ev.Packets
	if ev.Live != nil {
		written, packets = ev.Live()
	}
	if ev.Capturing {
		parts = append(parts, fmt.Sprintf("%d packets", packets))
	}
	if written > 0 {
		parts = append(parts, config.HumanBytes(written)+" collected")
	}
	return strings.Join(parts, " · ")
}

// fit cuts s to fewer than width columns (the last column stays free: some
// terminals wrap when it is written).
func fit(s string, width int) string {
	limit := max(width-1, 1)
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	if limit == 1 {
		return string(r[:1])
	}
	return string(r[:limit-1]) + "…"
}

func (p *progress) render() {
	if !p.tty || p.stopped {
		return
	}
	p.frame++
	// \r to the line's start, the text, then erase what a longer previous
	// line left.
	fmt.Fprintf(p.w, "\r%s\x1b[K", fit(p.line(time.Now()), p.width()))
	p.drawn = true
}

// clear erases the live line.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
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
	if p.log != nil {
		p.log.Warn(msg)
		return
	}
	p.clear()
	fmt.Fprintln(p.w, msg)
	p.render()
}

// logWriter returns a writer for log lines: each write erases the live
// line, prints the text and redraws the line below it.
func (p *progress) logWriter() io.Writer { return progressLog{p} }

type progressLog struct{ p *progress }

func (l progressLog) Write(b []byte) (int, error) {
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	n, err := p.w.Write(b)
	p.render()
	return n, err
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
	p.clear()
}
