package analyze

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/analyze/decode"
)

// Defaults of Options.
var (
	DefaultSIPPorts = []int{5060, 5061, 5063, 5065, 5066, 5067}
)

// Default RTP range and log window.
const (
	DefaultRTPLow  = 45000
	DefaultRTPHigh = 65000
	// The PortSIP SBC's RTP range.
	DefaultSBCRTPLow  = 25000
	DefaultSBCRTPHigh = 34999
	DefaultLogWindow  = 30 * time.Second
)

// Limits that bound the analysis' memory on large captures. Each cut is
// said in Report.Notes.
const (
	maxDialogs        = 20000 // calls and registrations
	maxOtherDialogs   = 2000
	maxMessages       = 500 // kept per dialog; later ones are counted only
	maxStreams        = 20000
	maxEvidenceFrames = 50
	maxLogHits        = 20000 // error lines kept from the logs before windowing
	maxLogLines       = 200   // error lines reported
)

// Options tune the analysis.
type Options struct {
	// PBX are the PBX's addresses. A bundle's analysis adds the host's
	// interfaces from its system/network.json; a bare capture without them
	// has the PBX placed from the SIP evidence.
	PBX []netip.Addr
	// SIPPorts are the PBX's SIP ports (default 5060, 5061, 5063, 5065,
	// 5066, 5067).
	SIPPorts []int
	// RTPLow..RTPHigh is the PBX's RTP port range (default 45000-65000),
	// SBCRTPLow..SBCRTPHigh the SBC's (default 25000-34999). Media is found
	// from the SDP on any port; the ranges only add RTP whose signalling
	// the capture missed.
	RTPLow, RTPHigh       int
	SBCRTPLow, SBCRTPHigh int
	// Trunks are the configured trunks' addresses, when known: a peer at
	// one of them is a trunk whatever the heuristics say.
	Trunks []netip.Addr
	// Quality holds the thresholds of the media findings.
	Quality Thresholds
	// LogWindow is how far before and after a failed call log error lines
	// are reported (default 30 s).
	LogWindow time.Duration
	// CapturedPorts are the UDP ports the capture's filter kept (a
	// bundle's manifest says); nil when every port was kept. Missing
	// audio on another port is reported as not checked.
	CapturedPorts *PortSet
}

func (o Options) withDefaults() Options {
	if len(o.SIPPorts) == 0 {
		o.SIPPorts = DefaultSIPPorts
	}
	if o.RTPLow <= 0 || o.RTPHigh <= 0 || o.RTPLow > o.RTPHigh {
		o.RTPLow, o.RTPHigh = DefaultRTPLow, DefaultRTPHigh
	}
	if o.SBCRTPLow <= 0 || o.SBCRTPHigh <= 0 || o.SBCRTPLow > o.SBCRTPHigh {
		o.SBCRTPLow, o.SBCRTPHigh = DefaultSBCRTPLow, DefaultSBCRTPHigh
	}
	if o.LogWindow <= 0 {
		o.LogWindow = DefaultLogWindow
	}
	o.Quality = o.Quality.withDefaults()
	return o
}

// Thresholds are the levels at which media findings are raised; zero
// fields take the defaults.
type Thresholds struct {
	// LossWarnPercent (default 3) and LossInfoPercent (default 1) are the
	// packet loss levels of a warning and of a note.
	LossWarnPercent float64
	LossInfoPercent float64
	// JitterWarnMs is the maximum jitter of a warning (default 30 ms).
	JitterWarnMs float64
	// MOSWarn is the E-model MOS below which a call's audio is reported
	// as poor (default 3.6: R = 70, "many users dissatisfied" in G.107).
	MOSWarn float64
}

func (t Thresholds) withDefaults() Thresholds {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&t.LossWarnPercent, 3)
	def(&t.LossInfoPercent, 1)
	def(&t.JitterWarnMs, 30)
	def(&t.MOSWarn, 3.6)
	return t
}

// DecodeOptions are the decoder settings matching o.
func (o Options) DecodeOptions() decode.Options {
	o = o.withDefaults()
	return decode.Options{RTPLow: o.RTPLow, RTPHigh: o.RTPHigh, SIPPorts: o.SIPPorts,
		RTPRanges: []decode.PortRange{{Low: o.SBCRTPLow, High: o.SBCRTPHigh}}}
}

