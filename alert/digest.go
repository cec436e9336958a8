package alert

import (
	"bytes"
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
)

// Kind says why a check is in a digest.
type Kind int

// Kinds of digest items.
const (
	// KindProblem is a change to a non-OK state (new, worse or better but
	// still failing).
	KindProblem Kind = iota
	// KindRecovery is a change back to OK.
	KindRecovery
	// KindReminder repeats a problem that has not changed for Reminder.
	KindReminder
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindRecovery:
		return "recovery"
	case KindReminder:
		return "reminder"
	default:
		return "problem"
	}
}

// MarshalText encodes the kind by name in the state file.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind name.
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "problem":
		*k = KindProblem
	case "recovery":
		*k = KindRecovery
	case "reminder":
		*k = KindReminder
	default:
		return fmt.Errorf("unknown alert kind %q", b)
	}
	return nil
}

// Item is one check's entry in a digest.
type Item struct {
	// Check is the collector's name ("disk").
	Check string `json:"check"`
	// Kind says whether this is a problem, a recovery or a reminder.
	Kind Kind `json:"kind"`
	// From and To are the alert states before and after the change; equal
	// for reminders.
	From collectors.State `json:"from"`
	To   collectors.State `json:"to"`
	// Since is when the check was first seen in state To.
	Since time.Time `json:"since"`
	// FromStatus and ToStatus are, for an item of a check (a trunk), its
	// state in its own words before and after ("ONLINE", "OFFLINE");
	// FromStatus is empty for an item first seen failing.
	FromStatus string `json:"from_status,omitempty"`
	ToStatus   string `json:"to_status,omitempty"`
	// Label names an item for people ("Trunk carrier-b"); empty for a
	// check.
	Label string `json:"-"`
	// Lasted is, for a recovery, how long the problem lasted; for a
	// problem or reminder, how long the check has been failing so far.
	Lasted time.Duration `json:"lasted,omitempty"`
	// Summary, Advice and Metrics come from the check's latest report.
	Summary string              `json:"-"`
	Advice  string              `json:"-"`
	Metrics []collectors.Metric `json:"-"`
}

// CheckName is the check the entry belongs to: "trunks" for the item key
// "trunks/carrier-a", "disk" for "disk".
func (it Item) CheckName() string {
	name, _, _ := strings.Cut(it.Check, "/")
	return name
}

// Name is what the item is about: the item's label ("Trunk carrier-b") or
// the check's name ("disk").
func (it Item) Name() string {
	if it.Label != "" {
		return it.Label
	}
	return it.Check
}

// Change is an item's change in its own words: "Trunk carrier-b: ONLINE →
// OFFLINE" (or "Trunk carrier-b: OFFLINE" for one first seen failing, "still
// OFFLINE" in a reminder); empty for a check.
func (it Item) Change() string {
	if it.Label == "" {
		return ""
	}
	switch {
	case it.Kind == KindReminder:
		return oneLine(it.Label + ": still " + it.ToStatus)
	case it.FromStatus == "" || it.FromStatus == it.ToStatus:
		return oneLine(it.Label + ": " + it.ToStatus)
	}
	return oneLine(it.Label + ": " + it.FromStatus + " → " + it.ToStatus)
}

// Digest is one mail's worth of changes for one host.
type Digest struct {
	// Host names the machine.
	Host string
	// Time is when the digest was produced.
	Time time.Time
	// Items are sorted: problems (worst first), then recoveries, each by
	// check name.
	Items []Item
	// Notes are paragraphs added after the items by the caller (the
	// support bundle taken for this change).
	Notes []string
}

func (d *Digest) sort() {
	rank := func(it Item) int {
		if it.Kind == KindRecovery {
			return 100
		}
		return 10 - int(it.To)
	}
	slices.SortStableFunc(d.Items, func(a, b Item) int {
		if r := rank(a) - rank(b); r != 0 {
			return r
		}
		return strings.Compare(a.Check, b.Check)
	})
}

// Problems returns the items that are not recoveries.
func (d *Digest) Problems() []Item {
	var out []Item
	for _, it := range d.Items {
		if it.Kind != KindRecovery {
			out = append(out, it)
		}
	}
	return out
}

// Recoveries returns the recovery items.
func (d *Digest) Recoveries() []Item {
	var out []Item
	for _, it := range d.Items {
		if it.Kind == KindRecovery {
			out = append(out, it)
		}
	}
	return out
}

// maxSubject bounds the subject line in characters.
const maxSubject = 200

