//go:build linux

package e2e

// The call cases of TestAnalyzeThreeParties: what each one does between
// the phone, the PBX and the trunk, and what its reports must say.

import (
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/pbxagent/pbxagent/internal/pkttest"
	"github.com/pbxagent/pbxagent/internal/testutil/rtpdrop"
)

// threeEnv is the three parties and what their calls share.
type threeEnv struct {
	phone, pbx, trunk *netns
	dir, audio        string
}

// callCase is one scenario, run once while a bare capture (tcpdump) and a
// bundle (pbxagent bundle on the PBX) both record it; each must report
// exactly what happened.
type callCase struct {
	name string
	run  func(t *testing.T, e *threeEnv)
	// bare are the findings on the capture alone, without --pbx-ip;
	// bundled the call findings in the bundle, where the host's own
	// addresses are the PBX.
	bare, bundled []string
	// placed says how the bare capture places the PBX: by "relay" (it
	// receives INVITEs and sends them on), by a "portsip" header, or
	// "none" (explicitly unplaced).
	placed string
	// check makes the case's own checks on either analysis; capture is
	// the file analysed.
	check func(t *testing.T, a *analysis, capture string, bundled bool)
}

// relayRefusal: the phone calls the PBX, the PBX calls the trunk, the
// trunk answers code, the PBX passes it back.
func relayRefusal(code, reason, number string) func(t *testing.T, e *threeEnv) {
	return func(t *testing.T, e *threeEnv) {
		pbxIn := startServer(t, e.pbx, e.dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, e.dir, "uas_code.xml",
			append(append([]string{"@CODE@", code, "@REASON@", reason}, noPortSIP(pbxUA)...), pauseBeforeFinal(1500)...)...),
			"-i", pbxIP, "-p", "5060", "-nostdin", "-m", "1")
		trk := startServer(t, e.trunk, e.dir, "sipp", trunkIP, 5060, 0, "-sf", scenario(t, e.dir, "uas_code.xml",
			append([]string{"@CODE@", code, "@REASON@", reason}, noPortSIP(carrier)...)...),
			"-i", trunkIP, "-p", "5060", "-nostdin", "-m", "1")
		wait := bgSipp(t, e.phone, e.dir, "-sf", scenario(t, e.dir, "uac_code.xml", "@CODE@", code, "@UA@", phoneUA, "Max-Forwards: 70", phoneAuth),
			"-s", number, pbxIP+":5060", "-i", phoneIP, "-p", "5062", "-timeout", "10s")
		time.Sleep(300 * time.Millisecond) // sequencing only: the phone's INVITE first
		runSipp(t, e.pbx, e.dir, "-sf", scenario(t, e.dir, "uac_code.xml", "@CODE@", code, "@UA@", pbxUA), "-s", number,
			trunkIP+":5060", "-i", pbxIP, "-p", "5061", "-timeout", "10s")
		wait()
		stopServer(t, trk)
		stopServer(t, pbxIn)
	}
}

// relayed checks the two legs of a relayed refusal and that the finding
// blames the trunk, not the PBX.
func relayed(code string, status int) func(t *testing.T, a *analysis, _ string, _ bool) {
	return func(t *testing.T, a *analysis, _ string, _ bool) {
		t.Helper()
		says(t, a, code, "from the trunk (PBX→trunk)", "The error came from the trunk", "passed it back to the caller")
		if strings.Contains(a.text(code), "The PBX itself") {
			t.Errorf("%s blames the PBX for the trunk's refusal:\n%s", code, a.text(code))
		}
		legs(t, a, status, [2]string{"extension→PBX", "pbx"}, [2]string{"PBX→trunk", "trunk"})
	}
}

// legs checks the calls' directions and who sent their final status.
func legs(t *testing.T, a *analysis, status int, want ...[2]string) {
	t.Helper()
	if len(a.Calls) != len(want) {
		t.Fatalf("calls %+v, want %d", a.Calls, len(want))
	}
	for i, c := range a.Calls {
		if c.Direction != want[i][0] || c.FinalBy != want[i][1] || c.FinalStatus != status || c.Answered != (status == 200) {
			t.Errorf("call %d %+v, want %v and final status %d", i, c, want[i], status)
		}
	}
}

func noPortSIP(ua string) []string { return []string{portsipS, "Server: " + ua} }

