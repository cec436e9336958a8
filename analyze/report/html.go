// Package report renders an analysis (analyze.Report) as one self-contained
// HTML page: ladder diagrams, findings, streams and the host's state, with
// inline CSS and SVG and no script. It imports analyze, never the reverse.
package report

import (
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pbxagent/pbxagent/analyze"
)

//go:embed templates
var templateFS embed.FS

// reportTemplate is parsed once, on first use rather than at start-up: the
// parse allocates about 280 KB that `pbxagent run` keeps for its lifetime
// without ever writing a report unless an alert asks for a bundle
// (docs/benchmarks.md, idle cost). The CSS is a template of its own so that
// it can live in a file of its own and still end up inline.
var reportTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"shorten": shorten,
		"tod":     formatTimeOfDay,
		"bytes":   formatBytes,
		"pct":     func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + " %" },
		"ms":      func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + " ms" },
		"mos":     mos,
		"count":   formatCount,
		"bar": func(p float64) int {
			return int(min(max(p, 0), 100) * 0.8)
		},
	}).ParseFS(templateFS, "templates/*.tmpl", "templates/*.css"))
})

// Limits that keep the page usable on large captures. Every cut is said on
// the page.
const (
	// maxRungs is the number of messages drawn per ladder.
	maxRungs = 500
	// allLaddersUpTo: with this many calls or fewer every call gets a
	// ladder; above it only failed calls and calls with findings do.
	allLaddersUpTo = 20
	// maxLadders caps the number of ladder diagrams.
	maxLadders       = 100
	maxCallRows      = 1000
	maxRegRows       = 500
	maxOtherRows     = 200
	maxStreamRows    = 1000
	maxFramesShown   = 40
	maxLogLinesShown = 20
	maxHostLogLines  = 200
	maxLabelRunes    = 44
	maxEndpointRunes = 40
)

// Ladder geometry, in SVG user units (CSS pixels).
const (
	ladderGutterLeft  = 96  // time offsets
	ladderGutterRight = 64  // frame numbers
	ladderHeader      = 58  // endpoint boxes
	ladderRow         = 30  // one message
	ladderMinColumn   = 210 // distance between lifelines
	ladderMaxColumn   = 380
	ladderCharWidth   = 7 // approximate width of a 12px glyph
	ladderHeadLen     = 9
	ladderHeadHalf    = 5
	ladderLoopWidth   = 34
)

// Arrow colours by message class. The request colour is also what the
// browser test looks for in the screenshot, so it is used nowhere else.
const (
	colorRequest     = "#1f6feb"
	colorProvisional = "#6e7781"
	colorSuccess     = "#1a7f37"
	colorRedirect    = "#8250df"
	colorFailure     = "#cf222e"
)