// LogSource is one log file of a bundle.
type LogSource struct {
	Name string
	Open func() (io.ReadCloser, error)
}

// BundleInput is what a bundle holds besides the capture.
type BundleInput struct {
	// System maps a collector's name to its system/<name>.json (a
	// collectors.Outcome encoded as JSON).
	System map[string][]byte
	// Logs are callmanager.log, callmanager.window.log and the like.
	Logs []LogSource
}

// Analyzer consumes decoded events one at a time. It keeps the SIP
// messages of each dialog (bounded) and per-stream RTP statistics, never
// the RTP packets themselves.
type Analyzer struct {
	opt      Options
	sipPorts map[int]bool

	dialogs     map[string]*dialogState
	order       []*dialogState
	calls, regs int
	others      int
	droppedDlg  int64

	// announced maps an SDP media address to the dialog and party that
	// announced it (the latest announcement wins).
	announced map[netip.AddrPort]announcement
	// announcedPort maps the port of a public media address to its
	// announcement, for media that reaches it after a 1:1 NAT.
	announcedPort map[uint16]announcement
	// mediaDst holds the addresses that received a stream, whichever
	// call the stream was tied to.
	mediaDst   map[netip.AddrPort]bool
	streams    map[streamKey]*streamState
	streamOrd  []*streamState
	droppedRTP int64

	// textKept counts the bytes of message text kept, textCut the
	// messages whose text was not kept past the bound.
	textKept, textCut int

	// evidence is what the SIP messages say about who the PBX is.
	evidence map[netip.Addr]*pbxEvidence

	// lastReq is the transaction of the latest SIP request or response
	// per UDP flow, for ICMP errors.
	lastReq map[[2]netip.AddrPort]reqRef
	icmp    []icmpHit

	tls        int64
	tlsFrames  []int
	events     int64
	first, end time.Time

	// logHits are pre-scanned log error lines (AnalyzeFile scans logs
	// while it streams the archive); nil means scan BundleInput.Logs.
	logHits *logScan
}

// New returns an Analyzer.
func New(opt Options) *Analyzer {
	opt = opt.withDefaults()
	a := &Analyzer{
		opt:           opt,
		sipPorts:      map[int]bool{},
		dialogs:       map[string]*dialogState{},
		announced:     map[netip.AddrPort]announcement{},
		announcedPort: map[uint16]announcement{},
		mediaDst:      map[netip.AddrPort]bool{},
		streams:       map[streamKey]*streamState{},
		lastReq:       map[[2]netip.AddrPort]reqRef{},
		evidence:      map[netip.Addr]*pbxEvidence{},
	}
	for _, p := range opt.SIPPorts {
		a.sipPorts[p] = true
	}
	return a
}

// Add consumes one event. Events must come in capture order.
func (a *Analyzer) Add(ev *decode.Event) {
	if ev == nil {
		return
	}
	a.events++
	if !ev.Time.IsZero() {
		if a.first.IsZero() || ev.Time.Before(a.first) {
			a.first = ev.Time
		}
		if ev.Time.After(a.end) {
			a.end = ev.Time
		}
	}
	switch {
	case ev.SIP != nil:
		a.noteEvidence(ev.Src.Addr(), ev.Dst.Addr(), ev.SIP)
		a.addSIP(ev)
	case ev.RTP != nil:
		a.addRTP(ev)
	case ev.ICMP != nil:
		a.addICMP(ev)
	case ev.Transport == "tls":
		a.tls++
		if len(a.tlsFrames) < maxEvidenceFrames {
			a.tlsFrames = append(a.tlsFrames, ev.Frame)
		}
	}
}