// phoneCall: the phone calls the PBX with uac's audio on phone media port
// mp; the PBX answers with pbxArgs (echo or its own audio) on mp+1000.
func phoneCall(t *testing.T, e *threeEnv, uac string, mp int, uas string, pbxArgs ...string) {
	t.Helper()
	srv := startServer(t, e.pbx, e.dir, "sipp", pbxIP, 5060, 0, append([]string{"-sf", uas, "-i", pbxIP, "-p", "5060",
		"-mi", pbxIP, "-mp", strconv.Itoa(mp + 1000), "-nostdin", "-m", "1"}, pbxArgs...)...)
	runSipp(t, e.phone, e.dir, "-sf", uac, pbxIP+":5060", "-i", phoneIP, "-p", "5062",
		"-mi", phoneIP, "-mp", strconv.Itoa(mp), "-timeout", "20s", "-recv_timeout", "20s")
	stopServer(t, srv)
}

// phoneUAC is the phone's calling scenario: audio played from a capture,
// the call kept up for pause ms, the phone's User-Agent.
func phoneUAC(t *testing.T, e *threeEnv, audio string, pause int, repl ...string) string {
	return rtpScenario(t, e.dir, audio, pause, append(repl, "Max-Forwards: 70", "Max-Forwards: 70\n      User-Agent: "+phoneUA)...)
}

// uasPBX is the PBX's answering scenario without a PortSIP header.
func uasPBX(t *testing.T, e *threeEnv, repl ...string) string {
	return scenario(t, e.dir, "uas_portsip.xml", append(noPortSIP(pbxUA), repl...)...)
}

// wideband makes a scenario's SDP offer L16 at 16 kHz on dynamic payload
// type 96 instead of G.711 A-law.
var wideband = []string{"RTP/AVP 8", "RTP/AVP 96", "a=rtpmap:8 PCMA/8000", "a=rtpmap:96 L16/16000"}

func threeCases() []callCase {
	var cases []callCase
	for _, r := range []struct{ code, reason, number, finding string }{
		{"403", "Forbidden", "00441234567", "sip-403"},
		{"404", "Not Found", "00441234500", "sip-404"},
		{"486", "Busy Here", "00441234501", "callee-busy"},
		{"488", "Not Acceptable Here", "00441234569", "sip-488"},
		{"503", "Service Unavailable", "00441234568", "sip-503"},
	} {
		cases = append(cases, refusalCase(r.code, r.reason, r.number, r.finding))
	}
	return append(cases, cancelCase(), authCase(401), authCase(407), oneWayCase(), holdCase(), holdAtOnceCase(),
		lossCase(), widebandCase(), outsideRangesCase(), noAnswerCase(), portsipUACase())
}

// refusalCase: the trunk refuses with code, the PBX passes it back.
func refusalCase(code, reason, number, finding string) callCase {
	status, _ := strconv.Atoi(code)
	c := callCase{name: code, run: relayRefusal(code, reason, number), bare: []string{finding}, bundled: []string{finding},
		placed: "relay", check: relayed(finding, status)}
	if finding == "callee-busy" {
		c.check = func(t *testing.T, a *analysis, _ string, _ bool) {
			// Busy is the callee's answer, no fault: an information only.
			says(t, a, "callee-busy", "info", "busy", "not a fault of the PBX or the trunk")
			legs(t, a, 486, [2]string{"extension→PBX", "pbx"}, [2]string{"PBX→trunk", "trunk"})
		}
	}
	return c
}

// authCase: the PBX challenges with code, then answers.
func authCase(code int) callCase {
	return callCase{name: strconv.Itoa(code) + "-then-200", placed: "none", run: authCall(code), check: answeredOnce}
}

// cancelCase: the phone hangs up while both legs ring.
func cancelCase() callCase {
	return callCase{name: "cancel", placed: "relay", run: relayCancel, check: func(t *testing.T, a *analysis, _ string, _ bool) {
		// 487 after CANCEL is nobody's fault.
		legs(t, a, 487, [2]string{"extension→PBX", "pbx"}, [2]string{"PBX→trunk", "trunk"})
	}}
}

