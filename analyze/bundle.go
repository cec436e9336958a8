package analyze

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/mholt/archives"

	"github.com/pbxagent/pbxagent/analyze/decode"
	"github.com/pbxagent/pbxagent/bundle"
)

// maxSystemFile bounds one system/*.json read into memory.
const maxSystemFile = 16 << 20

// captureMagic tells a bare capture file by its first bytes: pcap in both
// byte orders (micro- and nanosecond), pcapng, and gzip (a compressed pcap
// is told apart from a compressed bundle by the archive check).
func isCapture(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	switch string(head[:4]) {
	case "\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", "\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d", "\x0a\x0d\x0d\x0a":
		return true
	}
	return false
}

// isCapturePath reports whether an archive member is the bundle's capture.
func isCapturePath(p string) bool {
	return strings.HasPrefix(p, "capture/") && (strings.HasSuffix(p, ".pcapng") || strings.HasSuffix(p, ".pcap"))
}

// AnalyzeFile analyses a support bundle (tar.gz, tar.zst or zip: its
// capture/capture.pcapng, system/*.json and logs/*.log, read in one
// streaming pass) or a bare pcap or pcapng file, told apart by content.
func AnalyzeFile(ctx context.Context, file string, opt Options) (*Report, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if isCapture(head[:n]) {
		return analyzeCapture(ctx, file, f, opt)
	}
	rep, err := analyzeBundle(ctx, file, f, opt)
	if !errors.Is(err, bundle.ErrNotArchive) {
		return rep, err
	}
	// Not an archive: perhaps a compressed capture.
	if _, serr := f.Seek(0, io.SeekStart); serr != nil {
		return nil, serr
	}
	format, _, ierr := archives.Identify(ctx, file, f)
	if _, serr := f.Seek(0, io.SeekStart); serr != nil {
		return nil, serr
	}
	if dec, ok := format.(archives.Decompressor); ierr == nil && ok {
		rc, err := dec.OpenReader(f)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return analyzeCapture(ctx, file, rc, opt)
	}
	if bytes.HasPrefix(head[:n], []byte{0x1f, 0x8b}) {
		// A gzip stream not identified as such: let the decoder try.
		return analyzeCapture(ctx, file, f, opt)
	}
	cause := ierr
	if cause == nil {
		cause = fmt.Errorf("%s is not an archive format", format.Extension())
	}
	return nil, fmt.Errorf("%s is neither a pcap/pcapng capture nor a bundle archive (tar.gz, tar.zst, zip): %v", file, cause)
}

func analyzeCapture(ctx context.Context, name string, r io.Reader, opt Options) (*Report, error) {
	rep, err := Analyze(ctx, r, nil, opt)
	if err != nil {
		return nil, err
	}
	rep.Source, rep.Capture.File = name, name
	return rep, nil
}

// analyzeBundle reads a bundle archive in one pass; its error wraps
// bundle.ErrNotArchive when f is not an archive.
func analyzeBundle(ctx context.Context, name string, f *os.File, opt Options) (*Report, error) {
	a := New(opt)
	in := &BundleInput{System: map[string][]byte{}}
	logs := newLogScan()
	var stats decode.Stats
	var captureName string
	type keptLog struct {
		name  string
		data  []byte
		timed bool
	}
	var logData []keptLog
	err := bundle.Walk(ctx, name, f, func(p string, rc io.Reader) error {
		switch {
		case isCapturePath(p) && captureName == "":
		case p == "manifest.json":
			return readCaptureFilter(rc, &a.opt)
		case strings.HasPrefix(p, "system/") && strings.HasSuffix(p, ".json"):
		case strings.HasPrefix(p, "logs/") && strings.HasSuffix(p, ".log"):
		default:
			return nil
		}
		switch {
		case isCapturePath(p):
			captureName = p
			st, err := decode.Read(ctx, bufio.NewReaderSize(rc, 1<<20), a.opt.DecodeOptions(), func(ev *decode.Event) error {
				a.Add(ev)
				return nil
			})
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			stats = st
		case strings.HasPrefix(p, "system/"):
			data, err := io.ReadAll(io.LimitReader(rc, maxSystemFile))
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			in.System[strings.TrimSuffix(path.Base(p), ".json")] = data
		default:
			// The log times' zone comes from system/host.json, which
			// may come later in the archive: keep the error lines only
			// and scan them once the archive has been read.
			var buf bytes.Buffer
			br := bufio.NewReaderSize(rc, 64<<10)
			kept, timed := 0, false
			for {
				line, err := readLine(br)
				if len(line) > 0 || err == nil {
					if !timed {
						_, timed = parseLogTime(line, time.UTC)
					}
					if logErrorRE.MatchString(line) && kept < maxLogHits {
						buf.WriteString(line)
						kept++
					}
					buf.WriteByte('\n') // keeps the line numbers
				}
				if err != nil {
					break
				}
			}
			logData = append(logData, keptLog{strings.TrimPrefix(p, "logs/"), buf.Bytes(), timed})
		}
		return nil
	})
	if errors.Is(err, bundle.ErrNotArchive) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if captureName == "" {
		return nil, errors.New(name + ": the bundle holds no capture (capture/capture.pcapng): make one with pbxagent bundle --duration")
	}
	host := parseHost(in)
	loc := timeZone(host)
	for _, l := range logData {
		_ = logs.scan(l.name, bytes.NewReader(l.data), loc)
		if l.timed {
			logs.timed[l.name] = true
		}
	}
	a.logHits = logs
	rep := a.Finish(in, stats)
	rep.Source = name
	rep.Capture.File = name + "!" + captureName
	return rep, nil
}
