package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/delivery"
	"github.com/pbxagent/pbxagent/minisign"
)

// BundleRequest says what one bundle run should collect.
type BundleRequest struct {
	// Duration is the live window: callmanager.log is followed (and packets
	// captured) for this long while the problem is reproduced. 0 = none.
	Duration time.Duration
	// Past is the past window taken from the flight recorder; zero = none.
	Past Window
	// OutputDir overrides the configured output folder.
	OutputDir string
	// Since selects archived *.gz logs modified within this window.
	Since       time.Duration
	MaxSize     int64
	MaxFileSize int64
	Format      bundle.Format
	// NoCapture skips the packet capture.
	NoCapture bool
	// NoSign writes an unsigned bundle without reading the signing key.
	NoSign bool
	// Capture says what to capture during the window.
	Capture CaptureRequest
	// CommandLine is recorded in the manifest after redaction.
	CommandLine []string
	// Stop, when closed, ends the live window early; the bundle is then
	// finished with what was collected and marked partial.
	Stop <-chan struct{}
	// Progress receives the current step; it must not block.
	Progress func(Progress)
	// EncryptTo adds age recipients to the configured ones
	// (delivery.encrypt_to); with any, the archive is encrypted as written.
	EncryptTo []string
}

// Progress is a step of a bundle run, for the terminal or the service log.
type Progress struct {
	Step string
	// WindowEnd is when the live window ends; zero without a window.
	WindowEnd time.Time
	// Written is the number of archive bytes written so far.
	Written int64
	// Capturing is true while packets are being captured; Packets is the
	// number written so far.
	Capturing bool
	Packets   int64
	// Live, when set, reads the counts as they are now (safe to call from
	// another goroutine until the run returns), so a display can show them
	// changing between steps: bytes collected (archive, capture and log
	// window so far) and packets captured.
	Live func() (bytes, packets int64)
}

// BundleResult is what a finished run reports.
type BundleResult struct {
	*bundle.Result
	// PBXMissing says that no PortSIP install was found at pbx.data_dir;
	// empty when one was.
	PBXMissing string `json:"pbx_not_found,omitempty"`
	// KeyCreated is true when this run created the host's signing key.
	KeyCreated    bool   `json:"key_created,omitempty"`
	PublicKey     string `json:"public_key,omitempty"`
	PublicKeyFile string `json:"public_key_file,omitempty"`
	SecretKeyFile string `json:"secret_key_file,omitempty"`
	// Capture summarises the packet capture, if one ran.
	Capture *CaptureSummary `json:"capture,omitempty"`
	// Analysis is the short summary of the capture's analysis (the full
	// one is analysis.json and report.html in the bundle).
	Analysis string `json:"analysis,omitempty"`
}

// CaptureSummary is the short account of a bundle's packet capture.
type CaptureSummary struct {
	Packets       int64  `json:"packets"`
	KernelDropped int64  `json:"kernel_dropped"`
	Truncated     bool   `json:"truncated"`
	StopReason    string `json:"stop_reason,omitempty"`
	Filter        string `json:"filter"`
	// Past counts the packets that came from the flight recorder.
	Past int64 `json:"past,omitempty"`
}

// smallFiles is the budget kept aside for system/ and config/ files.
const smallFiles = 8 << 20

// BundleDefaults fills a request's unset fields from the configuration.
func (a *Agent) BundleDefaults(r BundleRequest) BundleRequest {
	c := a.cfg.Bundle
	if r.OutputDir == "" {
		r.OutputDir = a.cfg.OutputDir()
	}
	if r.Since == 0 {
		r.Since = c.Since.D()
	}
	if r.MaxSize == 0 {
		r.MaxSize = int64(c.MaxSize)
	}
	if r.MaxFileSize == 0 {
		r.MaxFileSize = int64(c.MaxFileSize)
	}
	if r.MaxFileSize > r.MaxSize {
		r.MaxFileSize = r.MaxSize
	}
	if r.Format == "" {
		r.Format = bundle.Format(c.Format)
		if r.Format == "" {
			r.Format = bundle.DefaultFormat()
		}
	}
	return r
}

// bundleRun is one bundle on its way through the pipeline: plan, open,
// window (the past one from the flight recorder and the live one), collect
// and seal. The CLI, `--last` and an alert all start the same pipeline.
type bundleRun struct {
	req        BundleRequest
	progress   func(Progress)
	started    time.Time
	host       string
	name       string
	guard      *bundle.Guard
	stale      string
	plan       *logPlan
	res        *BundleResult
	signer     bundle.Signer
	keyWarning string
	encrypt    func(dst io.Writer) (io.WriteCloser, error)
	w          *bundle.Writer
	win        *window
	windowEnd  time.Time
	partial    bool
	reason     string
}