// oneWayCase: the PBX answers the trunk and sends no audio.
func oneWayCase() callCase {
	return callCase{name: "one-way-audio", placed: "none", bare: []string{"one-way-audio"}, bundled: []string{"one-way-audio", "private-sdp"},
		run: func(t *testing.T, e *threeEnv) {
			// The trunk calls the PBX and sends audio; the PBX
			// answers with SDP and sends none.
			uas := startServer(t, e.pbx, e.dir, "sipp", pbxIP, 5060, 0, "-sf", uasPBX(t, e),
				"-i", pbxIP, "-p", "5060", "-mi", pbxIP, "-mp", "47000", "-nostdin", "-m", "1")
			runSipp(t, e.trunk, e.dir, "-sf", rtpScenario(t, e.dir, e.audio, 1500), pbxIP+":5060", "-i", trunkIP, "-p", "5070",
				"-mi", trunkIP, "-mp", "46000", "-timeout", "15s")
			stopServer(t, uas)
		},
		check: func(t *testing.T, a *analysis, _ string, bundled bool) {
			if !bundled {
				says(t, a, "one-way-audio", "critical", "203.0.113.2 receives no audio from 10.0.0.1", "(203.0.113.2:46000)")
			} else {
				says(t, a, "one-way-audio", "critical", "the trunk receives no audio from the PBX")
				says(t, a, "private-sdp", "10.0.0.1", "203.0.113.2")
			}
			if txt := a.text("one-way-audio"); strings.Contains(txt, "far end") {
				t.Errorf("one-way-audio speaks of a far end:\n%s", txt)
			}
		}}
}

// holdCase: talk, music on hold, inactive.
func holdCase() callCase {
	return callCase{name: "hold", placed: "none", run: holdCall(true, 46010), check: func(t *testing.T, a *analysis, capture string, bundled bool) {
		// Talk both ways, then music on hold from the phone only
		// (a=sendonly / a=recvonly), then a=inactive: no finding,
		// three streams, each as tshark measures it.
		answeredOnce(t, a, capture, bundled)
		if len(a.Streams) != 3 || len(sameStreams(t, a, capture)) != 3 {
			t.Errorf("streams %+v, want talk both ways and the music on hold", a.Streams)
		}
	}}
}

// holdAtOnceCase: on hold from the answer.
func holdAtOnceCase() callCase {
	return callCase{name: "hold-at-once", placed: "none", run: holdCall(false, 46050), check: func(t *testing.T, a *analysis, capture string, bundled bool) {
		// On hold right after the answer: the PBX never sends, as
		// its a=recvonly says; that is not one-way audio.
		answeredOnce(t, a, capture, bundled)
		if len(a.Streams) != 1 || len(sameStreams(t, a, capture)) != 1 || a.Streams[0].Src.Port != 46050 {
			t.Errorf("streams %+v, want the music on hold only", a.Streams)
		}
	}}
}

// lossCase: 5% loss made by the network.
func lossCase() callCase {
	var lossDropped, lossSeen uint64
	return callCase{name: "loss", placed: "none", bare: []string{"rtp-loss"}, bundled: []string{"rtp-loss"},
		run: func(t *testing.T, e *threeEnv) {
			// Real network loss: an eBPF program at the phone's port
			// of the bridge drops every RTP packet to the PBX whose
			// sequence number is a multiple of 20 (sequence numbers
			// 10-109: 5 of 100, all inside the stream).
			d, err := rtpdrop.AttachIn(e.pbx.name, "bph", 47020, 20)
			must(t, err)
			talk := rtpPcap(t, e.dir, "loss-phone.pcap", 8, 0x1111a0a0, 10, 100, 8000, 160, onTime)
			back := rtpPcap(t, e.dir, "loss-pbx.pcap", 8, 0x2222b0b0, 10, 100, 8000, 160, onTime)
			phoneCall(t, e, phoneUAC(t, e, talk, 2500), 46020, uasPBX(t, e, playAfterACK(back)...))
			lossSeen, lossDropped, err = d.Counts()
			must(t, err)
			t.Logf("the program (attached by %s) saw %d RTP packets and dropped %d", d.Mode, lossSeen, lossDropped)
			must(t, d.Close())
		},
		check: func(t *testing.T, a *analysis, capture string, bundled bool) {
			answeredOnce(t, a, capture, bundled)
			says(t, a, "rtp-loss", "10.0.0.20:46020→10.0.0.1:47020")
			matched := sameStreams(t, a, capture)
			lost := map[string]int64{}
			for _, s := range a.Streams {
				lost[s.Src.String()+">"+s.Dst.String()] = s.Lost
			}
			if lossSeen != 100 || lossDropped != 5 || len(matched) != 2 ||
				lost["10.0.0.20:46020>10.0.0.1:47020"] != 5 || lost["10.0.0.1:47020>10.0.0.20:46020"] != 0 {
				t.Errorf("the program saw %d RTP packets and dropped %d; lost per stream %v; want 100, 5, phone→PBX 5, PBX→phone 0",
					lossSeen, lossDropped, lost)
			}
		}}
}

