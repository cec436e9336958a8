// Package report renders an analysis (analyze.Report) as one self-contained
// HTML page: ladder diagrams, findings, streams and the host's state, with
// inline CSS and SVG and no script. It imports analyze, never the reverse.
package report

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"sync"

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
