package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxagent/pbxagent/capture"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/hep"
	"github.com/pbxagent/pbxagent/internal/atomicfile"
	"github.com/pbxagent/pbxagent/recorder"
)

// recorderStatusFile is the service's account of the flight recorder, in
// the ring folder, for `pbxagent status`.
const recorderStatusFile = "status.json"

// recorderBufferSize is the kernel ring of each recorded interface. The
// ring is memory-mapped and stays resident for the service's life. The
// kernel filter cuts RTP to its headers before it enters the ring, so a
// packet takes about 130 bytes there instead of 300: 2 MiB (8 blocks of
// 256 KiB) recorded 100k RTP packets/s with 0 drops on a loaded 2-core
// machine; 1 MiB dropped 2% (docs/benchmarks.md).
const recorderBufferSize = 2 << 20

// recorderTick is how often the ring ends old segments, applies its
// limits and writes its status.
const recorderTick = 5 * time.Second

// captureRetry is the wait before the recorder's capture is restarted
// after an error.
const captureRetry = 10 * time.Second

// RecorderStatus is what `pbxagent status` shows of the flight recorder.
type RecorderStatus struct {
	// Running is true while the service records; Updated is when it last
	// said so.
	Running bool      `json:"running"`
	Updated time.Time `json:"updated"`
	// Dir is the ring folder; Filter the capture filter.
	Dir    string `json:"dir"`
	Filter string `json:"filter,omitempty"`
	// RTPPayload is true when RTP audio is kept.
	RTPPayload bool `json:"rtp_payload"`
	// MaxBytes and MaxAge are the configured limits.
	MaxBytes int64         `json:"max_bytes"`
	MaxAge   time.Duration `json:"max_age"`
	// Ring holds the ring's counters.
	Ring recorder.Stats `json:"ring"`
	// KernelDropped counts packets the kernel dropped since the service
	// started.
	KernelDropped int64 `json:"kernel_dropped"`
	// CaptureError is why the capture is not running, if it is not.
	CaptureError string `json:"capture_error,omitempty"`
	// HEPFeed counts the HEP receiver's messages since the service
	// started; nil when it is off. HEPError is why it is not listening.
	HEPFeed  *hep.Counts `json:"hep_feed,omitempty"`
	HEPError string      `json:"hep_error,omitempty"`
}

// recorderRun is the flight recorder inside `pbxagent run`.
type recorderRun struct {
	a       *Agent
	cfg     config.Recorder // as configured when the run started
	ring    *recorder.Ring
	opt     capture.Options
	kdrops  atomic.Int64
	mu      sync.Mutex
	capErr  string
	started time.Time
	hep     *hep.Listener
	hepErr  string
}

// RecorderOptions returns the ring options from the configuration.
func (a *Agent) RecorderOptions() recorder.Options {
	c := a.cfg
	r := c.Recorder
	dir := c.RecorderDir()
	return recorder.Options{
		Dir:             dir,
		SegmentDuration: r.SegmentDuration.D(),
		SegmentBytes:    int64(r.SegmentSize),
		MaxBytes:        int64(r.MaxSize),
		MaxAge:          r.MaxAge.D(),
		Headroom: recorder.DiskHeadroom(dir, recorder.DiskLimits{
			ReservePercent: c.Bundle.ReservePercent,
			ReserveMin:     int64(c.Bundle.ReserveMin),
			WarningPercent: c.Checks.Disk.WarningPercent,
			MinFree:        int64(c.Checks.Disk.MinFree),
		}),
		Log: a.log,
	}
}

// newRecorderRun prepares a recorder run from the current configuration;
// the returned function records until its context is done. A capture that
// cannot run on this host (no permission, no Npcap) ends the recorder with
// the reason in its status; other capture errors are retried. The run
// keeps the configuration it was prepared with: the recorder goes on across
// reloads (its open segment is kept), so it never reads the agent's
// configuration while a reload replaces it.
func (a *Agent) newRecorderRun() func(context.Context) {
	cfg := a.cfg.Recorder
	ropt := a.RecorderOptions()
	opt := capture.Options{
		Interfaces:   cfg.Interfaces,
		Filter:       a.DefaultFilter(),
		NoRTPPayload: !cfg.RTPPayload,
		BufferSize:   recorderBufferSize,
		Comment:      fmt.Sprintf("pbxagent %s flight recorder on host %s", a.version, Hostname()),
	}
	return func(ctx context.Context) { a.record(ctx, cfg, ropt, opt) }
}

