package report

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/analyze"
)

// Injections a caller can put into any SIP header.
const (
	evilScript = `<script>alert(1)</script>`
	evilSVG    = `"><svg onload=alert(2)>`
)

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

var (
	epExt   = analyze.Endpoint{IP: "10.0.0.21", Port: 5060, Transport: "udp", Role: "extension"}
	epPBX   = analyze.Endpoint{IP: "192.0.2.10", Port: 5060, Transport: "udp", Role: "pbx"}
	epTrunk = analyze.Endpoint{IP: "203.0.113.5", Port: 5060, Transport: "udp", Role: "trunk"}
)

func req(frame, ms int, src, dst analyze.Endpoint, method string, sdp, retrans bool) analyze.Message {
	return analyze.Message{Frame: frame, Time: at(ms), Src: src, Dst: dst, Method: method, CSeq: "1 " + method, HasSDP: sdp, Retransmission: retrans}
}

func resp(frame, ms int, src, dst analyze.Endpoint, status int, reason string, sdp bool) analyze.Message {
	return analyze.Message{Frame: frame, Time: at(ms), Src: src, Dst: dst, Status: status, Reason: reason, CSeq: "1 INVITE", HasSDP: sdp}
}

// richReport has a call that fails with 407 then 403 from the trunk (with a
// retransmitted INVITE and a hostile From header), an answered call with
// two streams, a registration, an unanswered OPTIONS, host state and
// findings listed out of order.
func richReport() *analyze.Report {
	failed := analyze.Dialog{
		CallID:    "a84b4c76e66710@pc33.atlanta.example.com-" + evilSVG,
		Method:    "INVITE",
		From:      `"Alice ` + evilScript + `" <sip:1001@pbx.example.com>` + evilSVG,
		To:        "<sip:+4930123456@pbx.example.com>",
		Direction: "PBX→trunk", FinalStatus: 403, FinalReason: "Forbidden", FinalBy: "trunk",
		Start: at(0), End: at(2400), FirstResponseMs: 12, AnswerMs: -1, Retransmissions: 1,
		Messages: []analyze.Message{
			req(101, 0, epExt, epPBX, "INVITE", true, false),
			resp(102, 12, epPBX, epExt, 407, "Proxy Authentication Required", false),
			req(103, 20, epExt, epPBX, "ACK", false, false),
			req(104, 40, epExt, epPBX, "INVITE", true, false),
			resp(105, 45, epPBX, epExt, 100, "Trying", false),
			req(106, 60, epPBX, epTrunk, "INVITE", true, false),
			req(110, 560, epPBX, epTrunk, "INVITE", true, true),
			resp(111, 700, epTrunk, epPBX, 100, "Trying", false),
			resp(115, 2300, epTrunk, epPBX, 403, "Forbidden "+evilScript, false),
			req(116, 2310, epPBX, epTrunk, "ACK", false, false),
			resp(117, 2320, epPBX, epExt, 403, "Forbidden", false),
			req(118, 2400, epExt, epPBX, "ACK", false, false),
		},
		SDP: []analyze.SDP{{Frame: 101, From: epExt, Addr: "10.0.0.21", Port: 4000, Codecs: []string{"PCMU", "PCMA"}, Direction: "sendrecv", Private: true}},
	}
	answered := analyze.Dialog{
		CallID: "3848276298220188511@203.0.113.5", Method: "INVITE",
		From: "<sip:+4930999@carrier.example>", To: "<sip:1002@pbx.example.com>",
		Direction: "trunk→PBX", FinalStatus: 200, FinalReason: "OK", FinalBy: "extension", Answered: true,
		Start: at(5000), End: at(65000), FirstResponseMs: 5, AnswerMs: 3210,
		Messages: []analyze.Message{
			req(201, 5000, epTrunk, epPBX, "INVITE", true, false),
			resp(202, 5005, epPBX, epTrunk, 100, "Trying", false),
			req(203, 5010, epPBX, epExt, "INVITE", true, false),
			resp(204, 5100, epExt, epPBX, 180, "Ringing", false),
			resp(205, 5110, epPBX, epTrunk, 180, "Ringing", false),
			resp(206, 8200, epExt, epPBX, 200, "OK", true),
			resp(207, 8210, epPBX, epTrunk, 200, "OK", true),
			req(208, 8300, epTrunk, epPBX, "ACK", false, false),
			req(209, 8310, epPBX, epExt, "ACK", false, false),
			req(990, 65000, epTrunk, epPBX, "BYE", false, false),
			resp(991, 65010, epPBX, epTrunk, 200, "OK", false),
		},
		Streams: []int{0, 1},
	}
	reg := analyze.Dialog{
		CallID: "reg-77@10.0.0.21", Method: "REGISTER", From: "<sip:1001@pbx.example.com>", To: "<sip:1001@pbx.example.com>",
		Direction: "extension→PBX", FinalStatus: 200, FinalReason: "OK", FinalBy: "pbx",
		Start: at(-3000), End: at(-2900), UserAgents: []string{"Yealink SIP-T46U 108.86.0.20"},
		Messages: []analyze.Message{
			req(10, -3000, epExt, epPBX, "REGISTER", false, false),
			resp(11, -2990, epPBX, epExt, 401, "Unauthorized", false),
			req(12, -2950, epExt, epPBX, "REGISTER", false, false),
			resp(13, -2900, epPBX, epExt, 200, "OK", false),
		},
	}
	options := analyze.Dialog{
		CallID: "opt-1@192.0.2.10", Method: "OPTIONS", From: "<sip:ping@pbx.example.com>", To: "<sip:203.0.113.5>",
		Direction: "PBX→trunk", NoResponse: true, Retransmissions: 2, Start: at(-1000),
		Messages: []analyze.Message{
			req(20, -1000, epPBX, epTrunk, "OPTIONS", false, false),
			req(21, -500, epPBX, epTrunk, "OPTIONS", false, true),
			req(22, 500, epPBX, epTrunk, "OPTIONS", false, true),
		},
	}
	return &analyze.Report{
		Version: analyze.ModelVersion, Source: "bundle-pbx1-20260314.tar.gz " + evilScript, Generated: t0.Add(time.Hour),
		Capture: analyze.CaptureInfo{
			File: "capture/pbx.pcap", Packets: 48211, Bytes: 9_876_543, SIP: 31, RTP: 47980, ICMP: 3, TLS: 12, Malformed: 2,
			Start: at(-3000), End: at(66000), Interfaces: []string{"eth0"},
		},
		PBX:           []string{"192.0.2.10", "10.0.0.1"},
		Calls:         []analyze.Dialog{failed, answered},
		Registrations: []analyze.Dialog{reg},
		Others:        []analyze.Dialog{options},
		Streams: []analyze.RTPStream{
			{SSRC: 0x1a2b3c4d, Src: analyze.Endpoint{IP: "203.0.113.5", Port: 30000, Role: "trunk"}, Dst: analyze.Endpoint{IP: "192.0.2.10", Port: 40000, Role: "pbx"},
				PayloadType: 8, Packets: 2850, Lost: 3, LossPercent: 0.1, JitterMs: 2.4, Start: at(8300), End: at(65000), CallID: answered.CallID, Expected: true},
			{SSRC: 0xdeadbeef, Src: analyze.Endpoint{IP: "192.0.2.10", Port: 40000, Role: "pbx"}, Dst: analyze.Endpoint{IP: "203.0.113.5", Port: 30000, Role: "trunk"},
				PayloadType: 8, Packets: 1900, Lost: 950, LossPercent: 33.3, JitterMs: 61.0, Start: at(8300), End: at(65000), CallID: answered.CallID, Expected: true},
		},
		Host: &analyze.HostState{
			Disks:      []analyze.DiskUse{{Mount: "/var/lib/portsip", UsedPercent: 97.5, Free: 512 << 20}},
			Containers: []string{"portsip.apigateway (exited)"},
			Gateway:    "GET /api/health: connection refused",
			Blocked:    []string{"198.51.100.7"},
			LogErrors:  []analyze.LogLine{{File: "callmanager.log", Line: 8812, Time: at(2300), Text: "ERROR trunk rejected INVITE: 403 " + evilScript}},
		},
		Findings: []analyze.Finding{
			{Severity: analyze.Info, Code: "tls-opaque", Title: "12 packets of SIP over TLS could not be read", Detail: "Calls over TLS are not in the ladders."},
			{Severity: analyze.Critical, Code: "sip-403", Title: "Trunk refused the call: 403 Forbidden", CallID: failed.CallID,
				Detail: "The trunk answered 403 to the PBX's INVITE.\nThe PBX passed it on to the extension.",
				Frames: []int{106, 115, 117},
				Lines:  []analyze.LogLine{{File: "callmanager.log", Line: 8812, Text: "ERROR trunk rejected INVITE " + evilSVG}},
				Remedy: []string{"Contact your trunk support team.", "Check the trunk's maximum call limit.", "See https://support.portsip.com for the guide."}},
			{Severity: analyze.Warning, Code: "one-way-audio", Title: "Heavy loss from the PBX to the trunk", CallID: answered.CallID, Frames: []int{206, 207},
				Remedy: []string{"Whitelist the PBX's IP address at the trunk provider."}},
			{Severity: analyze.Critical, Code: "disk-full", Title: "Disk /var/lib/portsip is 97.5 % full",
				Remedy: []string{"Delete archived .gz logs in /var/lib/portsip/pbx/log."}},
		},
	}
}