// Subject returns the mail subject naming the host, the check(s) and the
// state, e.g. "[pbxagent] pbx1: CRITICAL disk — /var/lib/portsip 96% used"
// or "[pbxagent] pbx1: 2 problems (CRITICAL disk, WARNING logs), 1 recovered".
func (d *Digest) Subject() string {
	prefix := "[pbxagent] " + oneLine(d.Host) + ": "
	var s string
	probs, recs := d.Problems(), d.Recoveries()
	switch {
	case len(d.Items) == 1 && len(probs) == 1:
		it := probs[0]
		switch {
		case it.Label != "":
			s = it.To.String() + " " + it.Change()
		default:
			if it.Kind == KindReminder {
				s = "still "
			}
			s += it.To.String() + " " + it.Check
			if sum := oneLine(it.Summary); sum != "" {
				s += " — " + sum
			}
		}
	case len(d.Items) == 1:
		it := recs[0]
		s = it.Name() + " recovered"
		if it.Label != "" {
			s = it.Change() + ", recovered"
		}
		if it.Lasted > 0 {
			s += " after " + FormatDuration(it.Lasted)
		}
	case len(probs) == 0:
		s = fmt.Sprintf("%d recovered (%s)", len(recs), strings.Join(names(recs, false), ", "))
	default:
		s = fmt.Sprintf("%d %s (%s)", len(probs), plural(len(probs), "problem", "problems"),
			strings.Join(names(probs, true), ", "))
		if len(recs) > 0 {
			s += fmt.Sprintf(", %d recovered", len(recs))
		}
	}
	return truncate(prefix+oneLine(s), maxSubject)
}

func names(items []Item, withState bool) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Name()
		if withState {
			out[i] = it.To.String() + " " + it.Name()
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Text returns the plain-text body.
func (d *Digest) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pbxagent on %s, %s\n", d.Host, d.Time.Format(timeLayout))
	for _, v := range d.views() {
		b.WriteString("\n")
		b.WriteString(v.Title + "\n")
		b.WriteString("  " + v.Change + "\n")
		if v.Summary != "" {
			b.WriteString("  " + indent(v.Summary, "  ") + "\n")
		}
		if len(v.Metrics) > 0 {
			b.WriteString("  Metrics:\n")
			for _, m := range v.Metrics {
				b.WriteString("    " + m + "\n")
			}
		}
		if v.Advice != "" {
			b.WriteString("  What to do:\n    " + indent(v.Advice, "    ") + "\n")
		}
	}
	for _, n := range d.Notes {
		b.WriteString("\n" + strings.TrimRight(n, "\n") + "\n")
	}
	b.WriteString("\n-- \nSent by pbxagent, the PortSIP PBX host agent. " +
		"Run `pbxagent status` on the host for the current state.\n")
	return b.String()
}

// HTML returns the HTML body; every value is escaped.
func (d *Digest) HTML() string {
	var buf bytes.Buffer
	data := struct {
		Host, Time, Subject string
		Items               []itemView
		Notes               []string
	}{d.Host, d.Time.Format(timeLayout), d.Subject(), d.views(), d.Notes}
	if err := htmlBody.Execute(&buf, data); err != nil {
		// Execution into memory fails only on a template bug; fall back
		// to the escaped text so that the mail still says something.
		return "<pre>" + template.HTMLEscapeString(d.Text()) + "</pre>"
	}
	return buf.String()
}

const timeLayout = "2006-01-02 15:04:05 MST"

// itemView is an item prepared for both bodies.
type itemView struct {
	Title   string
	Color   string
	Change  string
	Summary string
	Metrics []string
	Advice  string
}

