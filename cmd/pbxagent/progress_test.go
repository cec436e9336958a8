package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pbxagent/pbxagent/agent"
)

func TestFit(t *testing.T) {
	for _, w := range []int{1, 2, 10, 80} {
		s := fit(strings.Repeat("é", 200), w)
		if n := utf8.RuneCountInString(s); n >= w && w > 1 || n > 1 && w == 1 {
			t.Errorf("width %d: %d runes", w, n)
		}
	}
	if got := fit("short", 80); got != "short" {
		t.Errorf("fit changed a short line: %q", got)
	}
}

// TestLiveCounts checks that each redraw reads the counts anew and fits
// the line, redrawn in place.
func TestLiveCounts(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, tty: true, width: func() int { return 40 }, quit: make(chan struct{})}
	var n, pk int64
	p.update(agent.Progress{Step: "capturing packets and following callmanager.log", WindowEnd: time.Now().Add(time.Minute),
		Capturing: true, Live: func() (int64, int64) { return n, pk }})
	n, pk = 3<<20, 1234
	p.render()
	frames := strings.Split(buf.String(), "\r")
	last := frames[len(frames)-1]
	if !strings.HasSuffix(last, "\x1b[K") {
		t.Fatalf("frame does not erase the rest of the line: %q", last)
	}
	if w := utf8.RuneCountInString(strings.TrimSuffix(last, "\x1b[K")); w >= 40 {
		t.Errorf("line of %d columns on a 40-column terminal", w)
	}
	p.width = func() int { return 200 }
	p.render()
	frames = strings.Split(buf.String(), "\r")
	last = frames[len(frames)-1]
	for _, want := range []string{"1234 packets", "3.0 MiB collected", "left"} {
		if !strings.Contains(last, want) {
			t.Errorf("line %q lacks %q", last, want)
		}
	}
	p.done()
	if !strings.HasSuffix(buf.String(), "\r\x1b[K") {
		t.Error("done did not erase the line")
	}
}
