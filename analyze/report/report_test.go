package report

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/analyze"
)

// Reports at the edges: each renders without error or panic into a
// complete page that runs and loads nothing.
func TestRenderHTMLEdgeCases(t *testing.T) {
	huge := strings.Repeat("x", 1<<20) + "@" + strings.Repeat("<b>", 1000)
	cases := map[string]*analyze.Report{
		"empty":    {},
		"no calls": {Registrations: []analyze.Dialog{{CallID: "r@x", Method: "REGISTER"}}, Findings: []analyze.Finding{{Severity: analyze.Info, Title: "nothing"}}},
		"zero messages": {Calls: []analyze.Dialog{{CallID: "c@x", Method: "INVITE", FinalStatus: 486, Streams: []int{-1, 0, 99}}},
			Findings: []analyze.Finding{{Severity: analyze.Critical, Title: "busy", CallID: "c@x"}}},
		"huge ids": {Calls: []analyze.Dialog{{CallID: huge, From: huge, To: huge, FinalReason: huge, UserAgents: []string{huge},
			Messages: []analyze.Message{{Method: huge, Src: analyze.Endpoint{IP: huge, Port: 1}, Dst: analyze.Endpoint{IP: "::1", Port: 5060}}}}},
			Findings: []analyze.Finding{{Severity: "bogus", Title: huge, Detail: huge, CallID: huge, Remedy: []string{huge}}}},
		"zero endpoints and times": {Calls: []analyze.Dialog{{Messages: []analyze.Message{{}, {Status: 200}, {Method: "BYE", Retransmission: true}}}}},
		"self and ipv6": {Calls: []analyze.Dialog{{CallID: "s@x", Messages: []analyze.Message{
			{Frame: 1, Method: "INVITE", Src: analyze.Endpoint{IP: "2001:db8::1", Port: 5060}, Dst: analyze.Endpoint{IP: "2001:db8::1", Port: 5060}},
			{Frame: 2, Status: 100, Src: analyze.Endpoint{IP: "2001:db8::1", Port: 5060}, Dst: analyze.Endpoint{IP: "2001:db8::2", Port: 5062, Role: "trunk"}},
		}}}},
		"odd numbers": {
			Capture: analyze.CaptureInfo{Packets: -1, Bytes: math.MaxInt64, Start: time.Unix(100, 0), End: time.Unix(50, 0)},
			Streams: []analyze.RTPStream{{LossPercent: math.NaN(), JitterMs: math.Inf(1), Packets: math.MinInt64, PayloadType: -5}},
			Host:    &analyze.HostState{Disks: []analyze.DiskUse{{UsedPercent: math.NaN()}, {UsedPercent: 250, Free: -1}}},
		},
		"invalid utf-8": {Source: "\xff\xfe", Calls: []analyze.Dialog{{CallID: "\xc3\x28" + strings.Repeat("é", 40), From: "\x00\x01\x1b[31m",
			Messages: []analyze.Message{{Method: "\xff", Reason: "\xed\xa0\x80"}}}}},
		"empty host": {Host: &analyze.HostState{}},
		"many findings": func() *analyze.Report {
			r := &analyze.Report{}
			for i := range 2000 {
				r.Findings = append(r.Findings, analyze.Finding{Severity: []analyze.Severity{analyze.Info, analyze.Warning, analyze.Critical}[i%3], Title: fmt.Sprint(i),
					Frames: make([]int, 100), Lines: make([]analyze.LogLine, 30)})
			}
			return r
		}(),
		"rich": richReport(),
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			page := render(t, r)
			assertInert(t, page)
		})
	}
	if err := RenderHTML(&bytes.Buffer{}, nil); err == nil {
		t.Error("nil report: no error")
	}
}

// Random reports built from hostile strings, with a fixed seed so that a
// failure can be replayed.
func TestRenderHTMLRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		r := randomReport(rng)
		var b bytes.Buffer
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("report %d: panic %v", i, p)
				}
			}()
			if err := RenderHTML(&b, r); err != nil {
				t.Fatalf("report %d: %v", i, err)
			}
		}()
		assertInert(t, b.String())
		if t.Failed() {
			t.Fatalf("report %d", i)
		}
	}
}

// FuzzRenderHTML: whatever a peer writes into a header, the page stays
// inert and the text reaches the page.
func FuzzRenderHTML(f *testing.F) {
	for _, s := range []string{evilScript, evilSVG, "", "javascript:alert(1)", `</title><script>x</script>`,
		`]]><!--`, "\xff", `' onmouseover='x`, "</style><style>@import url(//x)</style>", "{{.}}"} {
		f.Add(s, s, 403)
	}
	f.Fuzz(func(t *testing.T, header, reason string, status int) {
		r := &analyze.Report{
			Source: header,
			Calls: []analyze.Dialog{{CallID: header, From: header, To: reason, FinalStatus: status, FinalReason: reason, UserAgents: []string{header},
				Messages: []analyze.Message{
					{Frame: 1, Method: header, Src: analyze.Endpoint{IP: header, Port: 5060, Role: header}, Dst: epPBX, HasSDP: true},
					{Frame: 2, Status: status, Reason: reason, Src: epPBX, Dst: analyze.Endpoint{IP: reason, Port: status}},
				},
				SDP: []analyze.SDP{{Addr: header, Codecs: []string{reason}, Direction: header}}}},
			Registrations: []analyze.Dialog{{CallID: reason, From: header, Messages: []analyze.Message{{Method: "REGISTER", Src: analyze.Endpoint{IP: header}}}}},
			Streams:       []analyze.RTPStream{{CallID: header, Src: analyze.Endpoint{IP: reason}}},
			Host:          &analyze.HostState{Containers: []string{header}, Gateway: reason, Blocked: []string{header}, LogErrors: []analyze.LogLine{{File: header, Text: reason}}},
			Findings:      []analyze.Finding{{Severity: analyze.Severity(header), Code: reason, Title: header, Detail: reason, CallID: header, Remedy: []string{header}}},
		}
		assertInert(t, render(t, r))
	})
}