// Analyze reads a capture stream and analyses it together with the
// bundle's host facts and logs (in may be nil).
func Analyze(ctx context.Context, capture io.Reader, in *BundleInput, opt Options) (*Report, error) {
	a := New(opt)
	st, err := decode.Read(ctx, capture, a.opt.DecodeOptions(), func(ev *decode.Event) error {
		a.Add(ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a.Finish(in, st), nil
}

// Summary is a short text for the terminal: counts, then the findings one
// line each, most urgent first.
func (r *Report) Summary() string {
	var b strings.Builder
	answered, failed := 0, 0
	for i := range r.Calls {
		switch {
		case r.Calls[i].Answered:
			answered++
		case callFailed(&r.Calls[i]):
			failed++
		}
	}
	regFailed := 0
	for i := range r.Registrations {
		if registrationFailed(&r.Registrations[i]) {
			regFailed++
		}
	}
	src := r.Source
	if src == "" {
		src = r.Capture.File
	}
	if src != "" {
		fmt.Fprintf(&b, "%s: ", src)
	}
	fmt.Fprintf(&b, "%d packets, %d SIP messages, %d RTP packets\n", r.Capture.Packets, r.Capture.SIP, r.Capture.RTP)
	if len(r.PBX) > 0 {
		fmt.Fprintf(&b, "PBX: %s\n", strings.Join(r.PBX, ", "))
	}
	fmt.Fprintf(&b, "%d calls (%d answered, %d failed), %d registrations (%d failed), %d RTP streams\n",
		len(r.Calls), answered, failed, len(r.Registrations), regFailed, len(r.Streams))
	counts := map[Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	if len(r.Findings) == 0 {
		b.WriteString("no findings: nothing in this capture points to a problem\n")
		return b.String()
	}
	fmt.Fprintf(&b, "%d findings: %d critical, %d warning, %d info\n", len(r.Findings), counts[Critical], counts[Warning], counts[Info])
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %-8s %-22s %s\n", strings.ToUpper(string(f.Severity)), f.Code, f.Title)
	}
	return b.String()
}

// callFailed reports whether a call ended with an error or no answer at all
// (a cancelled call or a busy callee is not a failure).
func callFailed(d *Dialog) bool {
	if d.Answered {
		return false
	}
	if d.NoResponse || d.ICMPError != "" {
		return true
	}
	return d.FinalStatus >= 300 && !benignStatus(d.FinalStatus, d.Cancelled)
}

// registrationFailed reports whether a registration's last attempt failed.
func registrationFailed(d *Dialog) bool {
	return d.NoResponse || d.FinalStatus >= 300
}

// addrIsPrivate reports whether a is an address that is not routed on the
// Internet: RFC 1918, carrier-grade NAT (RFC 6598), IPv6 unique local.
func addrIsPrivate(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsPrivate() {
		return true
	}
	return cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// addrIsPublic reports whether a is a global unicast address that is not
// private (documentation ranges count as public).
func addrIsPublic(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !addrIsPrivate(a)
}

func appendUnique(s []string, v string) []string {
	if v == "" || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func appendFrames(s []int, v ...int) []int {
	for _, f := range v {
		if len(s) >= maxEvidenceFrames {
			return s
		}
		if f > 0 && !slices.Contains(s, f) {
			s = append(s, f)
		}
	}
	return s
}

func (a *Analyzer) captureEnd() time.Time { return a.end }

// Finish ends the analysis and returns the report. in holds the bundle's
// host facts and logs (nil for a bare capture); capture is the decoder's
// account of the file.
func (a *Analyzer) Finish(in *BundleInput, capture decode.Stats) *Report {
	if !capture.End.IsZero() && capture.End.After(a.end) {
		a.end = capture.End
	}
	rep := a.newReport(capture)
	host := parseHost(in)
	pbx := a.pbxAddrs(rep, host)
	r := assignRoles(a.order, pbx, a.sipPorts, a.opt.Trunks)
	rep.Peers = r.sortedPeers()
	callStates, regStates := a.buildDialogs(rep, r)
	fs := a.allFindings(rep, in, host, r, callStates, regStates)
	rankFindings(fs)
	rep.Findings = append(rep.Findings, fs...)
	a.limitNotes(rep)
	return rep
}

// newReport starts the report with the decoder's account of the capture,
// completed from what the analyzer saw itself.
func (a *Analyzer) newReport(capture decode.Stats) *Report {
	rep := &Report{Version: ModelVersion, Generated: time.Now().UTC(),
		Calls: []Dialog{}, Registrations: []Dialog{}, Streams: []RTPStream{}, Findings: []Finding{}}
	rep.Capture = CaptureInfo{Packets: capture.Packets, Bytes: capture.Bytes, SIP: capture.SIP, RTP: capture.RTP,
		ICMP: capture.ICMP, TLS: capture.TLS, Malformed: capture.Malformed, Start: capture.Start, End: capture.End,
		Interfaces: capture.Interfaces}
	if rep.Capture.Start.IsZero() {
		rep.Capture.Start = a.first
	}
	if rep.Capture.End.IsZero() {
		rep.Capture.End = a.end
	}
	if rep.Capture.Packets == 0 {
		rep.Capture.Packets = a.events
	}
	if rep.Capture.TLS < a.tls {
		rep.Capture.TLS = a.tls
	}
	return rep
}

// pbxAddrs decides the PBX's addresses: the configured ones, plus the
// host's own in a bundle; else, for a bare capture, the address the
// evidence places. Each decision is noted in the report, and the addresses
// listed in rep.PBX.
func (a *Analyzer) pbxAddrs(rep *Report, host *hostFacts) map[netip.Addr]bool {
	pbx := map[netip.Addr]bool{}
	for _, ip := range a.opt.PBX {
		pbx[ip.Unmap()] = true
	}
	switch {
	case host != nil && len(host.addrs) > 0:
		for _, ip := range host.addrs {
			pbx[ip] = true
		}
		note := "PBX addresses: the capturing host's interface addresses (system/network.json)"
		if len(a.opt.PBX) > 0 {
			note += " and the configured PBX addresses"
		}
		rep.Notes = append(rep.Notes, note+".")
	case len(a.opt.PBX) > 0:
	default:
		if ip, why, ok := a.placePBX(); ok {
			pbx[ip] = true
			rep.Notes = append(rep.Notes, fmt.Sprintf("PBX address placed at %s: %s. Give the PBX's address explicitly if that is wrong.", ip, why))
		} else if len(a.order) > 0 {
			rep.Notes = append(rep.Notes, "The PBX could not be placed: "+why+". No side is called the PBX; give the PBX's address to place it.")
		}
	}
	for ip := range pbx {
		rep.PBX = append(rep.PBX, ip.String())
	}
	slices.Sort(rep.PBX)
	return pbx
}

// buildDialogs adds every dialog and stream to the report, ties each stream
// to its call and scores each call; it returns the states of the calls and
// registrations, in report order.
func (a *Analyzer) buildDialogs(rep *Report, r *roles) (callStates, regStates []*dialogState) {
	index := map[*dialogState]int{}
	for _, d := range a.order {
		dl := d.build(r, a.end)
		switch d.kind {
		case kindCall:
			index[d] = len(rep.Calls)
			rep.Calls = append(rep.Calls, dl)
			callStates = append(callStates, d)
		case kindRegister:
			rep.Registrations = append(rep.Registrations, dl)
			regStates = append(regStates, d)
		default:
			rep.Others = append(rep.Others, dl)
		}
	}
	for i, st := range a.streamOrd {
		rep.Streams = append(rep.Streams, st.build(r))
		if st.d != nil {
			if j, ok := index[st.d]; ok {
				rep.Calls[j].Streams = append(rep.Calls[j].Streams, i)
			}
		}
	}
	for i := range rep.Calls {
		rep.Calls[i].Quality = worseDirection(rep, &rep.Calls[i])
	}
	return callStates, regStates
}

// allFindings runs every check over the decoded calls and the bundle's host
// facts and logs, and sets rep.Host from the host checks that ran.
func (a *Analyzer) allFindings(rep *Report, in *BundleInput, host *hostFacts, r *roles, callStates, regStates []*dialogState) []Finding {
	link := linkLegs(rep.Calls, callStates)
	var fs []Finding
	fs = append(fs, a.failureFindings(rep, callStates, regStates, link)...)
	fs = append(fs, a.noResponseFindings(r)...)
	fs = append(fs, a.icmpFindings(r)...)
	fs = append(fs, a.mediaFindings(rep, callStates, r)...)
	fs = append(fs, a.qualityFindings(rep)...)
	fs = append(fs, a.tlsFinding(rep.Capture.TLS)...)
	if host != nil {
		rep.Host = &host.state
		fs = append(fs, host.findings...)
		fs = append(fs, blockedPeerFindings(host.state.Blocked, r)...)
	}
	if lf := a.logFindings(rep, in, host); lf != nil {
		if rep.Host == nil {
			rep.Host = &HostState{}
		}
		rep.Host.LogErrors = lf.Lines
		fs = append(fs, *lf)
	}
	return fs
}

// limitNotes notes in the report what the analyzer's limits left out.
func (a *Analyzer) limitNotes(rep *Report) {
	if a.droppedDlg > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d dialogs beyond the limit of %d calls and registrations and %d other dialogs were not analysed.", a.droppedDlg, maxDialogs, maxOtherDialogs))
	}
	if a.textCut > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("The text of %d SIP messages is not in the report: the report keeps %d MiB of message text.", a.textCut, maxTextTotal>>20))
	}
	if a.droppedRTP > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d RTP packets of streams beyond the limit of %d streams were not analysed.", a.droppedRTP, maxStreams))
	}
	for _, d := range a.order {
		if d.msgTotal > len(d.msgs) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Dialogs with more than %d messages keep only their first %d in the ladder.", maxMessages, maxMessages))
			break
		}
	}
}

