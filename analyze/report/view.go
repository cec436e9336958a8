package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pbxagent/pbxagent/analyze"
)

// anchors maps a Call-ID to the places in the page that show it.
type anchors struct {
	ladder map[string]string // Call-ID → ladder anchor
	row    map[string]string // Call-ID → calls or registrations table row anchor
}

// link returns the in-page link for a Call-ID, preferring its ladder, and
// whether that link is a ladder; "" when the call is shown nowhere.
func (a anchors) link(callID string) (href string, isLadder bool) {
	if l := a.ladder[callID]; l != "" {
		return "#" + l, true
	}
	if r := a.row[callID]; r != "" {
		return "#" + r, false
	}
	return "", false
}

// setOnce records the first anchor for a Call-ID.
func setOnce(m map[string]string, callID, anchor string) {
	if _, dup := m[callID]; !dup {
		m[callID] = anchor
	}
}

// buildView lays out the report: ladders first, because the findings and
// tables link to them.
func buildView(r *analyze.Report) *view {
	v := newView(r)
	a := anchors{ladder: map[string]string{}, row: map[string]string{}}
	v.addLadders(r, a)
	v.addCalls(r, a)
	v.addRegistrations(r, a)
	v.addOthers(r)
	v.addStreams(r, a)
	v.addFindings(r, a)
	v.addHostLogs(r)
	return v
}

// newView fills the page header: title, time of generation, span, legend.
func newView(r *analyze.Report) *view {
	v := &view{R: r, Host: r.Host}
	v.Title = "PBX analysis"
	if r.Source != "" {
		v.Title += " — " + shorten(r.Source, 80)
	}
	v.Generated = "—"
	if !r.Generated.IsZero() {
		v.Generated = r.Generated.Format("2006-01-02 15:04:05 MST")
	}
	v.Span = captureSpan(r.Capture.Start, r.Capture.End)
	v.ArrowLegend = []legendItem{
		{colorRequest, "request", false},
		{colorProvisional, "1xx", false},
		{colorSuccess, "2xx", false},
		{colorRedirect, "3xx", false},
		{colorFailure, "4xx–6xx", false},
		{colorProvisional, "retransmission", true},
	}
	return v
}

// ladderPick is one dialog chosen for a ladder diagram.
type ladderPick struct {
	d    *analyze.Dialog
	kind string
}

// pickLadders chooses the dialogs that get a ladder: every call when there
// are few, else failed calls; and any dialog with a finding.
func pickLadders(r *analyze.Report) []ladderPick {
	withFinding := map[string]bool{}
	for _, f := range r.Findings {
		if f.CallID != "" {
			withFinding[f.CallID] = true
		}
	}
	var picks []ladderPick
	for i := range r.Calls {
		d := &r.Calls[i]
		if len(d.Messages) == 0 {
			continue
		}
		if len(r.Calls) <= allLaddersUpTo || dialogFailed(d) || withFinding[d.CallID] {
			picks = append(picks, ladderPick{d, "Call"})
		}
	}
	for _, group := range []struct {
		ds   []analyze.Dialog
		kind string
	}{{r.Registrations, "Registration"}, {r.Others, "Dialog"}} {
		for i := range group.ds {
			d := &group.ds[i]
			if len(d.Messages) > 0 && withFinding[d.CallID] {
				picks = append(picks, ladderPick{d, group.kind})
			}
		}
	}
	return picks
}

// addLadders lays out the chosen ladders, each with its stream table.
func (v *view) addLadders(r *analyze.Report, a anchors) {
	picks := pickLadders(r)
	if len(picks) > maxLadders {
		v.LaddersOmitted = len(picks) - maxLadders
		picks = picks[:maxLadders]
	}
	if len(r.Calls) > allLaddersUpTo {
		v.LadderNote = fmt.Sprintf("%d calls: ladders are drawn for failed calls and calls with findings.", len(r.Calls))
	}
	for i, p := range picks {
		anchor := "ladder-" + strconv.Itoa(i+1)
		setOnce(a.ladder, p.d.CallID, anchor)
		l := layoutLadder(anchor, p.kind, p.d)
		for _, si := range p.d.Streams {
			if si >= 0 && si < len(r.Streams) && len(l.Streams) < 16 {
				st := &r.Streams[si]
				l.Streams = append(l.Streams, streamRow{S: st, SSRC: fmt.Sprintf("0x%08X", st.SSRC), Codec: streamCodec(st), Bad: streamBad(st)})
			}
		}
		v.Ladders = append(v.Ladders, l)
	}
}

// addCalls counts the calls and fills the calls table.
func (v *view) addCalls(r *analyze.Report, a anchors) {
	v.Summary.Calls = len(r.Calls)
	for i := range r.Calls {
		d := &r.Calls[i]
		failed := dialogFailed(d)
		if failed {
			v.Summary.Failed++
		}
		if d.Answered {
			v.Summary.Answered++
		}
		if len(v.Calls) >= maxCallRows {
			v.CallsOmitted++
			continue
		}
		anchor := "call-" + strconv.Itoa(i+1)
		setOnce(a.row, d.CallID, anchor)
		row := callRow{Anchor: anchor, Ladder: a.ladder[d.CallID], D: d, Failed: failed}
		row.Status, row.By = statusText(d)
		if d.Answered && d.AnswerMs >= 0 {
			row.Answer = formatMillis(d.AnswerMs)
		}
		row.Media = mediaCells(r, d)
		v.Calls = append(v.Calls, row)
	}
}