// assertInert itself must catch what it looks for.
func TestAssertInertCatches(t *testing.T) {
	for _, bad := range []string{
		`<p>x</p><script>alert(1)</script></html>`,
		`<svg onload=alert(1)></svg></html>`,
		`<a href="https://example.com/">x</a></html>`,
		`<img src="//example.com/x.png"></html>`,
		`<style>@import "x.css";</style></html>`,
		`<div style="background:url(x.png)"></div></html>`,
		`<p>cut`,
	} {
		rec := &recorder{}
		assertInert(rec, bad)
		if !rec.failed {
			t.Errorf("assertInert passed %q", bad)
		}
	}
	rec := &recorder{}
	assertInert(rec, `<p title="see https://example.com">https://example.com &lt;script&gt;</p><a href="#ladder-1">x</a></html>`)
	if rec.failed {
		t.Error("assertInert failed an inert page")
	}
}

type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()                   {}
func (r *recorder) Error(...any)              { r.failed = true }
func (r *recorder) Errorf(string, ...any)     { r.failed = true }
func (r *recorder) Fatalf(s string, a ...any) { r.failed = true }

func randomReport(rng *rand.Rand) *analyze.Report {
	pieces := []string{"", "a", "<", ">", "&", `"`, "'", "<script>", "</svg>", "javascript:", "é", "\xff", "\n", " ", "on", "load=",
		"http://x/", "{{", "%s", strings.Repeat("z", 300)}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	ep := func() analyze.Endpoint {
		roles := []string{"pbx", "extension", "trunk", "peer", "", str()}
		return analyze.Endpoint{IP: []string{"10.0.0.1", "192.0.2.10", "203.0.113.5", "2001:db8::5", str()}[rng.IntN(5)],
			Port: rng.IntN(70000) - 10, Transport: str(), Role: roles[rng.IntN(len(roles))]}
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	when := func() time.Time {
		if rng.IntN(10) == 0 {
			return time.Time{}
		}
		return base.Add(time.Duration(rng.Int64N(int64(time.Hour))) - time.Minute)
	}
	dialog := func() analyze.Dialog {
		d := analyze.Dialog{CallID: str(), Method: str(), From: str(), To: str(), Direction: str(), FinalStatus: rng.IntN(700) - 5,
			FinalReason: str(), FinalBy: str(), Answered: rng.IntN(2) == 0, NoResponse: rng.IntN(4) == 0, Start: when(), End: when(),
			AnswerMs: rng.Int64N(10000) - 1, Retransmissions: rng.IntN(5)}
		for range rng.IntN(40) {
			m := analyze.Message{Frame: rng.IntN(1000), Time: when(), Src: ep(), Dst: ep(), CSeq: str(),
				Retransmission: rng.IntN(5) == 0, HasSDP: rng.IntN(3) == 0}
			if rng.IntN(2) == 0 {
				m.Method = str()
			} else {
				m.Status, m.Reason = rng.IntN(700), str()
			}
			d.Messages = append(d.Messages, m)
		}
		for range rng.IntN(3) {
			d.Streams = append(d.Streams, rng.IntN(6)-1)
		}
		if rng.IntN(3) == 0 {
			d.SDP = []analyze.SDP{{Frame: rng.IntN(100), From: ep(), Addr: str(), Port: rng.IntN(70000), Codecs: []string{str()}, Direction: str(), Private: rng.IntN(2) == 0}}
		}
		return d
	}
	r := &analyze.Report{Source: str(), Generated: when(), PBX: []string{str()},
		Capture: analyze.CaptureInfo{File: str(), Packets: rng.Int64(), SIP: rng.Int64N(100), Start: when(), End: when(), Interfaces: []string{str()}}}
	for range rng.IntN(30) {
		r.Calls = append(r.Calls, dialog())
	}
	for range rng.IntN(5) {
		r.Registrations = append(r.Registrations, dialog())
	}
	for range rng.IntN(3) {
		r.Others = append(r.Others, dialog())
	}
	for range rng.IntN(5) {
		r.Streams = append(r.Streams, analyze.RTPStream{SSRC: rng.Uint32(), Src: ep(), Dst: ep(), PayloadType: rng.IntN(130),
			Packets: rng.Int64N(1e6), LossPercent: rng.Float64() * 100, JitterMs: rng.Float64() * 200, Start: when(), End: when(),
			CallID: str(), Expected: rng.IntN(2) == 0})
	}
	for range rng.IntN(6) {
		f := analyze.Finding{Severity: []analyze.Severity{analyze.Critical, analyze.Warning, analyze.Info, analyze.Severity(str())}[rng.IntN(4)], Code: str(), Title: str(), Detail: str(),
			Frames: []int{rng.IntN(100)}, Lines: []analyze.LogLine{{File: str(), Line: rng.IntN(100), Text: str(), Time: when()}}, Remedy: []string{str()}}
		if len(r.Calls) > 0 && rng.IntN(2) == 0 {
			f.CallID = r.Calls[rng.IntN(len(r.Calls))].CallID
		}
		r.Findings = append(r.Findings, f)
	}
	if rng.IntN(2) == 0 {
		r.Host = &analyze.HostState{Disks: []analyze.DiskUse{{Mount: str(), UsedPercent: rng.Float64() * 120, Free: rng.Int64()}},
			Containers: []string{str()}, Gateway: str(), Blocked: []string{str()}, LogErrors: []analyze.LogLine{{File: str(), Text: str()}}}
	}
	return r
}