// RenderHTML writes r as one self-contained HTML page: inline CSS and SVG,
// no script, no external resource. Everything taken from the capture is
// escaped, since SIP headers are chosen by whoever sent the packet.
func RenderHTML(w io.Writer, r *analyze.Report) error {
	if r == nil {
		return errors.New("analyze: render HTML: nil report")
	}
	v := buildView(r)
	var buf bytes.Buffer
	if err := reportTemplate().ExecuteTemplate(&buf, "report.html.tmpl", v); err != nil {
		return fmt.Errorf("analyze: render HTML: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// view is what the template reads: the report, pre-digested.
type view struct {
	R *analyze.Report

	Title     string
	Generated string
	Span      string

	Summary summary

	Findings []findingView

	Calls        []callRow
	CallsOmitted int

	Ladders        []ladder
	LaddersOmitted int
	LadderNote     string

	Regs        []regRow
	RegsOmitted int

	Others        []otherRow
	OthersOmitted int

	Streams        []streamRow
	StreamsOmitted int

	Host           *analyze.HostState
	HostLogs       []analyze.LogLine
	HostLogOmitted int

	ArrowLegend []legendItem
}

type summary struct {
	Calls, Failed, Answered           int
	Critical, Warning, Info, Findings int
	Registrations, Streams            int
}

type legendItem struct {
	Color, Label string
	Dashed       bool
}

type findingView struct {
	analyze.Finding
	Class        string // badge class: critical, warning, info
	Label        string
	Link         string // "#ladder-N" or "#call-N", "" when none
	LinkText     string
	Frames       string
	FramesMore   int
	Lines        []analyze.LogLine
	LinesOmitted int
}

type callRow struct {
	Anchor, Ladder string
	D              *analyze.Dialog
	Failed         bool
	Status, By     string
	Answer         string
	Media          []mediaCell
}

type mediaCell struct {
	Text  string
	Class string // "bad" when loss is high or no packets
}

type regRow struct {
	Anchor, Ladder string
	D              *analyze.Dialog
	Failed         bool
	Status, By     string
	Source         string
	Requests       int
}

type otherRow struct {
	D          *analyze.Dialog
	Status, By string
	Failed     bool
}

type streamRow struct {
	S         *analyze.RTPStream
	SSRC      string
	Codec     string
	Duration  string
	CallLink  string
	Bad       bool
	ShortCall string
}

// ladder is one call flow diagram, laid out.
type ladder struct {
	// Streams are the call's RTP streams, for its quality table.
	Streams    []streamRow
	Anchor     string
	Kind       string // "Call", "Registration", "Dialog"
	D          *analyze.Dialog
	Status, By string
	Failed     bool
	Width      int
	Height     int
	Columns    []ladderColumn
	Rungs      []rung
	Omitted    int
	LifeTop    int
	LifeBottom int
}

type ladderColumn struct {
	X          int
	BoxX, BoxW int
	Addr, Full string
	Role       string
	RoleClass  string
}

type rung struct {
	Y          int
	Color      string
	Dashed     bool
	Self       bool
	X1, X2     int // line, ending where the head starts
	Head       string
	LoopPath   string
	LabelX     int
	LabelY     int
	Anchor     string // text-anchor
	Label      string
	Full       string // tooltip: complete label with endpoints
	SDP        bool
	Retrans    bool
	Offset     string
	Frame      int
	TextX      int
	FrameX     int
	RowY       int
	Zebra      bool
	LabelColor string
	// AbsTime is the capture time; Text the message as captured.
	AbsTime string
	Text    string
}

// layoutLadder places one lifeline per endpoint, in order of first
// appearance, and one arrow per message in time order.
func layoutLadder(anchor, kind string, d *analyze.Dialog) ladder {
	l := ladder{Anchor: anchor, Kind: kind, D: d, Failed: dialogFailed(d)}
	l.Status, l.By = statusText(d)
	msgs, omitted := ladderMessages(d)
	l.Omitted = omitted
	eps, labels, col := ladderEndpoints(msgs)
	l.Columns = ladderColumns(eps.list, col)
	l.Width = ladderGutterLeft + len(eps.list)*col + ladderGutterRight
	l.LifeTop = ladderHeader
	l.Height = ladderHeader + len(msgs)*ladderRow + 16
	l.LifeBottom = l.Height - 4

	var t0 time.Time
	if len(msgs) > 0 {
		t0 = msgs[0].Time
	}
	for i, m := range msgs {
		s := l.Columns[eps.index[endpointAddr(m.Src)]].X
		t := l.Columns[eps.index[endpointAddr(m.Dst)]].X
		l.Rungs = append(l.Rungs, layoutRung(i, m, labels[i], s, t, l.Width, t0))
	}
	return l
}

// ladderMessages returns a dialog's messages in time order (frame order on
// ties), cut to maxRungs, and how many were cut.
func ladderMessages(d *analyze.Dialog) ([]analyze.Message, int) {
	msgs := slices.Clone(d.Messages)
	slices.SortStableFunc(msgs, func(a, b analyze.Message) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Frame, b.Frame)
	})
	if len(msgs) > maxRungs {
		return msgs[:maxRungs], len(msgs) - maxRungs
	}
	return msgs, 0
}

// endpointSet is a ladder's endpoints in order of first appearance.
type endpointSet struct {
	index map[string]int // address → position in list
	list  []analyze.Endpoint
}

// add records an endpoint once, keeping the first role it is given.
func (es *endpointSet) add(e analyze.Endpoint) {
	k := endpointAddr(e)
	if i, ok := es.index[k]; ok {
		if es.list[i].Role == "" {
			es.list[i].Role = e.Role
		}
		return
	}
	es.index[k] = len(es.list)
	es.list = append(es.list, e)
}

// ladderEndpoints collects the endpoints and the arrow labels of the
// messages; the widest label or address decides the column distance.
func ladderEndpoints(msgs []analyze.Message) (eps endpointSet, labels []string, col int) {
	eps.index = map[string]int{}
	widest := 0
	labels = make([]string, len(msgs))
	for i, m := range msgs {
		eps.add(m.Src)
		eps.add(m.Dst)
		labels[i] = shorten(messageLabel(m), maxLabelRunes)
		n := utf8.RuneCountInString(labels[i])
		if m.HasSDP {
			n += 5
		}
		widest = max(widest, n)
	}
	for _, e := range eps.list {
		widest = max(widest, min(utf8.RuneCountInString(endpointAddr(e)), maxEndpointRunes))
	}
	col = min(max(ladderMinColumn, widest*ladderCharWidth+40), ladderMaxColumn)
	return eps, labels, col
}

// ladderColumns places one lifeline per endpoint, col apart.
func ladderColumns(eps []analyze.Endpoint, col int) []ladderColumn {
	half := col / 2
	cols := make([]ladderColumn, 0, len(eps))
	for i, e := range eps {
		x := ladderGutterLeft + half + i*col
		addr := endpointAddr(e)
		role := e.Role
		if role == "" {
			role = "peer"
		}
		sub := role
		if e.Transport != "" {
			sub += " · " + strings.ToLower(e.Transport)
		}
		cols = append(cols, ladderColumn{
			X: x, BoxX: x - half + 8, BoxW: col - 16,
			Addr: shorten(addr, maxEndpointRunes), Full: addr,
			Role: sub, RoleClass: roleClass(e.Role),
		})
	}
	return cols
}

// layoutRung lays out the i-th message as an arrow from lifeline s to
// lifeline t, with its label, times and full text.
func layoutRung(i int, m analyze.Message, label string, s, t, width int, t0 time.Time) rung {
	y := ladderHeader + i*ladderRow + ladderRow - 6
	g := rung{
		Y: y, RowY: ladderHeader + i*ladderRow + 2, Zebra: i%2 == 1,
		Color:   messageColor(m),
		Dashed:  m.Retransmission,
		Retrans: m.Retransmission,
		SDP:     m.HasSDP,
		Label:   label,
		Frame:   m.Frame,
		TextX:   ladderGutterLeft - 10,
		FrameX:  width - 10,
		LabelY:  y - 7,
		Anchor:  "middle",
	}
	g.LabelColor = g.Color
	if g.Color == colorRequest {
		// The request colour is reserved for arrows.
		g.LabelColor = "#0b3d91"
	}
	if !m.Time.IsZero() && !t0.IsZero() {
		g.Offset = formatOffset(m.Time.Sub(t0))
	}
	if !m.Time.IsZero() {
		g.AbsTime = m.Time.UTC().Format("2006-01-02 15:04:05.000000 UTC")
	}
	g.Text = m.Text
	g.Full = rungTooltip(m)
	g.placeArrow(s, t, y)
	return g
}

// rungTooltip is a message's complete label with its endpoints, CSeq and
// frame.
func rungTooltip(m analyze.Message) string {
	full := fmt.Sprintf("%s  %s → %s", messageLabel(m), endpointAddr(m.Src), endpointAddr(m.Dst))
	if m.CSeq != "" {
		full += "  CSeq: " + m.CSeq
	}
	if m.Frame > 0 {
		full += "  frame " + strconv.Itoa(m.Frame)
	}
	return full
}

// placeArrow draws the arrow from x = s to x = t at height y: rightwards,
// leftwards, or a small loop when an endpoint sends to itself.
func (g *rung) placeArrow(s, t, y int) {
	switch {
	case s == t:
		g.Self = true
		g.LoopPath = fmt.Sprintf("M %d %d H %d V %d H %d", s, y-8, s+ladderLoopWidth, y+4, s+ladderHeadLen)
		g.Head = arrowHead(s, y+4, -1)
		g.LabelX = s + ladderLoopWidth + 6
		g.LabelY = y
		g.Anchor = "start"
	case s < t:
		g.X1, g.X2 = s, t-ladderHeadLen
		g.Head = arrowHead(t, y, 1)
		g.LabelX = (s + t) / 2
	default:
		g.X1, g.X2 = s, t+ladderHeadLen
		g.Head = arrowHead(t, y, -1)
		g.LabelX = (s + t) / 2
	}
}

// arrowHead is the polygon of a head whose tip is at (x, y), pointing right
// (dir 1) or left (dir -1).
func arrowHead(x, y, dir int) string {
	b := x - dir*ladderHeadLen
	return fmt.Sprintf("%d,%d %d,%d %d,%d", x, y, b, y-ladderHeadHalf, b, y+ladderHeadHalf)
}

func messageLabel(m analyze.Message) string {
	if m.ICMP != "" {
		return m.ICMP
	}
	if m.Method != "" {
		return m.Method
	}
	if m.Status == 0 {
		return "?"
	}
	if m.Reason == "" {
		return strconv.Itoa(m.Status)
	}
	return strconv.Itoa(m.Status) + " " + m.Reason
}

func messageColor(m analyze.Message) string {
	switch {
	case m.ICMP != "":
		return colorFailure
	case m.Method != "" || m.Status == 0:
		return colorRequest
	case m.Status < 200:
		return colorProvisional
	case m.Status < 300:
		return colorSuccess
	case m.Status < 400:
		return colorRedirect
	default:
		return colorFailure
	}
}

func dialogFailed(d *analyze.Dialog) bool {
	return d.NoResponse || d.ICMPError != "" || d.FinalStatus >= 300
}

func statusText(d *analyze.Dialog) (status, by string) {
	switch {
	case d.FinalStatus > 0:
		status = strconv.Itoa(d.FinalStatus)
		if d.FinalReason != "" {
			status += " " + d.FinalReason
		}
	case d.ICMPError != "":
		status = d.ICMPError
	case d.NoResponse:
		status = "no response"
	default:
		status = "—"
	}
	return status, d.FinalBy
}

func streamBad(s *analyze.RTPStream) bool {
	return s.Packets == 0 || s.LossPercent >= 5 || s.JitterMs >= 50
}

func severityRank(s analyze.Severity) int {
	switch s {
	case analyze.Critical:
		return 0
	case analyze.Warning:
		return 1
	case analyze.Info:
		return 2
	}
	return 3
}

func severityClass(s analyze.Severity) string {
	switch s {
	case analyze.Critical:
		return "critical"
	case analyze.Warning:
		return "warning"
	}
	return "info"
}

func roleClass(role string) string {
	switch role {
	case "pbx", "extension", "trunk":
		return role
	}
	return "peer"
}

// endpointAddr is "IP:port", with IPv6 addresses in brackets.
func endpointAddr(e analyze.Endpoint) string {
	if e.IP == "" && e.Port == 0 {
		return "?"
	}
	if e.Port == 0 {
		return e.IP
	}
	return net.JoinHostPort(e.IP, strconv.Itoa(e.Port))
}

func endpointLabel(e analyze.Endpoint) string {
	s := endpointAddr(e)
	if e.Role != "" {
		s += " (" + e.Role + ")"
	}
	return s
}

// payloadName names the static RTP payload types of RFC 3551.
func payloadName(pt int) string {
	names := map[int]string{0: "PCMU", 3: "GSM", 4: "G723", 8: "PCMA", 9: "G722", 13: "CN", 18: "G729"}
	if n, ok := names[pt]; ok {
		return fmt.Sprintf("%d %s", pt, n)
	}
	if pt >= 96 && pt <= 127 {
		return fmt.Sprintf("%d dynamic", pt)
	}
	return strconv.Itoa(pt)
}

// shorten cuts s to at most n runes, ending with "…" when cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	i, k := 0, 0
	for i = range s {
		if k == n-1 {
			break
		}
		k++
	}
	return s[:i] + "…"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format("2006-01-02 15:04:05.000 MST")
}