// mediaCells summarises each stream of a call for its table row.
func mediaCells(r *analyze.Report, d *analyze.Dialog) []mediaCell {
	var cells []mediaCell
	for _, si := range d.Streams {
		if si < 0 || si >= len(r.Streams) {
			continue
		}
		s := &r.Streams[si]
		c := mediaCell{Text: fmt.Sprintf("%s → %s: %s pkts, %.1f %% loss, %.1f ms jitter",
			shorten(endpointAddr(s.Src), maxEndpointRunes), shorten(endpointAddr(s.Dst), maxEndpointRunes),
			formatCount(s.Packets), s.LossPercent, s.JitterMs)}
		if streamBad(s) {
			c.Class = "bad"
		}
		cells = append(cells, c)
	}
	return cells
}

// addRegistrations fills the registrations table.
func (v *view) addRegistrations(r *analyze.Report, a anchors) {
	v.Summary.Registrations = len(r.Registrations)
	for i := range r.Registrations {
		d := &r.Registrations[i]
		if len(v.Regs) >= maxRegRows {
			v.RegsOmitted++
			continue
		}
		row := regRow{Anchor: "reg-" + strconv.Itoa(i+1), Ladder: a.ladder[d.CallID], D: d, Failed: dialogFailed(d)}
		setOnce(a.row, d.CallID, row.Anchor)
		row.Status, row.By = statusText(d)
		for _, m := range d.Messages {
			if m.Method != "" && !m.Retransmission {
				if row.Source == "" {
					row.Source = endpointLabel(m.Src)
				}
				row.Requests++
			}
		}
		v.Regs = append(v.Regs, row)
	}
}

// addOthers fills the table of dialogs that are neither calls nor
// registrations.
func (v *view) addOthers(r *analyze.Report) {
	for i := range r.Others {
		d := &r.Others[i]
		if len(v.Others) >= maxOtherRows {
			v.OthersOmitted++
			continue
		}
		row := otherRow{D: d, Failed: dialogFailed(d)}
		row.Status, row.By = statusText(d)
		v.Others = append(v.Others, row)
	}
}

// addStreams fills the RTP streams table.
func (v *view) addStreams(r *analyze.Report, a anchors) {
	v.Summary.Streams = len(r.Streams)
	for i := range r.Streams {
		s := &r.Streams[i]
		if len(v.Streams) >= maxStreamRows {
			v.StreamsOmitted++
			continue
		}
		row := streamRow{
			S:     s,
			SSRC:  fmt.Sprintf("0x%08X", s.SSRC),
			Codec: streamCodec(s),
			Bad:   streamBad(s) || !s.Expected,
		}
		if !s.Start.IsZero() && !s.End.IsZero() {
			row.Duration = formatDuration(s.End.Sub(s.Start))
		}
		if s.CallID != "" {
			row.ShortCall = shorten(s.CallID, 20)
			row.CallLink, _ = a.link(s.CallID)
		}
		v.Streams = append(v.Streams, row)
	}
}

// addFindings lists the findings, most urgent first; the order within a
// severity is kept.
func (v *view) addFindings(r *analyze.Report, a anchors) {
	for _, f := range r.Findings {
		fv := newFindingView(f, a)
		switch fv.Class {
		case "critical":
			v.Summary.Critical++
		case "warning":
			v.Summary.Warning++
		default:
			v.Summary.Info++
		}
		v.Findings = append(v.Findings, fv)
	}
	v.Summary.Findings = len(v.Findings)
	slices.SortStableFunc(v.Findings, func(a, b findingView) int {
		return cmp.Compare(severityRank(a.Severity), severityRank(b.Severity))
	})
}

// newFindingView prepares one finding: its badge, its link, and its frames
// and log lines cut to what the page shows.
func newFindingView(f analyze.Finding, a anchors) findingView {
	fv := findingView{Finding: f, Class: severityClass(f.Severity)}
	fv.Label = strings.ToUpper(fv.Class)
	if f.CallID != "" {
		href, isLadder := a.link(f.CallID)
		switch {
		case href != "" && isLadder:
			fv.Link, fv.LinkText = href, "show the call flow"
		case href != "":
			fv.Link, fv.LinkText = href, "show in the table"
		}
	}
	frames := f.Frames
	if len(frames) > maxFramesShown {
		fv.FramesMore = len(frames) - maxFramesShown
		frames = frames[:maxFramesShown]
	}
	nums := make([]string, len(frames))
	for i, n := range frames {
		nums[i] = strconv.Itoa(n)
	}
	fv.Frames = strings.Join(nums, ", ")
	fv.Lines = f.Lines
	if len(fv.Lines) > maxLogLinesShown {
		fv.LinesOmitted = len(fv.Lines) - maxLogLinesShown
		fv.Lines = fv.Lines[:maxLogLinesShown]
	}
	return fv
}

// addHostLogs keeps the first host log errors.
func (v *view) addHostLogs(r *analyze.Report) {
	if r.Host == nil {
		return
	}
	v.HostLogs = r.Host.LogErrors
	if len(v.HostLogs) > maxHostLogLines {
		v.HostLogOmitted = len(v.HostLogs) - maxHostLogLines
		v.HostLogs = v.HostLogs[:maxHostLogLines]
	}
}