func render(t testing.TB, r *analyze.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := RenderHTML(&b, r); err != nil {
		t.Fatalf("RenderHTML: %v", err)
	}
	return b.String()
}

var (
	ladderRE  = regexp.MustCompile(`(?s)<svg class="ladder"[^>]*>.*?</svg>`)
	lineRE    = regexp.MustCompile(`<line class="arrow" x1="(\d+)" y1="(\d+)" x2="(\d+)" y2="(\d+)"`)
	lifeRE    = regexp.MustCompile(`<line class="life" x1="(\d+)"`)
	figureRE  = regexp.MustCompile(`<figure class="ladder-box[^"]*" id="([^"]+)"`)
	findingRE = regexp.MustCompile(`<article class="finding (\w+)">`)
)

// ladders returns each ladder's SVG in page order.
func ladders(page string) []string { return ladderRE.FindAllString(page, -1) }

func TestRenderHTMLLadders(t *testing.T) {
	r := richReport()
	page := render(t, r)

	// Two calls (≤ 20: both drawn) and no finding on the registration.
	svgs := ladders(page)
	if len(svgs) != len(r.Calls) {
		t.Fatalf("%d ladders, want %d", len(svgs), len(r.Calls))
	}
	if n, m := strings.Count(page, "<svg"), strings.Count(page, "</svg>"); n != m {
		t.Errorf("%d <svg> but %d </svg>", n, m)
	}
	endpoints := [][]analyze.Endpoint{{epExt, epPBX, epTrunk}, {epTrunk, epPBX, epExt}}
	for i, svg := range svgs {
		d := r.Calls[i]
		if n := strings.Count(svg, `class="arrow"`); n != len(d.Messages) {
			t.Errorf("ladder %d: %d arrows, want %d", i, n, len(d.Messages))
		}
		if n := strings.Count(svg, `<polygon class="head"`); n != len(d.Messages) {
			t.Errorf("ladder %d: %d arrow heads, want %d", i, n, len(d.Messages))
		}
		lives := lifeRE.FindAllStringSubmatch(svg, -1)
		if len(lives) != len(endpoints[i]) {
			t.Fatalf("ladder %d: %d lifelines, want %d", i, len(lives), len(endpoints[i]))
		}
		x := map[string]int{}
		for k, e := range endpoints[i] {
			x[endpointAddr(e)], _ = strconv.Atoi(lives[k][1])
			if !strings.Contains(svg, ">"+endpointAddr(e)+"<") {
				t.Errorf("ladder %d: no label %s", i, endpointAddr(e))
			}
			if !strings.Contains(svg, ">"+e.Role+" · udp<") {
				t.Errorf("ladder %d: no role label %q", i, e.Role)
			}
		}
		// Every arrow starts at its source's lifeline and points at its
		// destination's; rungs go down in time order.
		lines := lineRE.FindAllStringSubmatch(svg, -1)
		if len(lines) != len(d.Messages) {
			t.Fatalf("ladder %d: %d straight arrows, want %d", i, len(lines), len(d.Messages))
		}
		lastY := -1
		for k, m := range d.Messages {
			x1, _ := strconv.Atoi(lines[k][1])
			y, _ := strconv.Atoi(lines[k][2])
			x2, _ := strconv.Atoi(lines[k][3])
			src, dst := x[endpointAddr(m.Src)], x[endpointAddr(m.Dst)]
			if x1 != src {
				t.Errorf("ladder %d rung %d: starts at x=%d, want the source lifeline %d", i, k, x1, src)
			}
			if (dst > src) != (x2 > x1) || abs(x2-dst) > ladderHeadLen {
				t.Errorf("ladder %d rung %d (%s): line %d→%d, destination lifeline %d", i, k, messageLabel(m), x1, x2, dst)
			}
			if y <= lastY {
				t.Errorf("ladder %d rung %d: y %d not below %d", i, k, y, lastY)
			}
			lastY = y
		}
		retrans, sdp := 0, 0
		for _, m := range d.Messages {
			if m.Retransmission {
				retrans++
			}
			if m.HasSDP {
				sdp++
			}
		}
		if n := strings.Count(svg, `stroke-dasharray="6 4"`); n != retrans {
			t.Errorf("ladder %d: %d dashed arrows, want %d", i, n, retrans)
		}
		if n := strings.Count(svg, `<tspan class="sdp"`); n != sdp {
			t.Errorf("ladder %d: %d analyze.SDP marks, want %d", i, n, sdp)
		}
		for _, m := range d.Messages {
			if !strings.Contains(svg, ">#"+strconv.Itoa(m.Frame)+"<") {
				t.Errorf("ladder %d: frame %d not shown", i, m.Frame)
			}
		}
	}
	for _, want := range []string{">&#43;0.000 s<", ">&#43;2.300 s<", ">407 Proxy Authentication Required", ">180 Ringing"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The request colour marks arrows only (the browser test counts its
	// pixels): outside the ladders it is in the legend alone.
	if n := strings.Count(ladderRE.ReplaceAllString(page, ""), colorRequest); n != 1 {
		t.Errorf("request colour %s used %d times outside the ladders, want 1 (the legend)", colorRequest, n)
	}
}

func TestRenderHTMLFindings(t *testing.T) {
	r := richReport()
	page := render(t, r)
	var order []string
	for _, m := range findingRE.FindAllStringSubmatch(page, -1) {
		order = append(order, m[1])
	}
	want := []string{"critical", "critical", "warning", "info"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("finding order %v, want %v", order, want)
	}
	// Stable within a severity: sip-403 was listed before disk-full.
	if a, b := strings.Index(page, "sip-403"), strings.Index(page, "disk-full"); a < 0 || b < 0 || a > b {
		t.Errorf("sip-403 at %d, disk-full at %d: input order lost", a, b)
	}
	for _, w := range []string{"Capture frames: <span class=\"frames\">106, 115, 117</span>", "callmanager.log:8812",
		"<li>Contact your trunk support team.</li>", "What to check", `class="badge critical"`, `class="badge warning"`, `class="badge info"`} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	// Findings come before the calls table; each call finding links to
	// its ladder, and the link resolves.
	if strings.Index(page, `id="findings"`) > strings.Index(page, `id="calls"`) {
		t.Error("findings are not first")
	}
	ids := map[string]bool{}
	for _, m := range figureRE.FindAllStringSubmatch(page, -1) {
		ids[m[1]] = true
	}
	links := regexp.MustCompile(`<a href="#(ladder-\d+)">show the call flow</a>`).FindAllStringSubmatch(page, -1)
	if len(links) != 2 {
		t.Fatalf("%d finding links to ladders, want 2", len(links))
	}
	for _, l := range links {
		if !ids[l[1]] {
			t.Errorf("link to #%s: no such ladder", l[1])
		}
	}
}

func TestRenderHTMLTables(t *testing.T) {
	page := render(t, richReport())
	for _, w := range []string{
		// header
		"48\u202f211", "SIP messages", "TLS (opaque)", "malformed", "<code>192.0.2.10</code>, <code>10.0.0.1</code>", "09:26:50.000 – 09:27:59.000 UTC (1m9s)",
		// calls: failed highlighted, status and who sent it, answer time, media
		`<tr id="call-1" class="failed">`, `<tr id="call-2">`, "by trunk", "3.21 s", "1\u202f900 pkts, 33.3 % loss, 61.0 ms jitter",
		// registrations, others, streams, host
		"Yealink SIP-T46U", `<td><code>10.0.0.21:5060 (extension)</code></td>`, "no response", "0xDEADBEEF", "8 PCMA",
		"GET /api/health: connection refused", "portsip.apigateway (exited)", "/var/lib/portsip", "512.0 MiB", "198.51.100.7",
	} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func TestRenderHTMLEscapes(t *testing.T) {
	page := render(t, richReport())
	assertInert(t, page)
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the From header's <script> is not shown as text")
	}
	if !strings.Contains(page, "&lt;svg onload=alert(2)&gt;") {
		t.Error("the injected <svg onload> is not shown as text")
	}
}

// assertInert checks that page runs nothing and loads nothing: no script
// element, no event handler attribute, no URL in any attribute but a
// same-page "#fragment" (title excepted: it is a tooltip), no style
// attribute, nothing remote in the style sheet. URLs may appear only as
// text.
func assertInert(t testing.TB, page string) {
	t.Helper()
	for _, tag := range scanTags(page) {
		switch tag.name {
		case "script", "link", "iframe", "object", "embed", "img", "image", "base", "use", "foreignobject",
			"audio", "video", "source", "form", "meta refresh":
			t.Errorf("page has a <%s> element", tag.name)
		}
		for _, a := range tag.attrs {
			val := strings.ToLower(html.UnescapeString(a[1]))
			switch {
			case strings.HasPrefix(a[0], "on"):
				t.Errorf("<%s> has an event handler attribute %s", tag.name, a[0])
			case a[0] == "href" || a[0] == "xlink:href" || a[0] == "src":
				if !strings.HasPrefix(val, "#") {
					t.Errorf("<%s %s=%q>: not a same-page link", tag.name, a[0], a[1])
				}
			case a[0] == "style":
				t.Errorf("<%s> has a style attribute", tag.name)
			case a[0] != "title" && (strings.Contains(val, "://") || strings.Contains(val, "javascript:")):
				t.Errorf("<%s %s=%q>: URL in an attribute", tag.name, a[0], a[1])
			}
		}
		if tag.name == "style" {
			low := strings.ToLower(tag.body)
			for _, bad := range []string{"@import", "url(", "@font-face", "expression("} {
				if strings.Contains(low, bad) {
					t.Errorf("style sheet contains %q", bad)
				}
			}
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(page), "</html>") {
		t.Error("page does not end with </html>")
	}
}

type tag struct {
	name  string
	attrs [][2]string // lower-case name, raw value
	body  string      // the text of a style element
}

// scanTags finds the start tags of page the way an HTML parser would:
// comments, end tags and declarations are skipped, attribute values may be
// quoted either way or not at all, and the text of a style or script element
// is raw up to its end tag.
func scanTags(page string) []tag {
	var tags []tag
	i := 0
	for {
		j := strings.IndexByte(page[i:], '<')
		if j < 0 {
			return tags
		}
		i += j + 1
		switch {
		case strings.HasPrefix(page[i:], "!--"):
			if k := strings.Index(page[i+3:], "-->"); k >= 0 {
				i += 3 + k + 3
				continue
			}
			return tags
		case i < len(page) && (page[i] == '/' || page[i] == '!' || page[i] == '?'):
			continue
		case i >= len(page) || !isLetter(page[i]):
			continue
		}
		k := i
		for k < len(page) && !strings.ContainsRune(" \t\n\r\f/>", rune(page[k])) {
			k++
		}
		tg := tag{name: strings.ToLower(page[i:k])}
		i = k
		for i < len(page) && page[i] != '>' {
			if strings.ContainsRune(" \t\n\r\f/", rune(page[i])) {
				i++
				continue
			}
			k = i
			for k < len(page) && !strings.ContainsRune(" \t\n\r\f/>=", rune(page[k])) {
				k++
			}
			name := strings.ToLower(page[i:k])
			i = k
			for i < len(page) && strings.ContainsRune(" \t\n\r\f", rune(page[i])) {
				i++
			}
			val := ""
			if i < len(page) && page[i] == '=' {
				i++
				for i < len(page) && strings.ContainsRune(" \t\n\r\f", rune(page[i])) {
					i++
				}
				if i < len(page) && (page[i] == '"' || page[i] == '\'') {
					q := page[i]
					e := strings.IndexByte(page[i+1:], q)
					if e < 0 {
						e = len(page) - i - 1
					}
					val = page[i+1 : i+1+e]
					i += e + 2
				} else {
					k = i
					for k < len(page) && !strings.ContainsRune(" \t\n\r\f>", rune(page[k])) {
						k++
					}
					val, i = page[i:k], k
				}
			}
			tg.attrs = append(tg.attrs, [2]string{name, val})
		}
		i = min(i+1, len(page))
		if tg.name == "style" || tg.name == "script" || tg.name == "title" || tg.name == "textarea" {
			end := endTag(page[i:], tg.name)
			tg.body = page[i : i+end]
			i += end
		}
		tags = append(tags, tg)
	}
}

// endTag is the offset of the first "</name" in s, any case; len(s) when
// there is none.
func endTag(s, name string) int {
	for i := 0; ; {
		j := strings.Index(s[i:], "</")
		if j < 0 {
			return len(s)
		}
		i += j
		if len(s)-i-2 >= len(name) && strings.EqualFold(s[i+2:i+2+len(name)], name) {
			return i
		}
		i += 2
	}
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func TestRenderHTMLRungCap(t *testing.T) {
	d := analyze.Dialog{CallID: "long@example", Method: "INVITE", FinalStatus: 487, FinalReason: "Request Terminated", FinalBy: "pbx"}
	for i := range 700 {
		src, dst := epExt, epPBX
		if i%2 == 1 {
			src, dst = dst, src
		}
		d.Messages = append(d.Messages, req(i+1, i*10, src, dst, "INFO", false, false))
	}
	page := render(t, &analyze.Report{Calls: []analyze.Dialog{d}})
	svgs := ladders(page)
	if len(svgs) != 1 {
		t.Fatalf("%d ladders", len(svgs))
	}
	if n := strings.Count(svgs[0], `class="arrow"`); n != maxRungs {
		t.Errorf("%d arrows, want %d", n, maxRungs)
	}
	if !strings.Contains(page, "200 more messages of this dialog are not drawn") {
		t.Error("no note on the messages cut")
	}
	h := regexp.MustCompile(`height="(\d+)"`).FindStringSubmatch(svgs[0])
	if n, _ := strconv.Atoi(h[1]); n < maxRungs*ladderRow {
		t.Errorf("svg height %d too small for %d rungs", n, maxRungs)
	}
}

// With many calls only the failed ones and those with findings get a
// ladder; a finding about a registration draws that registration.
func TestRenderHTMLLadderSelection(t *testing.T) {
	r := &analyze.Report{}
	for i := range 30 {
		d := analyze.Dialog{CallID: fmt.Sprintf("call-%02d@x", i), Method: "INVITE", FinalStatus: 200, Answered: true,
			Messages: []analyze.Message{req(i*2+1, i*100, epExt, epPBX, "INVITE", true, false), resp(i*2+2, i*100+5, epPBX, epExt, 200, "OK", true)}}
		if i == 7 {
			d.FinalStatus, d.Answered = 480, false
		}
		r.Calls = append(r.Calls, d)
	}
	r.Registrations = []analyze.Dialog{{CallID: "reg@x", Method: "REGISTER", FinalStatus: 403, Messages: []analyze.Message{
		req(100, 0, epExt, epPBX, "REGISTER", false, false), resp(101, 1, epPBX, epExt, 403, "Forbidden", false)}}}
	r.Findings = []analyze.Finding{
		{Severity: analyze.Warning, Code: "x", Title: "about call 12", CallID: "call-12@x"},
		{Severity: analyze.Critical, Code: "y", Title: "about the registration", CallID: "reg@x"},
	}
	page := render(t, r)
	if n := len(ladders(page)); n != 3 {
		t.Errorf("%d ladders, want 3 (failed call, call with finding, registration with finding)", n)
	}
	for _, id := range []string{"call-07@x", "call-12@x", "reg@x"} {
		if !strings.Contains(page, `<code title="`+id+`">`+id+`</code></h3>`) {
			t.Errorf("no ladder for %s", id)
		}
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Host statements that were not checked say so and why, never "all
// running" or "none listed".
func TestRenderHostNotChecked(t *testing.T) {
	r := &analyze.Report{Host: &analyze.HostState{Checks: []analyze.HostCheck{
		{Name: "gateway", State: analyze.CheckFine, Detail: "the REST API gateway answers"},
		{Name: "containers", State: analyze.CheckNotChecked, Detail: "not applicable on this host: Docker is not installed"},
		{Name: "disks", State: analyze.CheckFine, Detail: "2 filesystems"},
		{Name: "blocked_ips", State: analyze.CheckNotChecked, Detail: "the bundle holds no system/blocked_ips.json"},
	}}}
	page := render(t, r)
	for _, bad := range []string{"All PortSIP containers running", "None listed"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page says %q although it was not checked", bad)
		}
	}
	for _, s := range []string{"Not checked: not applicable on this host: Docker is not installed.",
		"Not checked: the bundle holds no system/blocked_ips.json.", "Checked: the REST API gateway answers"} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
}

// An ICMP error is a rung of its call's ladder, and the call shows as
// failed with it.
func TestRenderICMPRung(t *testing.T) {
	pbx := analyze.Endpoint{IP: "203.0.113.10", Port: 5060, Role: "pbx"}
	trunk := analyze.Endpoint{IP: "192.0.2.30", Port: 5060, Role: "trunk"}
	r := &analyze.Report{Calls: []analyze.Dialog{{CallID: "icmp1", Method: "INVITE", ICMPError: "ICMP port unreachable",
		Messages: []analyze.Message{
			{Frame: 1, Time: at(0), Src: pbx, Dst: trunk, Method: "INVITE", CSeq: "1 INVITE"},
			{Frame: 2, Time: at(1), Src: trunk, Dst: pbx, ICMP: "ICMP port unreachable", CSeq: "1 INVITE"},
		}}}}
	page := render(t, r)
	ls := ladders(page)
	if len(ls) != 1 || !strings.Contains(ls[0], "ICMP port unreachable") || strings.Count(ls[0], `class="arrow"`) != 2 {
		t.Fatalf("ladder:\n%s", ls)
	}
}