// widebandCase: L16 at 16 kHz on a dynamic payload type.
func widebandCase() callCase {
	return callCase{name: "wideband-16k", placed: "none", run: func(t *testing.T, e *threeEnv) {
		// L16 at 16 kHz on payload type 96, every other packet 6 ms
		// late: jitter is only right with the SDP's clock rate.
		late := func(i int) time.Duration { return time.Duration(i%2) * 6 * time.Millisecond }
		talk := rtpPcap(t, e.dir, "l16.pcap", 96, 0x3333c0c0, 500, 100, 16000, 640, late)
		phoneCall(t, e, phoneUAC(t, e, talk, 2500, wideband...), 46030, uasPBX(t, e, wideband...), "-rtp_echo")
	}, check: func(t *testing.T, a *analysis, capture string, bundled bool) {
		answeredOnce(t, a, capture, bundled)
		matched := sameStreams(t, a, capture)
		if len(a.Streams) != 2 || len(matched) != 2 {
			t.Errorf("streams %+v: want the phone's and the echo, as tshark lists them", a.Streams)
		}
		for _, s := range a.Streams {
			if !strings.Contains(s.Codec, "L16") {
				t.Errorf("stream %s→%s codec %q, want L16 from the a=rtpmap", s.Src, s.Dst, s.Codec)
			}
			// The same packets read at 16 kHz and, wrongly, at 8 kHz
			// (each 20 ms packet would look 20 ms late).
			wide := rfc3550Jitter(t, capture, s.Src.String(), s.Dst.String(), 16000)
			narrow := rfc3550Jitter(t, capture, s.Src.String(), s.Dst.String(), 8000)
			t.Logf("stream %s→%s: max jitter %.3f ms; at 16 kHz %.3f ms, at 8 kHz %.3f ms", s.Src, s.Dst, s.JitterMs, wide, narrow)
			if math.Abs(s.JitterMs-wide) > 0.5 || math.Abs(s.JitterMs-narrow) < 5 {
				t.Errorf("stream %s→%s max jitter %.3f ms, want %.3f ms (16 kHz), not %.3f ms (8 kHz)", s.Src, s.Dst, s.JitterMs, wide, narrow)
			}
		}
	}}
}

// outsideRangesCase: audio on ports outside every RTP range.
func outsideRangesCase() callCase {
	return callCase{name: "media-outside-ranges", placed: "none", bundled: []string{"media-not-captured"}, run: func(t *testing.T, e *threeEnv) {
		phoneCall(t, e, phoneUAC(t, e, e.audio, 1500), 12000, uasPBX(t, e), "-rtp_echo")
	}, check: func(t *testing.T, a *analysis, capture string, bundled bool) {
		answeredOnce(t, a, capture, bundled)
		if bundled {
			// The bundle's default filter keeps SIP and the RTP
			// ranges: the audio was not captured, and the report
			// says it was not checked rather than "no audio".
			says(t, a, "media-not-captured", "info", "10.0.0.20:12000, 10.0.0.1:13000", "--all")
			if len(a.Streams) != 0 {
				t.Errorf("streams %+v in a capture whose filter left them out", a.Streams)
			}
			return
		}
		found := 0
		for _, s := range a.Streams {
			if s.Expected && s.Packets > 0 && (s.Src.Port == 12000 || s.Src.Port == 13000) {
				found++
			}
		}
		if found != 2 {
			t.Errorf("streams %+v: want both directions on 12000/13000 found from the SDP", a.Streams)
		}
	}}
}

// noAnswerCase: a trunk that never answers the PBX.
func noAnswerCase() callCase {
	return callCase{name: "trunk-never-answers", placed: "portsip", bare: []string{"no-response"}, bundled: []string{"no-response"},
		run: func(t *testing.T, e *threeEnv) {
			// The PBX (User-Agent PortSIP) calls a trunk whose socket
			// takes every datagram and answers nothing.
			sink := e.trunk.listenUDP(t, trunkIP+":5080")
			runSipp(t, e.pbx, e.dir, "-sf", scenario(t, e.dir, "uac_code.xml", "@CODE@", "200", "@UA@", "PortSIP PBX 22.3.1"), "-s", "0612345678",
				trunkIP+":5080", "-i", pbxIP, "-p", "5061", "-max_invite_retrans", "2")
			sink.await(t, 3)
		},
		check: func(t *testing.T, a *analysis, _ string, _ bool) {
			says(t, a, "no-response", "critical", "No response from the trunk 203.0.113.2:5080", "PortSIP PBX 22.3.1")
			if len(a.Calls) != 1 || !a.Calls[0].NoResponse || a.Calls[0].Retransmissions < 2 || a.Calls[0].Direction != "PBX→trunk" {
				t.Errorf("calls %+v", a.Calls)
			}
		}}
}

