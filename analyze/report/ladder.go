package report

// The ladder diagram of one dialog: columns per endpoint, one rung per message, drawn as SVG.

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pbxagent/pbxagent/analyze"
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