func (b *bundleRun) step(s string) {
	capture, spool, w := b.win.capture, b.win.spool, b.w
	live := func() (int64, int64) {
		n := w.Written() + capture.Bytes()
		if spool != nil {
			n += spool.Size()
		}
		return n, capture.Packets()
	}
	n, pk := live()
	b.progress(Progress{Step: s, WindowEnd: b.windowEnd, Written: n,
		Capturing: capture != nil, Packets: pk, Live: live})
}

// Bundle builds one support bundle. Cancelling ctx aborts it and removes the
// partial file; closing req.Stop ends the live window early and still
// produces a valid, signed bundle marked partial.
func (a *Agent) Bundle(ctx context.Context, req BundleRequest) (*BundleResult, error) {
	b, err := a.planBundle(req)
	if err != nil {
		return nil, err
	}
	defer b.plan.close()
	if err := a.openBundle(ctx, b); err != nil {
		return nil, err
	}
	defer b.w.Abort() // no-op after a successful Close
	// An abort stops even an entry being written (a large log) at once.
	defer context.AfterFunc(ctx, b.w.Abort)()
	defer b.win.close()
	// Stop (SIGTERM, SIGHUP, the first Ctrl-C) ends collection early in
	// every phase, not only the live window: what is collected by then is
	// written as a partial bundle.
	cctx, cstop := context.WithCancel(ctx)
	defer cstop()
	go func() {
		select {
		case <-b.req.Stop:
			cstop()
		case <-cctx.Done():
		}
	}()
	if err := a.openWindows(ctx, b); err != nil {
		return nil, err
	}
	if err := a.collect(ctx, cctx, b); err != nil {
		return nil, err
	}
	return a.seal(b)
}

// planBundle fills the request's defaults, names the archive, removes stale
// partial files, plans the logs against the free space and loads the
// signing key.
func (a *Agent) planBundle(req BundleRequest) (*bundleRun, error) {
	req = a.BundleDefaults(req)
	b := &bundleRun{req: req, progress: req.Progress, started: time.Now().UTC(), host: Hostname()}
	if b.progress == nil {
		b.progress = func(Progress) {}
	}
	b.name = fmt.Sprintf("pbx-support-%s-%s%s", b.host, b.started.Format("20060102T150405Z"), req.Format.Ext())
	encrypt, err := delivery.Encryption(a.cfg, req.EncryptTo)
	if err != nil {
		return nil, err
	}
	if encrypt != nil {
		b.name += bundle.EncryptExt
		b.encrypt = encrypt
	}
	if err := os.MkdirAll(req.OutputDir, 0o700); err != nil {
		return nil, fmt.Errorf("create output folder %s: %w (choose another with --output)", req.OutputDir, err)
	}
	b.guard = bundle.NewGuard(req.OutputDir, a.cfg.Bundle.ReservePercent, int64(a.cfg.Bundle.ReserveMin))
	b.stale = a.removeStale(req.OutputDir)
	b.progress(Progress{Step: "planning"})
	b.plan = a.planLogs(req, b.started)
	b.win = &window{logDir: b.plan.dir, sections: map[string]any{}}
	if err := b.guard.Check(b.plan.estimate(req)); err != nil {
		b.plan.close()
		return nil, err
	}
	b.res = &BundleResult{SecretKeyFile: a.cfg.SecretKeyPath(), PublicKeyFile: a.cfg.PublicKeyPath(), PBXMissing: a.PBXMissing()}
	if req.NoSign {
		b.keyWarning = "bundle is NOT signed: --no-sign was given"
		return b, nil
	}
	priv, created, kerr := minisign.LoadOrCreate(b.res.SecretKeyFile, b.res.PublicKeyFile)
	if kerr != nil {
		b.plan.close()
		return nil, fmt.Errorf("signing key %s cannot be used: %w (replace it with `pbxagent keygen --force`, or give --no-sign if an unsigned bundle is really wanted)", b.res.SecretKeyFile, kerr)
	}
	b.signer = priv
	b.res.KeyCreated = created
	b.res.PublicKey = priv.Public().String()
	return b, nil
}

// openBundle creates the archive being written.
func (a *Agent) openBundle(ctx context.Context, b *bundleRun) error {
	w, err := bundle.Create(bundle.Options{Dir: b.req.OutputDir, Name: b.name, Format: b.req.Format, Guard: b.guard, Encrypt: b.encrypt})
	if err != nil {
		return err
	}
	b.w = w
	b.win.sink = a.newLogSink(ctx, w, b.req.OutputDir, b.guard)
	for _, warn := range []string{b.keyWarning, b.stale} {
		if warn != "" {
			w.Warn(warn)
		}
	}
	return nil
}

// openWindows takes the past window's packets from the flight recorder and
// starts the live window, first, so nothing written while the static parts
// are collected is missed.
func (a *Agent) openWindows(ctx context.Context, b *bundleRun) error {
	if !b.req.Past.IsZero() {
		b.progress(Progress{Step: "reading the flight recorder"})
		if err := a.addPast(ctx, b); err != nil {
			return err
		}
	}
	if b.req.Duration > 0 {
		b.windowEnd = time.Now().Add(b.req.Duration)
		if err := a.startWindow(ctx, b.req, b.w, b.guard, b.win, b.host); err != nil {
			return err
		}
	}
	return nil
}

