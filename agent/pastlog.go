package agent

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/bundle"
)

// pastLogName is the archive path of the callmanager.log lines of the past
// window; pastLogLiveName is used instead when a live window also runs
// (its lines are windowLogName).
const (
	pastLogName     = windowLogName
	pastLogLiveName = "logs/callmanager.past.log"
)

// maxPastLog bounds the lines of a past window kept in memory and in the
// bundle; maxLogLine bounds one line (a longer one is cut).
const (
	maxPastLog = 64 << 20
	maxLogLine = 1 << 20
)

// logStamp finds a log line's leading timestamp: PortSIP writes
// "2026-11-27 10:15:00.123 [INFO] …", optionally in brackets; an RFC 3339
// zone may follow.
var logStamp = regexp.MustCompile(`^\[?(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})([.,]\d{1,9})?(Z|[+-]\d{2}:?\d{2})?`)

// parseLogTime returns the timestamp a log line begins with. Lines without
// a zone are in loc (PortSIP does not document its log's zone; the host's
// own is assumed and recorded in the bundle's warnings).
func parseLogTime(line []byte, loc *time.Location) (time.Time, bool) {
	m := logStamp.FindSubmatch(line)
	if m == nil {
		return time.Time{}, false
	}
	s := string(m[1]) + "T" + string(m[2]) + strings.Replace(string(m[3]), ",", ".", 1)
	if z := string(m[4]); z != "" {
		if len(z) == 5 { // +0100
			z = z[:3] + ":" + z[3:]
		}
		t, err := time.Parse("2006-01-02T15:04:05.999999999Z07:00", s+z)
		return t, err == nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, loc)
	return t, err == nil
}

// windowLines copies to out the lines of r whose timestamp falls in
// [from, to]; a line without a timestamp follows the line before it. It
// stops after limit bytes and reports whether it did.
func windowLines(r io.Reader, from, to time.Time, loc *time.Location, out *bytes.Buffer, limit int) (cut bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	in := false
	for {
		line, rerr := readLine(br)
		if len(line) > 0 {
			if t, ok := parseLogTime(line, loc); ok {
				in = !t.Before(from) && !t.After(to)
			}
			if in {
				if out.Len()+len(line) > limit {
					return true, nil
				}
				out.Write(line)
			}
		}
		if rerr == io.EOF {
			return false, nil
		}
		if rerr != nil {
			return false, rerr
		}
	}
}

// readLine reads one line (with its newline), cutting one longer than
// maxLogLine and skipping the rest of it.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line) < maxLogLine {
			line = append(line, frag[:min(len(frag), maxLogLine-len(line))]...)
		}
		if err != bufio.ErrBufferFull {
			if len(line) > 0 && line[len(line)-1] != '\n' { // a cut line, or the last one
				line = append(line, '\n')
			}
			return line, err
		}
	}
}

// addPastLog adds the callmanager.log lines of the past window, from the
// active log and its archives (rotated files, .gz), read through safefs and
// redacted like every log.
func (a *Agent) addPastLog(ctx context.Context, w logAdder, req BundleRequest, p *logPlan) {
	name := pastLogName
	if req.Duration > 0 {
		name = pastLogLiveName
	}
	if p.dir == nil {
		w.Missing(name, "logs", "the PBX log folder could not be opened")
		return
	}
	ents, err := p.dir.ReadDir()
	if err != nil {
		w.Missing(name, "logs", reason(p.dir.Join(""), err))
		return
	}
	type src struct {
		rel   string
		mtime time.Time
	}
	var srcs []src
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "callmanager") || strings.HasPrefix(n, "callmanager.window") || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || fi.ModTime().Before(req.Past.From) {
			continue // rotated before the window began: every line is older
		}
		srcs = append(srcs, src{n, fi.ModTime()})
	}
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].mtime.Before(srcs[j].mtime) })
	limit := int(min(int64(maxPastLog), req.MaxFileSize))
	var out bytes.Buffer
	cut := false
	for _, s := range srcs {
		if ctx.Err() != nil || cut {
			break
		}
		c, err := a.windowOf(p, s.rel, req.Past, &out, limit)
		cut = c
		if err != nil {
			w.Warn(fmt.Sprintf("%s: %v; its lines of the past window are missing", p.dir.Join(s.rel), err))
		}
	}
	if cut {
		w.Warn(fmt.Sprintf("%s was cut at %d bytes", name, limit))
	}
	if len(srcs) > 0 {
		w.Warn(fmt.Sprintf("%s: callmanager.log timestamps without a zone were read in the host's time zone (%s)", name, time.Local))
	}
	_ = w.Add(bundle.Entry{Path: name, Collector: "logs", Source: p.dir.Join("callmanager.log"), Size: int64(out.Len()),
		ModTime: time.Now(), Reader: bytes.NewReader(out.Bytes())})
}

// windowOf appends one file's lines of the window to out.
func (a *Agent) windowOf(p *logPlan, rel string, win Window, out *bytes.Buffer, limit int) (bool, error) {
	fh, err := p.dir.Open(rel)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	var r io.Reader = io.LimitReader(fh, fh.Info().Size)
	if strings.HasSuffix(strings.ToLower(rel), ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return false, fmt.Errorf("not a gzip archive: %w", err)
		}
		defer zr.Close()
		r = io.LimitReader(zr, 64*int64(maxPastLog)) // a compression bomb ends here
	}
	return windowLines(r, win.From, win.To, time.Local, out, limit)
}