func (a *Agent) record(ctx context.Context, cfg config.Recorder, ropt recorder.Options, opt capture.Options) {
	ring, err := recorder.Open(ropt)
	if err != nil {
		a.log.Error("flight recorder not started", "err", err)
		return
	}
	rr := &recorderRun{a: a, cfg: cfg, ring: ring, started: time.Now(), opt: opt}
	st := ring.Stats()
	a.log.Info("flight recorder on", "dir", ring.Dir(), "max_size", int64(cfg.MaxSize),
		"max_age", cfg.MaxAge.String(), "rtp_payload", cfg.RTPPayload,
		"segments", st.Segments, "repaired", st.Repaired, "discarded", st.Discarded)
	var wg sync.WaitGroup
	if cfg.HEP.Enabled {
		rr.startHEP(ctx, &wg)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := ring.Serve(ctx); err != nil {
			a.log.Warn("flight recorder control socket not available; bundle --last reads finished segments only", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		rr.ticks(ctx)
	}()
	rr.capture(ctx)
	wg.Wait()
	if err := ring.Close(); err != nil {
		a.log.Warn("flight recorder: last segment not finished", "err", err)
	}
	rr.saveStatus(false)
}

func (rr *recorderRun) capture(ctx context.Context) {
	var base int64
	for ctx.Err() == nil {
		var armed sync.Once
		st, err := capture.Run(ctx, rr.ring, rr.opt, func(s capture.Stats) {
			rr.kdrops.Store(base + s.KernelDropped)
			rr.ring.Flushed()
			armed.Do(func() { rr.a.log.Info("flight recorder recording", "filter", s.Filter) })
		})
		base += st.KernelDropped
		rr.kdrops.Store(base)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("capture stopped: %s", st.StopReason)
		}
		rr.mu.Lock()
		rr.capErr = err.Error()
		rr.mu.Unlock()
		if errors.Is(err, capture.ErrPermission) || errors.Is(err, capture.ErrUnavailable) {
			rr.a.log.Warn("flight recorder: packet capture is not possible on this host; nothing is recorded", "err", err)
			<-ctx.Done()
			return
		}
		rr.a.log.Warn("flight recorder: capture stopped; restarting", "err", err, "in", captureRetry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(captureRetry):
		}
		rr.mu.Lock()
		rr.capErr = ""
		rr.mu.Unlock()
	}
}

func (rr *recorderRun) ticks(ctx context.Context) {
	t := time.NewTicker(recorderTick)
	defer t.Stop()
	rr.saveStatus(true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := rr.ring.Tick(); err != nil {
				rr.a.log.Warn("flight recorder", "err", err)
			}
			rr.saveStatus(true)
		}
	}
}