// collect adds the system snapshot, the configuration and the logs (cctx
// ends early on Stop), then waits for the live window to end and analyses
// the capture.
func (a *Agent) collect(ctx, cctx context.Context, b *bundleRun) error {
	w, req, win := b.w, b.req, b.win
	b.step("collecting system snapshot")
	system, err := a.addSystem(cctx, w)
	if err != nil {
		return err
	}
	b.step("collecting configuration")
	if err := a.addConfig(w); err != nil {
		return err
	}
	b.step("collecting PBX logs")
	if err := a.addLogs(cctx, w, req, b.plan, win); err != nil {
		return err
	}
	if req.Duration > 0 {
		if err := b.waitLive(ctx); err != nil {
			return err
		}
		b.step("finishing live captures")
	} else {
		select {
		case <-req.Stop:
			b.partial, b.reason = true, "interrupted"
		default:
		}
	}
	if err := win.finish(w); err != nil {
		return err
	}
	if win.hasCapture() && ctx.Err() == nil {
		b.step("analysing the capture")
		if err := a.addAnalysis(cctx, w, win, system); err != nil {
			return err
		}
	}
	if !b.partial && cctx.Err() != nil && ctx.Err() == nil {
		b.partial, b.reason = true, "interrupted; collection ended early"
	}
	if ctx.Err() != nil {
		return fmt.Errorf("bundle aborted: %w", ctx.Err())
	}
	return nil
}

// waitLive waits for the end of the live window, req.Stop or ctx.
func (b *bundleRun) waitLive(ctx context.Context) error {
	live := "following callmanager.log"
	if b.win.capture != nil {
		live = "capturing packets and following callmanager.log"
	}
	live += "; reproduce the problem now"
	b.step(live)
	t := time.NewTimer(time.Until(b.windowEnd))
	defer t.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.C:
			return nil
		case <-tick.C:
			b.step(live)
		case <-b.req.Stop:
			b.partial, b.reason = true, "interrupted before the end of the --duration window"
			return nil
		case <-ctx.Done():
			return fmt.Errorf("bundle aborted: %w", ctx.Err())
		}
	}
}

// seal writes the manifest and the signature and closes the archive.
func (a *Agent) seal(b *bundleRun) (*BundleResult, error) {
	req, win := b.req, b.win
	b.step("writing manifest and signature")
	m := &bundle.Manifest{
		Host:          b.host,
		AgentVersion:  a.version,
		StartedAt:     b.started,
		FinishedAt:    time.Now().UTC(),
		Partial:       b.partial,
		PartialReason: b.reason,
		CommandLine:   a.redactArgs(req.CommandLine),
		Options:       a.manifestOptions(req),
		Sections:      win.sections,
		Warnings:      b.plan.warnings,
	}
	br, err := b.w.Close(m, b.signer)
	if err != nil {
		if br == nil {
			return nil, err
		}
		// The archive is complete; only signing failed.
		br.Warnings = append(br.Warnings, err.Error())
	}
	res := b.res
	res.Result = br
	if win.report != nil {
		res.Analysis = win.report.Summary()
	}
	res.Capture = win.captureSummary()
	return res, nil
}

// manifestOptions are the options the bundle was built with, for the
// manifest.
func (a *Agent) manifestOptions(req BundleRequest) map[string]any {
	opts := map[string]any{
		"duration":        req.Duration.String(),
		"since":           config.Duration(req.Since).String(),
		"max_size":        req.MaxSize,
		"max_file_size":   req.MaxFileSize,
		"format":          string(req.Format),
		"output":          req.OutputDir,
		"capture":         !req.NoCapture && req.Duration > 0,
		"pbx_data_dir":    a.cfg.PBX.DataDir,
		"pbx_log_dir":     a.cfg.LogDir(),
		"reserve_percent": a.cfg.Bundle.ReservePercent,
		"reserve_min":     int64(a.cfg.Bundle.ReserveMin),
	}
	if !req.Past.IsZero() {
		opts["past_from"], opts["past_to"] = req.Past.From, req.Past.To
	}
	return opts
}

// removeStale removes unfinished bundle files earlier runs left in dir
// (unlocked .partial files of this naming) and returns the sentence saying
// so, or "".
func (a *Agent) removeStale(dir string) string {
	removed, errs := bundle.RemoveStale(dir)
	for _, err := range errs {
		a.log.Warn("stale bundle file not removed", "err", err)
	}
	if len(removed) == 0 {
		return ""
	}
	note := bundle.StaleNote(dir, removed)
	a.log.Info(note)
	return note
}

func (a *Agent) redactArgs(args []string) []string {
	out, _ := a.redactor.Args(args)
	return out
}
