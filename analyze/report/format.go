package report

// Text the page shows: times, sizes, statuses, classes and labels.

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pbxagent/pbxagent/analyze"
)

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