func (d *Digest) views() []itemView {
	out := make([]itemView, len(d.Items))
	for i, it := range d.Items {
		v := itemView{Summary: it.Summary, Advice: it.Advice, Color: color(it.To)}
		switch it.Kind {
		case KindRecovery:
			v.Title = it.Name() + " recovered"
			v.Change = fmt.Sprintf("%s → OK since %s", it.From, it.Since.Format(timeLayout))
			if it.Lasted > 0 {
				v.Title += " after " + FormatDuration(it.Lasted)
				v.Change += fmt.Sprintf("; the problem lasted %s", FormatDuration(it.Lasted))
			}
		case KindReminder:
			v.Title = fmt.Sprintf("%s %s (reminder)", it.To, it.Name())
			v.Change = fmt.Sprintf("still %s since %s", it.To, it.Since.Format(timeLayout))
			if it.Lasted > 0 {
				v.Change += fmt.Sprintf(", failing for %s", FormatDuration(it.Lasted))
			}
		default:
			v.Title = fmt.Sprintf("%s %s", it.To, it.Name())
			v.Change = fmt.Sprintf("%s → %s since %s", it.From, it.To, it.Since.Format(timeLayout))
			if it.From != collectors.StateOK && it.Lasted > 0 {
				v.Change += fmt.Sprintf(", failing for %s", FormatDuration(it.Lasted))
			}
		}
		if c := it.Change(); c != "" {
			v.Title = c
			if it.Kind != KindRecovery {
				v.Title = it.To.String() + " " + c
			}
		}
		for _, m := range it.Metrics {
			v.Metrics = append(v.Metrics, formatMetric(m))
		}
		out[i] = v
	}
	return out
}

func color(s collectors.State) string {
	switch s {
	case collectors.StateOK:
		return "#1e7e34"
	case collectors.StateWarning:
		return "#b8860b"
	case collectors.StateCritical:
		return "#c82333"
	default:
		return "#6c757d"
	}
}

// formatMetric renders "name{k=v} = value" with the value in human form:
// sizes with binary units, ratios as percentages, seconds as durations.
func formatMetric(m collectors.Metric) string {
	s := m.Name
	if len(m.Label) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(m.Label)) {
			kv = append(kv, k+"="+m.Label[k])
		}
		s += "{" + strings.Join(kv, ", ") + "}"
	}
	return oneLine(s + " = " + humanValue(m))
}

// valueFormats render a metric's value by its unit.
var valueFormats = map[string]func(float64) string{
	"B":   func(v float64) string { return config.HumanBytes(int64(v)) },
	"B/h": func(v float64) string { return config.HumanBytes(int64(v)) + "/h" },
	"B/s": func(v float64) string { return config.HumanBytes(int64(v)) + "/s" },
	"s": func(v float64) string {
		d := time.Duration(v * float64(time.Second))
		if d < time.Minute {
			return d.Round(time.Millisecond).String()
		}
		return FormatDuration(d)
	},
	"%": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "%" },
}

// humanValue is the metric's value for people.
func humanValue(m collectors.Metric) string {
	if f, ok := valueFormats[m.Unit]; ok && !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
		return f(m.Value)
	}
	if m.Unit == "" && strings.HasSuffix(m.Name, "_ratio") {
		return strconv.FormatFloat(m.Value*100, 'f', 1, 64) + "%"
	}
	s := strconv.FormatFloat(m.Value, 'f', -1, 64)
	if math.Abs(m.Value) >= 1e6 || (m.Value != 0 && math.Abs(m.Value) < 1e-3) {
		s = strconv.FormatFloat(m.Value, 'g', 4, 64)
	}
	if m.Unit != "" {
		s += " " + m.Unit
	}
	return s
}

// FormatDuration renders a duration for people: "45s", "12m", "3h12m",
// "2d5h".
func FormatDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	}
	d = d.Round(time.Minute)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	switch {
	case days > 0 && h > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dm", m)
}

// oneLine folds control characters (a header must stay on one line).
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func indent(s, pad string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

var htmlBody = template.Must(template.New("digest").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif; font-size: 14px; color: #222;">
<p>pbxagent on <b>{{.Host}}</b>, {{.Time}}</p>
{{range .Items}}<div style="border-left: 4px solid {{.Color}}; padding: 4px 12px; margin: 12px 0;">
<h3 style="margin: 4px 0; color: {{.Color}};">{{.Title}}</h3>
<p style="margin: 4px 0;">{{.Change}}</p>
{{if .Summary}}<p style="margin: 4px 0; white-space: pre-wrap;">{{.Summary}}</p>{{end}}
{{if .Metrics}}<ul style="margin: 4px 0;">{{range .Metrics}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{if .Advice}}<p style="margin: 4px 0;"><b>What to do:</b></p>
<pre style="margin: 4px 0; white-space: pre-wrap; background: #f4f4f4; padding: 6px;">{{.Advice}}</pre>{{end}}
</div>
{{end}}{{range .Notes}}<pre style="margin: 12px 0; white-space: pre-wrap;">{{.}}</pre>
{{end}}<p style="color: #777; font-size: 12px;">Sent by pbxagent, the PortSIP PBX host agent. Run <code>pbxagent status</code> on the host for the current state.</p>
</body></html>
`))
