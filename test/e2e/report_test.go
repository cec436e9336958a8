//go:build linux

package e2e

// report.html in a real browser: headless Chromium loads the rendered page
// from a file, as an administrator opening the archive would, and the test
// reads its console log, its DOM and a screenshot.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/analyze"
	"github.com/pbxagent/pbxagent/analyze/report"
)

// arrowRGB is the stroke of request arrows in the ladder (#1f6feb); the page
// uses it nowhere else but in one legend swatch.
var arrowRGB = [3]uint8{0x1f, 0x6f, 0xeb}

// consoleRE matches a console message in Chromium's --enable-logging
// output: `[pid:tid:time:INFO:CONSOLE:3] "message", source: ...`. Every
// level (log, warning, error, uncaught exception, CSP violation) is logged
// this way; the page has no script, so any console message is a fault.
var consoleRE = regexp.MustCompile(`:CONSOLE[:(\]]`)

func TestReportHTMLInChromium(t *testing.T) {
	have(t, "chromium")
	dir := t.TempDir()
	r := browserReport()
	page := filepath.Join(dir, "report.html")
	var buf bytes.Buffer
	if err := report.RenderHTML(&buf, r); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(page, buf.Bytes(), 0o644))

	// The canary is the same page with one remote image added: it must
	// show up in the console log, or the console check proves nothing.
	canary := filepath.Join(dir, "canary.html")
	must(t, os.WriteFile(canary, bytes.Replace(buf.Bytes(), []byte("</body>"),
		[]byte(`<img src="http://192.0.2.1/probe.png" alt=""></body>`), 1), 0o644))

	// The same page with the first message of the first ladder opened,
	// as a support engineer clicking it would.
	opened := filepath.Join(dir, "opened.html")
	must(t, os.WriteFile(opened, bytes.Replace(buf.Bytes(), []byte(`<details class="msg">`), []byte(`<details class="msg" open>`), 1), 0o644))
	openedShot := filepath.Join(dir, "opened.png")

	shot := filepath.Join(dir, "report.png")
	var (
		wg                    sync.WaitGroup
		shotLog, canaryLog    string
		dom                   string
		shotErr, canErr, dErr error
		openedLog, openedDOM  string
		oErr, odErr           error
	)
	wg.Add(5)
	go func() {
		defer wg.Done()
		_, openedLog, oErr = chromium(filepath.Join(dir, "p4"), "--screenshot="+openedShot, "--window-size=1280,2000", "file://"+opened)
	}()
	go func() {
		defer wg.Done()
		openedDOM, _, odErr = chromium(filepath.Join(dir, "p5"), "--dump-dom", "file://"+opened)
	}()
	go func() {
		defer wg.Done()
		_, shotLog, shotErr = chromium(filepath.Join(dir, "p1"), "--screenshot="+shot, "--window-size=1280,2000", "file://"+page)
	}()
	go func() {
		defer wg.Done()
		_, canaryLog, canErr = chromium(filepath.Join(dir, "p2"), "--screenshot="+filepath.Join(dir, "canary.png"), "--window-size=1280,2000", "file://"+canary)
	}()
	go func() {
		defer wg.Done()
		dom, _, dErr = chromium(filepath.Join(dir, "p3"), "--dump-dom", "file://"+page)
	}()
	wg.Wait()
	for _, err := range []error{shotErr, canErr, dErr, oErr, odErr} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if keep := os.Getenv("PBXAGENT_E2E_KEEP"); keep != "" {
		must(t, os.MkdirAll(keep, 0o755))
		for _, f := range []string{page, shot, openedShot} {
			b, err := os.ReadFile(f)
			must(t, err)
			must(t, os.WriteFile(filepath.Join(keep, filepath.Base(f)), b, 0o644))
		}
	}

	t.Run("console", func(t *testing.T) {
		if msgs := consoleLines(shotLog); len(msgs) > 0 {
			t.Errorf("console messages loading report.html:\n%s", strings.Join(msgs, "\n"))
		}
		msgs := consoleLines(canaryLog)
		if !strings.Contains(strings.Join(msgs, "\n"), "192.0.2.1/probe.png") {
			t.Errorf("the canary's remote image left no console message; the console check is blind. Log:\n%s", canaryLog)
		}
	})

	t.Run("dom", func(t *testing.T) {
		if !strings.Contains(dom, "</html>") {
			t.Fatalf("no DOM dumped:\n%.2000s", dom)
		}
		svgs := regexp.MustCompile(`(?s)<svg class="ladder".*?</svg>`).FindAllString(dom, -1)
		if len(svgs) != len(r.Calls) {
			t.Fatalf("%d ladder <svg> in the DOM, want %d", len(svgs), len(r.Calls))
		}
		for i, svg := range svgs {
			if n, want := strings.Count(svg, `class="arrow"`), len(r.Calls[i].Messages); n != want {
				t.Errorf("ladder %d: %d arrows in the DOM, want %d", i, n, want)
			}
		}
		// The hostile From header is text, not markup.
		if strings.Contains(dom, "<script") || regexp.MustCompile(`<svg[^>]*onload`).MatchString(dom) {
			t.Error("the injected From header became markup")
		}
		if !strings.Contains(dom, "&lt;script&gt;") {
			t.Error("the From header is not shown")
		}
	})

	t.Run("opened message", func(t *testing.T) {
		if msgs := consoleLines(openedLog); len(msgs) > 0 {
			t.Errorf("console messages:\n%s", strings.Join(msgs, "\n"))
		}
		// The opened <details> shows the message's full text, its markup
		// as text.
		m := regexp.MustCompile(`(?s)<details class="msg" open="">.*?</details>`).FindString(openedDOM)
		if !strings.Contains(m, "<pre>INVITE sip:+4930123456@pbx.example.com SIP/2.0") || !strings.Contains(m, "&lt;b&gt;not bold&lt;/b&gt;") {
			t.Fatalf("opened message in the DOM:\n%.1500s", m)
		}
		if !strings.Contains(m, "2026-03-14 09:26:53.000000 UTC") {
			t.Errorf("the message has no absolute time:\n%.600s", m)
		}
		// In the screenshot the text's box (background #fbf8ec, used only
		// by an opened message) appears, and only on the opened page.
		box := colourPixels(t, openedShot, [3]uint8{0xfb, 0xf8, 0xec})
		if box < 5000 {
			t.Errorf("%d pixels of the opened message's box, want > 5000", box)
		}
		if closed := colourPixels(t, shot, [3]uint8{0xfb, 0xf8, 0xec}); closed != 0 {
			t.Errorf("%d message-box pixels with every message closed, want 0", closed)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		f, err := os.Open(shot)
		must(t, err)
		defer f.Close()
		img, err := png.Decode(f)
		must(t, err)
		st := arrowPixels(img)
		t.Logf("screenshot %s: %d arrow-colour pixels in %v, %d rows with a run of ≥ 60 px", shot, st.pixels, st.box, st.longRows)
		// The first ladder has 6 solid request arrows, each over 100 px
		// long and 2 px thick, plus their heads.
		if st.pixels < 1000 {
			t.Errorf("%d pixels of the arrow colour, want > 1000: the ladder is not drawn", st.pixels)
		}
		if st.longRows < 8 {
			t.Errorf("%d pixel rows with a long arrow-colour run, want ≥ 8 (the first ladder has 6 solid request arrows, 2 px thick)", st.longRows)
		}
		if st.box.Dy() < 200 || st.box.Dx() < 150 {
			t.Errorf("arrow pixels span only %v: the ladder has no height", st.box)
		}
	})
}

