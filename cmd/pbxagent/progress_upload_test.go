package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pbxagent/pbxagent/delivery"
)

func TestUploadMeterText(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	const MiB = 1 << 20
	for _, tc := range []struct {
		name      string
		m         *uploadMeter
		reports   [][2]int64 // done, total at t0+i seconds
		want, not []string
	}{
		{"before any count", newUploadMeter(false, 16*MiB), nil, []string{"uploading"}, []string{"of", "/s"}},
		{"multipart, first second: no rate yet", newUploadMeter(false, 16*MiB), [][2]int64{{0, 100 * MiB}},
			[]string{"uploading 0 B of 100.0 MiB (0%)", "7 parts of 16.0 MiB"}, []string{"/s", "left"}},
		{"multipart, steady", newUploadMeter(false, 16*MiB), [][2]int64{{0, 100 * MiB}, {10 * MiB, 100 * MiB}, {20 * MiB, 100 * MiB}},
			[]string{"20.0 MiB of 100.0 MiB (20%)", "7 parts of 16.0 MiB", "10.0 MiB/s", "8s left"}, []string{"resumed"}},
		{"part size below the minimum", newUploadMeter(false, 1*MiB), [][2]int64{{0, 40 * MiB}},
			[]string{"3 parts of 16.0 MiB"}, nil},
		{"small bundle: one part of its size", newUploadMeter(false, 16*MiB), [][2]int64{{0, 3 * MiB}},
			[]string{"1 part of 3.0 MiB"}, nil},
		{"resumed: rate from this run's bytes only", newUploadMeter(false, 16*MiB),
			[][2]int64{{64 * MiB, 100 * MiB}, {68 * MiB, 100 * MiB}, {72 * MiB, 100 * MiB}},
			[]string{"72.0 MiB of 100.0 MiB (72%)", "resumed, 64.0 MiB already on the server", "4.0 MiB/s", "7s left"},
			[]string{"parts of"}},
		{"pre-signed URL: one PUT, no parts", newUploadMeter(true, 0), [][2]int64{{1 * MiB, 10 * MiB}, {3 * MiB, 10 * MiB}},
			[]string{"3.0 MiB of 10.0 MiB (30%)", "3.0 MiB/s", "2s left"}, []string{"parts", "resumed"}},
		{"finished: no time left", newUploadMeter(true, 0), [][2]int64{{0, 4 * MiB}, {4 * MiB, 4 * MiB}},
			[]string{"4.0 MiB of 4.0 MiB (100%)", "4.0 MiB/s"}, []string{"left"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			for i, r := range tc.reports {
				now = t0.Add(time.Duration(i) * time.Second)
				tc.m.set(r[0], r[1], now)
			}
			got := tc.m.text(now)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("%q holds %q", got, w)
				}
			}
		})
	}
}

// TestUploadLine checks that the upload is drawn on the bundle's live
// line: redrawn in place, cut to the terminal's width, erased at the end.
func TestUploadLine(t *testing.T) {
	var buf bytes.Buffer
	m := newUploadMeter(false, 16<<20)
	p := &progress{w: &buf, tty: true, width: func() int { return 30 }, quit: make(chan struct{}), text: m.text}
	u := &uploadLine{p: p, m: m}
	u.report(0, 100<<20)
	p.render()
	u.report(50<<20, 100<<20)
	p.render()
	frames := strings.Split(buf.String(), "\r")
	if len(frames) != 3 || frames[0] != "" {
		t.Fatalf("want two frames each starting with a carriage return, got %q", buf.String())
	}
	last := frames[2]
	if !strings.HasSuffix(last, "\x1b[K") {
		t.Fatalf("frame does not erase the rest of the line: %q", last)
	}
	text := strings.TrimSuffix(last, "\x1b[K")
	if w := utf8.RuneCountInString(text); w >= 30 {
		t.Errorf("line of %d columns on a 30-column terminal: %q", w, text)
	}
	if !strings.Contains(text, "uploading 50.0 MiB") {
		t.Errorf("line %q does not show the bytes sent", text)
	}
	u.finish()
	if !strings.HasSuffix(buf.String(), "\r\x1b[K") {
		t.Error("finish did not erase the line")
	}
}

// TestUploadProgressOff checks that nothing is drawn, and the options are
// left alone, when stderr is not a terminal or --json asks for quiet.
func TestUploadProgressOff(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		var buf bytes.Buffer
		a := &app{stdout: &buf, stderr: &buf}
		var opt delivery.UploadOptions
		finish := a.uploadProgress(quiet, &opt)
		if opt.Progress != nil || opt.Log != nil {
			t.Errorf("quiet %v: progress or log set for a writer that is not a terminal", quiet)
		}
		finish()
		if buf.Len() != 0 {
			t.Errorf("quiet %v: wrote %q", quiet, buf.String())
		}
	}
}