// portsipUACase: the PBX, User-Agent PortSIP, calls the phone.
func portsipUACase() callCase {
	return callCase{name: "portsip-user-agent", placed: "portsip", run: func(t *testing.T, e *threeEnv) {
		// The PBX (User-Agent PortSIP) calls the phone, which
		// answers and echoes the audio.
		uas := startServer(t, e.phone, e.dir, "sipp", phoneIP, 5060, 0, "-sf", scenario(t, e.dir, "uas_portsip.xml", noPortSIP(phoneUA)...),
			"-i", phoneIP, "-p", "5060", "-mi", phoneIP, "-mp", "46040", "-rtp_echo", "-nostdin", "-m", "1")
		runSipp(t, e.pbx, e.dir, "-sf", rtpScenario(t, e.dir, e.audio, 1500, "Max-Forwards: 70", "Max-Forwards: 70\n      User-Agent: PortSIP PBX 22.3.1"),
			phoneIP+":5060", "-i", pbxIP, "-p", "5061", "-mi", pbxIP, "-mp", "47040", "-timeout", "15s")
		stopServer(t, uas)
	}, check: func(t *testing.T, a *analysis, capture string, bundled bool) {
		// The phone never registered in the capture: its Server
		// header makes it an extension (in the bundle, so do its
		// earlier calls with credentials).
		rule := "10.0.0.20 extension: exchanges calls with the PBX as a phone (User-Agent Yealink SIP-T46U)"
		if bundled {
			rule = "10.0.0.20 extension: authenticates to the PBX"
		}
		if len(a.Calls) != 1 || !a.Calls[0].Answered || a.Calls[0].Direction != "PBX→extension" || a.Calls[0].RoleRule != rule {
			t.Errorf("calls %+v, want one answered PBX→extension call, rule %q", a.Calls, rule)
		}
		if len(a.Streams) != 2 || len(sameStreams(t, a, capture)) != 2 {
			t.Errorf("streams %+v, want both directions", a.Streams)
		}
	}}
}

// playAfterACK makes uas_portsip.xml play audio once the call is set up.
func playAfterACK(audio string) []string {
	ack := `<recv request="ACK" optional="true" rtd="true" crlf="true"/>`
	return []string{ack, `<recv request="ACK" rtd="true" crlf="true"/>` + "\n  <nop><action><exec play_pcap_audio=\"" + audio + "\"/></action></nop>"}
}

// answeredOnce checks a single answered phone→PBX call: its direction is
// unknown where the PBX could not be placed.
func answeredOnce(t *testing.T, a *analysis, _ string, bundled bool) {
	t.Helper()
	want := "unknown"
	if bundled {
		want = "extension→PBX"
	}
	if len(a.Calls) != 1 || !a.Calls[0].Answered || a.Calls[0].FinalStatus != 200 || a.Calls[0].Direction != want {
		t.Errorf("calls %+v, want one answered call, direction %s", a.Calls, want)
	}
}