// captureSpan is "2026-03-14 09:26:50.000 – 09:27:59.000 UTC (1m9s)", with
// the second date spelled out only when it differs.
func captureSpan(start, end time.Time) string {
	switch {
	case start.IsZero() && end.IsZero():
		return "—"
	case start.IsZero() || end.IsZero():
		return formatTime(start) + " – " + formatTime(end)
	}
	end = end.In(start.Location())
	s := start.Format("2006-01-02 15:04:05.000") + " – "
	if end.Format("2006-01-02") == start.Format("2006-01-02") {
		s += end.Format("15:04:05.000 MST")
	} else {
		s += end.Format("2006-01-02 15:04:05.000 MST")
	}
	return s + " (" + formatDuration(end.Sub(start)) + ")"
}

func formatTimeOfDay(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Format("15:04:05.000")
}

func formatOffset(d time.Duration) string {
	return "+" + strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + " s"
}

func formatMillis(ms int64) string {
	return strconv.FormatFloat(float64(ms)/1000, 'f', 2, 64) + " s"
}

func formatDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// formatCount groups digits by thousands: 1 234 567.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// streamCodec names a stream's codec: the analyze.SDP's encoding name, else the
// static payload type's.
func streamCodec(s *analyze.RTPStream) string {
	if s.Codec != "" {
		return s.Codec
	}
	return payloadName(s.PayloadType)
}

// mos formats a stream's score, "—" when it has none.
func mos(q *analyze.Quality) string {
	if q == nil {
		return "—"
	}
	return strconv.FormatFloat(q.MOS, 'f', 2, 64)
}
