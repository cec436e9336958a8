package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/pbxagent/pbxagent/analyze"
	"github.com/pbxagent/pbxagent/analyze/report"
	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/config"
)

// Archive paths of the analysis a bundle carries.
const (
	analysisJSONName = "analysis.json"
	reportHTMLName   = "report.html"
)

// AnalyzeOptions are the analysis settings for this PBX from the
// configuration: SIP ports, RTP ranges, the configured PBX and trunk
// addresses and the quality thresholds. The configuration was validated on
// load, so values that do not parse are left at the analysis' defaults.
func (a *Agent) AnalyzeOptions() analyze.Options {
	opt := analyze.Options{SIPPorts: a.cfg.PBX.SIPPorts}
	if lo, hi, err := config.ParsePortRange(a.cfg.PBX.RTPRange); err == nil {
		opt.RTPLow, opt.RTPHigh = lo, hi
	}
	an := a.cfg.Analyze
	if lo, hi, err := config.ParsePortRange(an.SBCRTPRange); err == nil {
		opt.SBCRTPLow, opt.SBCRTPHigh = lo, hi
	}
	opt.PBX, _ = config.ParseAddresses(an.PBXAddresses)
	opt.Trunks, _ = config.ParseAddresses(an.TrunkAddresses)
	q := an.Quality
	opt.Quality = analyze.Thresholds{LossWarnPercent: q.LossWarnPercent, LossInfoPercent: q.LossInfoPercent,
		JitterWarnMs: q.JitterWarnMs, MOSWarn: q.MOSWarn}
	return opt
}

// hostAddrs returns this host's interface addresses.
func hostAddrs() []netip.Addr {
	var out []netip.Addr
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, ad := range addrs {
		if p, err := netip.ParsePrefix(ad.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// addAnalysis analyses the live window's capture together with the host
// facts and logs already collected, and adds analysis.json and report.html
// to the bundle. A failed analysis is recorded, never fatal.
func (a *Agent) addAnalysis(ctx context.Context, w *bundle.Writer, win *window, system map[string][]byte) error {
	e, ok := win.captureEntry()
	if !ok {
		return nil
	}
	opt := a.AnalyzeOptions()
	if _, ok := system["network"]; !ok {
		// Without the snapshot's interfaces, this host's are the PBX's.
		opt.PBX = append(hostAddrs(), opt.PBX...)
	}
	if win.capture != nil && win.past == nil {
		// Missing audio on ports the filter left out was not checked
		// (the flight recorder's packets may have had another filter).
		opt.CapturedPorts = analyze.ParseCaptureFilter(win.capture.stats.Filter)
	}
	in := &analyze.BundleInput{System: system}
	if win.spool != nil {
		sp := win.spool
		in.Logs = append(in.Logs, analyze.LogSource{Name: windowLogName,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(sp.Reader()), nil }})
	}
	actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rep, err := analyze.Analyze(actx, e.Reader, in, opt)
	if err != nil {
		w.Missing(analysisJSONName, "analyze", fmt.Sprintf("analysis of the capture failed: %v", err))
		return nil
	}
	rep.Source = captureName
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		w.Missing(analysisJSONName, "analyze", err.Error())
		return nil
	}
	if err := w.AddBytes(analysisJSONName, "analyze", append(data, '\n')); err != nil {
		return err
	}
	var html bytes.Buffer
	if err := report.RenderHTML(&html, rep); err != nil {
		w.Missing(reportHTMLName, "analyze", err.Error())
		return nil
	}
	win.report = rep
	return w.AddBytes(reportHTMLName, "analyze", html.Bytes())
}