// logFindings reports error lines of the PBX's logs near failed calls.
func (a *Analyzer) logFindings(rep *Report, in *BundleInput, host *hostFacts) *Finding {
	var times [][2]time.Time
	var ids []string
	for i := range rep.Calls {
		d := &rep.Calls[i]
		if callFailed(d) || a.callHasAudioFinding(d) {
			times = append(times, [2]time.Time{d.Start, d.End})
			ids = append(ids, d.CallID)
		}
	}
	for i := range rep.Registrations {
		d := &rep.Registrations[i]
		if registrationFailed(d) {
			times = append(times, [2]time.Time{d.Start, d.End})
			ids = append(ids, d.CallID)
		}
	}
	if len(times) == 0 {
		return nil
	}
	ls := a.logHits
	loc := timeZone(host)
	if ls == nil {
		if in == nil || len(in.Logs) == 0 {
			return nil
		}
		ls = newLogScan()
		for _, src := range in.Logs {
			if src.Open == nil {
				continue
			}
			rc, err := src.Open()
			if err != nil {
				ls.failures = append(ls.failures, fmt.Sprintf("%s: %v", src.Name, err))
				continue
			}
			if err := ls.scan(src.Name, rc, loc); err != nil {
				ls.failures = append(ls.failures, fmt.Sprintf("%s: %v", src.Name, err))
			}
			rc.Close()
		}
	}
	for _, f := range ls.failures {
		rep.Notes = append(rep.Notes, "log not read: "+f)
	}
	lines := ls.window(times, a.opt.LogWindow)
	if len(lines) == 0 {
		return nil
	}
	var files []string
	for _, l := range lines {
		files = appendUnique(files, l.File)
	}
	f := &Finding{Severity: Warning, Code: "log-errors", Lines: lines, CallIDs: firstN(ids, 50),
		Title: fmt.Sprintf("%s in %s within %s of failed calls", plural(len(lines), "error line"), strings.Join(files, ", "), a.opt.LogWindow),
		Detail: "The PBX logged these errors around the time of the failed calls (log times read as " + loc.String() +
			"); they may name the cause (an unmatched rule, a DNS failure, a trunk marked unavailable).",
		Remedy: []string{"Read the lines below; send callmanager.log with the capture to PortSIP support if the cause is unclear."}}
	if len(ids) == 1 {
		f.CallID = ids[0]
	}
	return f
}

func (a *Analyzer) callHasAudioFinding(d *Dialog) bool {
	st := a.dialogs[d.CallID]
	if st == nil || !d.Answered || st.mediaWindow(a.end) < minMediaWindow || len(a.streamOrd) == 0 {
		return false
	}
	for p := range 2 {
		if a.silentParty(st, p) {
			return true
		}
	}
	return false
}