type pixelStats struct {
	pixels, longRows int
	box              image.Rectangle
}

// arrowPixels counts pixels of exactly the arrow colour, their bounding box
// and the rows with a horizontal run of at least 60 of them.
func arrowPixels(img image.Image) pixelStats {
	var st pixelStats
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		run, best := 0, 0
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == arrowRGB[0] && uint8(g>>8) == arrowRGB[1] && uint8(bl>>8) == arrowRGB[2] {
				st.pixels++
				p := image.Rect(x, y, x+1, y+1)
				if st.box.Empty() {
					st.box = p
				} else {
					st.box = st.box.Union(p)
				}
				run++
				best = max(best, run)
			} else {
				run = 0
			}
		}
		if best >= 60 {
			st.longRows++
		}
	}
	return st
}

func consoleLines(log string) []string {
	var out []string
	for line := range strings.Lines(log) {
		if consoleRE.MatchString(line) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// chromium runs headless Chromium with a fresh profile and no background
// traffic; it returns stdout and stderr.
func chromium(profile string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--hide-scrollbars", "--force-color-profile=srgb",
		"--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, "chromium", append(base, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errb.String(), fmt.Errorf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), errb.String(), nil
}

// browserReport is a small analysis: a call the trunk refuses after the
// PBX challenged the extension, and an answered inbound call with media.
func browserReport() *analyze.Report {
	t0 := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ext := analyze.Endpoint{IP: "10.0.0.21", Port: 5060, Transport: "udp", Role: "extension"}
	pbx := analyze.Endpoint{IP: "192.0.2.10", Port: 5060, Transport: "udp", Role: "pbx"}
	trunk := analyze.Endpoint{IP: "203.0.113.5", Port: 5060, Transport: "udp", Role: "trunk"}
	text := func(start string) string {
		return start + "\r\nVia: SIP/2.0/UDP 10.0.0.21:5060;branch=z9hG4bK776asdhds\r\nCall-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n" +
			"CSeq: 1 INVITE\r\nUser-Agent: <b>not bold</b>\r\nContent-Length: 0\r\n\r\n"
	}
	rq := func(f, ms int, s, d analyze.Endpoint, m string, sdp, re bool) analyze.Message {
		return analyze.Message{Frame: f, Time: at(ms), Src: s, Dst: d, Method: m, CSeq: "1 " + m, HasSDP: sdp, Retransmission: re,
			Text: text(m + " sip:+4930123456@pbx.example.com SIP/2.0")}
	}
	rs := func(f, ms int, s, d analyze.Endpoint, st int, why string, sdp bool) analyze.Message {
		return analyze.Message{Frame: f, Time: at(ms), Src: s, Dst: d, Status: st, Reason: why, CSeq: "1 INVITE", HasSDP: sdp,
			Text: text(fmt.Sprintf("SIP/2.0 %d %s", st, why))}
	}
	failed := analyze.Dialog{
		CallID: "a84b4c76e66710@pc33.atlanta.example.com", Method: "INVITE",
		From: `"Alice <script>alert(1)</script>" <sip:1001@pbx.example.com>"><svg onload=alert(2)>`,
		To:   "<sip:+4930123456@pbx.example.com>", Direction: "PBX→trunk",
		FinalStatus: 403, FinalReason: "Forbidden", FinalBy: "trunk", Start: at(0), End: at(2400),
		FirstResponseMs: 12, AnswerMs: -1, Retransmissions: 1,
		Messages: []analyze.Message{
			rq(101, 0, ext, pbx, "INVITE", true, false),
			rs(102, 12, pbx, ext, 407, "Proxy Authentication Required", false),
			rq(103, 20, ext, pbx, "ACK", false, false),
			rq(104, 40, ext, pbx, "INVITE", true, false),
			rs(105, 45, pbx, ext, 100, "Trying", false),
			rq(106, 60, pbx, trunk, "INVITE", true, false),
			rq(110, 560, pbx, trunk, "INVITE", true, true),
			rs(111, 700, trunk, pbx, 100, "Trying", false),
			rs(115, 2300, trunk, pbx, 403, "Forbidden", false),
			rq(116, 2310, pbx, trunk, "ACK", false, false),
			rs(117, 2320, pbx, ext, 403, "Forbidden", false),
			rq(118, 2400, ext, pbx, "ACK", false, false),
		},
	}
	answered := analyze.Dialog{
		CallID: "3848276298220188511@203.0.113.5", Method: "INVITE",
		From: "<sip:+4930999@carrier.example>", To: "<sip:1002@pbx.example.com>", Direction: "trunk→PBX",
		FinalStatus: 200, FinalReason: "OK", FinalBy: "extension", Answered: true,
		Start: at(5000), End: at(65000), FirstResponseMs: 5, AnswerMs: 3210, Streams: []int{0, 1},
		Messages: []analyze.Message{
			rq(201, 5000, trunk, pbx, "INVITE", true, false),
			rs(202, 5005, pbx, trunk, 100, "Trying", false),
			rq(203, 5010, pbx, ext, "INVITE", true, false),
			rs(204, 5100, ext, pbx, 180, "Ringing", false),
			rs(206, 8200, ext, pbx, 200, "OK", true),
			rs(207, 8210, pbx, trunk, 200, "OK", true),
			rq(208, 8300, trunk, pbx, "ACK", false, false),
			rq(209, 8310, pbx, ext, "ACK", false, false),
			rq(990, 65000, trunk, pbx, "BYE", false, false),
			rs(991, 65010, pbx, trunk, 200, "OK", false),
		},
	}
	return &analyze.Report{
		Version: analyze.ModelVersion, Source: "bundle-pbx1-20260314.tar.gz", Generated: at(3_600_000),
		Capture: analyze.CaptureInfo{File: "capture/pbx.pcap", Packets: 4821, Bytes: 987_654, SIP: 22, RTP: 4750,
			ICMP: 1, TLS: 0, Malformed: 1, Start: at(0), End: at(66000)},
		PBX:   []string{"192.0.2.10"},
		Calls: []analyze.Dialog{failed, answered},
		Streams: []analyze.RTPStream{
			{SSRC: 0x1a2b3c4d, Src: analyze.Endpoint{IP: "203.0.113.5", Port: 30000, Role: "trunk"}, Dst: analyze.Endpoint{IP: "192.0.2.10", Port: 40000, Role: "pbx"},
				PayloadType: 8, Packets: 2850, Lost: 3, LossPercent: 0.1, JitterMs: 2.4, Start: at(8300), End: at(65000), CallID: answered.CallID, Expected: true},
			{SSRC: 0xdeadbeef, Src: analyze.Endpoint{IP: "192.0.2.10", Port: 40000, Role: "pbx"}, Dst: analyze.Endpoint{IP: "203.0.113.5", Port: 30000, Role: "trunk"},
				PayloadType: 8, Packets: 1900, Lost: 950, LossPercent: 33.3, JitterMs: 61, Start: at(8300), End: at(65000), CallID: answered.CallID, Expected: true},
		},
		Findings: []analyze.Finding{
			{Severity: analyze.Warning, Code: "one-way-audio", Title: "Heavy loss from the PBX to the trunk", CallID: answered.CallID,
				Frames: []int{206, 207}, Remedy: []string{"Whitelist the PBX's IP address at the trunk provider."}},
			{Severity: analyze.Critical, Code: "sip-403", Title: "Trunk refused the call: 403 Forbidden", CallID: failed.CallID,
				Detail: "The trunk answered 403 to the PBX's INVITE.", Frames: []int{106, 115, 117},
				Lines:  []analyze.LogLine{{File: "callmanager.log", Line: 8812, Text: "ERROR trunk rejected INVITE"}},
				Remedy: []string{"Contact your trunk support team.", "Check the trunk's maximum call limit."}},
		},
	}
}

// colourPixels counts the pixels of exactly one colour in a PNG.
func colourPixels(t *testing.T, file string, rgb [3]uint8) int {
	t.Helper()
	f, err := os.Open(file)
	must(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	must(t, err)
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == rgb[0] && uint8(g>>8) == rgb[1] && uint8(bl>>8) == rgb[2] {
				n++
			}
		}
	}
	return n
}