func (rr *recorderRun) saveStatus(running bool) {
	rr.mu.Lock()
	capErr := rr.capErr
	rr.mu.Unlock()
	c := rr.cfg
	s := RecorderStatus{Running: running, Updated: time.Now().UTC(), Dir: rr.ring.Dir(), Filter: rr.opt.Filter.String(),
		RTPPayload: c.RTPPayload, MaxBytes: int64(c.MaxSize), MaxAge: c.MaxAge.D(), Ring: rr.ring.Stats(),
		KernelDropped: rr.kdrops.Load(), CaptureError: capErr, HEPError: rr.hepErr}
	if rr.hep != nil {
		n := rr.hep.Counts()
		s.HEPFeed = &n
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err == nil {
		err = writeStatus(filepath.Join(rr.ring.Dir(), recorderStatusFile), data, running)
	}
	if err != nil {
		rr.a.log.Debug("flight recorder status not saved", "err", err)
	}
}

// writeStatus replaces the status file. While recording it is rewritten
// every few seconds and read only as long as it is fresh, so it is renamed
// into place without fsync: the file and folder syncs cost about a tenth of
// the recorder's CPU at 100 SIP calls/s (bench/recorder.sh). A reader sees
// the old or the new file; one lost in a crash reads as not running, and
// the finished segments then speak for the ring. The last status, written
// when the recorder stops, is made durable.
func writeStatus(path string, data []byte, running bool) error {
	if !running {
		return atomicfile.Write(path, data, 0o600)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(data) // CreateTemp made it 0600
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// statusStale is how old the service's recorder status may be before it
// is taken as not running.
const statusStale = 4 * recorderTick

// RecorderState reads the flight recorder's status: the running service's
// account when it is fresh, else the finished segments on disk. It returns
// nil when the recorder is off and has recorded nothing.
func (a *Agent) RecorderState() *RecorderStatus {
	dir := a.cfg.RecorderDir()
	var s RecorderStatus
	if data, err := readSmall(filepath.Join(dir, recorderStatusFile), 1<<20); err == nil && json.Unmarshal(data, &s) == nil {
		if s.Running && time.Since(s.Updated) < statusStale {
			return &s
		}
	}
	segs, err := recorder.Finished(dir)
	if err != nil {
		if !a.cfg.Recorder.Enabled {
			return nil
		}
		return &RecorderStatus{Dir: dir, CaptureError: "nothing recorded yet"}
	}
	s.Running, s.Dir = false, dir
	s.Ring = recorder.Stats{}
	for _, x := range segs {
		s.Ring.Segments++
		s.Ring.Bytes += x.Bytes
		s.Ring.Packets += x.Packets
		s.Ring.HEP += x.HEP
		if x.Packets > 0 && (s.Ring.First.IsZero() || x.First.Before(s.Ring.First)) {
			s.Ring.First = x.First
		}
		if x.Last.After(s.Ring.Last) {
			s.Ring.Last = x.Last
		}
	}
	return &s
}

// Summary is one line for `pbxagent status`.
func (s *RecorderStatus) Summary() string {
	r := s.Ring
	var line string
	if r.Packets == 0 {
		line = "nothing recorded"
	} else {
		line = fmt.Sprintf("%s to %s (%s), %d packets, %s in %d segments",
			r.First.Local().Format("2006-01-02 15:04:05"), r.Last.Local().Format("15:04:05"),
			r.Last.Sub(r.First).Round(time.Second), r.Packets, config.HumanBytes(r.Bytes), r.Segments)
	}
	line += fmt.Sprintf(", HEP messages %d", r.HEP)
	if f := s.HEPFeed; f != nil && s.Running {
		line += fmt.Sprintf(" (feed: received %d, accepted %d, malformed %d, unauthorised %d, refused connections %d)",
			f.Received, f.Accepted, f.Malformed, f.Unauthorised, f.Refused)
	}
	if s.HEPError != "" && s.Running {
		line += "; HEP feed: " + s.HEPError
	}
	if s.Running {
		line = "recording; " + line + fmt.Sprintf(", drops: kernel %d, ring %d", s.KernelDropped, r.Dropped)
	} else {
		line = "not recording (service not running); " + line
	}
	for _, why := range []string{s.CaptureError, r.Paused, r.Limited} {
		if why != "" {
			line += "; " + why
		}
	}
	return line
}

func readSmall(path string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > limit {
		return nil, fmt.Errorf("%s is not a small regular file", path)
	}
	return os.ReadFile(path)
}

// startHEP starts the HEP receiver that records the PBX's own SIP trace
// feed into the ring; a failure to listen is logged and shown in status.
func (rr *recorderRun) startHEP(ctx context.Context, wg *sync.WaitGroup) {
	c := rr.cfg.HEP
	opt := hep.Options{Stream: c.Listen, Datagram: c.RTCPListen, Allow: c.AllowPrefixes(),
		AuthKey: string(c.AuthKey), Sink: rr.ring, Log: rr.a.log}
	if c.ForwardTo != "" {
		fw := hep.NewForwarder(c.ForwardTo, rr.a.log)
		opt.Tee = fw.Send
		wg.Add(1)
		go func() {
			defer wg.Done()
			fw.Run(ctx)
		}()
	}
	l, err := hep.Listen(opt)
	if err != nil {
		rr.hepErr = err.Error()
		rr.a.log.Warn("flight recorder: HEP feed not received", "err", err)
		return
	}
	rr.hep = l
	rr.a.log.Info("flight recorder: receiving HEP", "listen", c.Listen, "rtcp_listen", c.RTCPListen,
		"auth_key", c.AuthKey != "", "forward_to", c.ForwardTo)
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.Serve(ctx)
	}()
}