// relayCancel: the phone hangs up while both legs ring. The pause added
// to the phone's scenario shifts its messages by one, so the CANCEL and
// ACK still take the INVITE's branch.
func relayCancel(t *testing.T, e *threeEnv) {
	pbxIn := startServer(t, e.pbx, e.dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, e.dir, "uas_cancel.xml", noPortSIP(pbxUA)...),
		"-i", pbxIP, "-p", "5060", "-nostdin", "-m", "1")
	trk := startServer(t, e.trunk, e.dir, "sipp", trunkIP, 5060, 0, "-sf", scenario(t, e.dir, "uas_cancel.xml", noPortSIP(carrier)...),
		"-i", trunkIP, "-p", "5060", "-nostdin", "-m", "1")
	wait := bgSipp(t, e.phone, e.dir, "-sf", scenario(t, e.dir, "uac_cancel.xml", "User-Agent: Carrier SBC 4.2", "User-Agent: "+phoneUA,
		"Max-Forwards: 70", phoneAuth, "[branch-3]", "[branch-4]", "[branch-6]", "[branch-7]", `<recv response="180"/>`, `<recv response="180"/>`+"\n  <pause milliseconds=\"1500\"/>"),
		"-s", "0612345678", pbxIP+":5060", "-i", phoneIP, "-p", "5062", "-timeout", "10s")
	time.Sleep(300 * time.Millisecond) // sequencing only: the phone's INVITE first
	runSipp(t, e.pbx, e.dir, "-sf", scenario(t, e.dir, "uac_cancel.xml", "User-Agent: Carrier SBC 4.2", "User-Agent: "+pbxUA),
		"-s", "0612345678", trunkIP+":5060", "-i", pbxIP, "-p", "5061", "-timeout", "10s")
	wait()
	stopServer(t, trk)
	stopServer(t, pbxIn)
}

// authCall: the PBX challenges the phone's INVITE with code (401 or 407)
// and answers the retry with credentials.
func authCall(code int) func(t *testing.T, e *threeEnv) {
	var uas, uac []string
	if code == 401 {
		uas = []string{"407 Proxy Authentication Required", "401 Unauthorized", "Proxy-Authenticate", "WWW-Authenticate"}
		uac = []string{`response="407"`, `response="401"`}
	}
	return func(t *testing.T, e *threeEnv) {
		srv := startServer(t, e.pbx, e.dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, e.dir, "uas_auth.xml", uas...),
			"-i", pbxIP, "-p", "5060", "-nostdin", "-m", "1")
		runSipp(t, e.phone, e.dir, "-sf", scenario(t, e.dir, "uac_auth.xml", uac...), "-s", "1002", pbxIP+":5060",
			"-i", phoneIP, "-p", "5062", "-timeout", "10s")
		stopServer(t, srv)
	}
}

// holdCall: the phone talks (unless it holds at once), puts the PBX on
// hold with music, then inactive, then hangs up; mp is its media port.
func holdCall(talk bool, mp int) func(t *testing.T, e *threeEnv) {
	play := "  <nop>\n    <action>\n      <exec play_pcap_audio=\"@TALK@\"/>\n    </action>\n  </nop>\n"
	var uacCut, uasCut []string
	if !talk {
		uacCut = []string{play + "  <pause milliseconds=\"@PAUSE1@\"/>\n", ""}
		uasCut = []string{play, ""}
	}
	return func(t *testing.T, e *threeEnv) {
		id := strconv.Itoa(mp)
		talk := rtpPcap(t, e.dir, "hold-phone-"+id+".pcap", 8, 0x4444d0d0, 100, 50, 8000, 160, onTime)
		back := rtpPcap(t, e.dir, "hold-pbx-"+id+".pcap", 8, 0x5555e0e0, 100, 50, 8000, 160, onTime)
		moh := rtpPcap(t, e.dir, "hold-moh-"+id+".pcap", 8, 0x6666f0f0, 3000, 50, 8000, 160, onTime)
		uac := scenario(t, e.dir, "uac_hold.xml", append(uacCut, "@TALK@", talk, "@MOH@", moh, "@PAUSE1@", "1400", "@PAUSE2@", "1400")...)
		phoneCall(t, e, uac, mp, scenario(t, e.dir, "uas_hold.xml", append(uasCut, "@TALK@", back)...))
	}
}

// rtpPcap writes a capture of n RTP packets for SIPp to play: payload
// type pt, sequence numbers from seq, timestamps advancing at clock Hz in
// 20 ms packets of size bytes, each sent 20 ms after the one before plus
// late(i).
func rtpPcap(t *testing.T, dir, name string, pt byte, ssrc uint32, seq uint16, n, clock, size int, late func(i int) time.Duration) string {
	t.Helper()
	c := pkttest.Capture{Link: layers.LinkTypeEthernet}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	src, dst := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:40000")
	for i := range n {
		at := t0.Add(time.Duration(i)*20*time.Millisecond + late(i))
		c.UDP(at, src, dst, pkttest.RTP(pt, seq+uint16(i), uint32(i*clock/50), ssrc, size))
	}
	p := filepath.Join(dir, name)
	must(t, os.WriteFile(p, c.Pcap(), 0o644))
	return p
}

func onTime(int) time.Duration { return 0 }
