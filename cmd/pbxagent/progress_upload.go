package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

// The part size the delivery package uses (defaultPartSize) when the one
// configured is below the S3 minimum (minPartSize).
const (
	minPartSize     = 5 << 20
	defaultPartSize = 16 << 20
)

// uploadMeter turns an upload's byte counts into the text of the live
// line: the bytes confirmed or in flight of the total, the average rate of
// this run, the part plan and the time left at that rate. It only states
// what the counts show: no rate before a second of sending, no part plan
// on a resumed upload (the interrupted run's part size applies, which the
// counts do not tell).
type uploadMeter struct {
	multipart bool  // a multipart (bucket) upload; else one PUT
	partSize  int64 // the part size asked for, multipart only
	started   bool  // the first count came
	start     time.Time
	base      int64 // bytes already on the server when this run started
	done      int64
	total     int64
}

// newUploadMeter returns the meter of an upload to a pre-signed URL (one
// PUT) when presigned is set, else of a multipart upload in parts of
// partSize bytes.
func newUploadMeter(presigned bool, partSize int64) *uploadMeter {
	if partSize < minPartSize {
		partSize = defaultPartSize
	}
	return &uploadMeter{multipart: !presigned, partSize: partSize}
}

// set records the counts of one progress report at time now. A multipart
// upload reports the parts the server already holds before it sends any
// byte; a single PUT starts from nothing.
func (m *uploadMeter) set(done, total int64, now time.Time) {
	if !m.started {
		m.started, m.start = true, now
		if m.multipart {
			m.base = done
		}
	}
	m.done, m.total = done, total
}

// text is the live line's text at time now.
func (m *uploadMeter) text(now time.Time) string {
	if !m.started {
		return "uploading"
	}
	parts := []string{"uploading " + config.HumanBytes(m.done) + " of " + config.HumanBytes(m.total)}
	if m.total > 0 {
		parts[0] += fmt.Sprintf(" (%d%%)", min(m.done*100/m.total, 100))
	}
	switch {
	case m.base > 0:
		parts = append(parts, "resumed, "+config.HumanBytes(m.base)+" already on the server")
	case m.multipart:
		n, word := max((m.total+m.partSize-1)/m.partSize, 1), "parts"
		if n == 1 {
			word = "part"
		}
		parts = append(parts, fmt.Sprintf("%d %s of %s", n, word, config.HumanBytes(min(m.partSize, max(m.total, 1)))))
	}
	if rate, ok := m.rate(now); ok {
		parts = append(parts, config.HumanBytes(int64(rate))+"/s")
		if left := m.total - m.done; left > 0 {
			eta := time.Duration(float64(left) / rate * float64(time.Second))
			parts = append(parts, fmt.Sprintf("%s left", eta.Round(time.Second)))
		}
	}
	return strings.Join(parts, " · ")
}

// rate returns the average bytes per second this run sent, once it has
// sent for a second.
func (m *uploadMeter) rate(now time.Time) (float64, bool) {
	elapsed := now.Sub(m.start)
	sent := m.done - m.base
	if elapsed < time.Second || sent <= 0 {
		return 0, false
	}
	return float64(sent) / elapsed.Seconds(), true
}

// uploadLine shows an upload on the live line of a terminal. The progress
// reports only update the meter, which may be called for every few KiB;
// the line is redrawn by the progress ticker.
type uploadLine struct {
	p *progress
	m *uploadMeter
}

func newUploadLine(w io.Writer, m *uploadMeter) *uploadLine {
	u := &uploadLine{m: m}
	u.p = newTextProgress(w, m.text)
	return u
}

// report is the upload's progress callback.
func (u *uploadLine) report(done, total int64) {
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	u.m.set(done, total, time.Now())
}

// finish removes the line.
func (u *uploadLine) finish() { u.p.done() }
