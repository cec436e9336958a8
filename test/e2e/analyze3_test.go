//go:build linux

package e2e

// Three parties on three addresses: a phone (10.0.0.20), the PBX
// (10.0.0.1) and a trunk (203.0.113.2), each in its own network namespace,
// joined by a bridge in the PBX's namespace so that one capture on the
// bridge sees every leg once. Where the PBX relays a call it is a
// back-to-back agent made of two SIPp instances (one leg to the phone, one
// to the trunk). Only two cases say "PortSIP"; elsewhere the bare capture
// must place the PBX from what it does or say it could not, while in the
// bundle the host's own addresses are the PBX.

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/pbxagent/pbxagent/internal/pkttest"
	"github.com/pbxagent/pbxagent/internal/testutil/rtpdrop"
)

const (
	phoneIP  = "10.0.0.20"
	phoneUA  = "Yealink SIP-T46U"
	pbxUA    = "MyPBX 1.0"
	carrier  = "Carrier SBC 4.2"
	portsipS = "Server: PortSIP PBX 22.3"
)

// phoneAuth makes the phone's INVITE carry credentials, as an extension's
// does after the PBX's challenge.
const phoneAuth = "Max-Forwards: 70\n      Proxy-Authorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"n\", uri=\"sip:pbx\", response=\"00\""

// threeParty builds the phone, PBX and trunk namespaces around a bridge.
func threeParty(t *testing.T) (phone, pbx, trunk *netns) {
	t.Helper()
	phone, pbx, trunk = newNetns(t, "a3ph"), newNetns(t, "a3pbx"), newNetns(t, "a3trk")
	pbx.ip(t, "link", "add", "br3", "type", "bridge")
	pbx.ip(t, "addr", "add", pbxIP+"/24", "dev", "br3")
	pbx.ip(t, "link", "set", "br3", "up")
	pbx.ip(t, "route", "add", "203.0.113.0/24", "dev", "br3")
	for _, p := range []struct {
		ns          *netns
		in, out, ip string
		route       string
	}{{phone, "vph", "bph", phoneIP + "/24", "203.0.113.0/24"}, {trunk, "vtk", "btk", trunkIP + "/24", "10.0.0.0/24"}} {
		pbx.ip(t, "link", "add", p.out, "type", "veth", "peer", "name", p.in, "netns", p.ns.name)
		pbx.ip(t, "link", "set", p.out, "master", "br3")
		pbx.ip(t, "link", "set", p.out, "up")
		p.ns.ip(t, "addr", "add", p.ip, "dev", p.in)
		p.ns.ip(t, "link", "set", p.in, "up")
		p.ns.ip(t, "route", "add", p.route, "dev", p.in)
	}
	return phone, pbx, trunk
}

// pauseBeforeFinal makes a uas_code/uas_cancel answer after ms, so the
// PBX's outgoing leg happens while the phone's call is pending.
func pauseBeforeFinal(ms int) []string {
	return []string{"  </send>\n  <send>", "  </send>\n  <pause milliseconds=\"" + strconv.Itoa(ms) + "\"/>\n  <send>"}
}

// bgSipp starts a SIPp client in the background; wait returns when it
// ended (a crash fails the test).
func bgSipp(t *testing.T, ns *netns, dir string, args ...string) (wait func()) {
	t.Helper()
	cmd := ns.command("sipp", append(args, "-m", "1", "-nostdin")...)
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	return func() {
		t.Helper()
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() > 1) {
			t.Fatalf("sipp %v: %v\n%s", args, err, tailText(out.String()))
		}
	}
}

// tsharkStream is one line of tshark's -z rtp,streams.
type tsharkStream struct {
	src, dst      string // ip:port
	ssrc          uint32
	packets, lost int64
	maxJitter     float64 // ms
}

// tsharkStreams is tshark's RTP stream table of a capture.
func tsharkStreams(t *testing.T, file string) []tsharkStream {
	t.Helper()
	out, err := exec.Command("tshark", "-r", file, "-q", "-o", "rtp.heuristic_rtp:TRUE", "-z", "rtp,streams").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`^\s*\S+\s+\S+\s+(\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+0x([0-9A-Fa-f]+)\s+.*?\s(\d+)\s+(-?\d+) \(.*?\)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)`)
	var streams []tsharkStream
	for _, l := range strings.Split(string(out), "\n") {
		x := re.FindStringSubmatch(l)
		if x == nil {
			continue
		}
		s := tsharkStream{src: x[1] + ":" + x[2], dst: x[3] + ":" + x[4]}
		ssrc, _ := strconv.ParseUint(x[5], 16, 32)
		s.ssrc = uint32(ssrc)
		s.packets, _ = strconv.ParseInt(x[6], 10, 64)
		s.lost, _ = strconv.ParseInt(x[7], 10, 64)
		s.maxJitter, _ = strconv.ParseFloat(x[8], 64)
		streams = append(streams, s)
	}
	return streams
}

// sameStreams checks every stream of the analysis against tshark's stream
// with the same addresses and SSRC: packets and loss equal, maximum
// jitter within 0.5 ms. It returns the matched tshark streams.
func sameStreams(t *testing.T, a *analysis, file string) map[string]tsharkStream {
	t.Helper()
	ref := map[string]tsharkStream{}
	for _, s := range tsharkStreams(t, file) {
		ref[fmt.Sprintf("%s>%s/%08x", s.src, s.dst, s.ssrc)] = s
	}
	got := map[string]tsharkStream{}
	for _, s := range a.Streams {
		key := fmt.Sprintf("%s>%s/%08x", s.Src, s.Dst, s.SSRC)
		r, ok := ref[key]
		if !ok {
			t.Errorf("stream %s: tshark does not list it", key)
			continue
		}
		got[key] = r
		t.Logf("stream %s: packets %d, lost %d, max jitter %.3f ms; tshark %d, %d, %.3f ms", key, s.Packets, s.Lost, s.JitterMs, r.packets, r.lost, r.maxJitter)
		if s.Packets != r.packets || s.Lost != r.lost || math.Abs(s.JitterMs-r.maxJitter) > 0.5 {
			t.Errorf("stream %s: packets %d, lost %d, max jitter %.3f ms; tshark %d, %d, %.3f ms",
				key, s.Packets, s.Lost, s.JitterMs, r.packets, r.lost, r.maxJitter)
		}
	}
	return got
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

// uasPBX is the PBX's answering scenario without a PortSIP header.
func uasPBX(t *testing.T, e *threeEnv, repl ...string) string {
	return scenario(t, e.dir, "uas_portsip.xml", append(noPortSIP(pbxUA), repl...)...)
}

// wideband makes a scenario's SDP offer L16 at 16 kHz on dynamic payload
// type 96 instead of G.711 A-law.
var wideband = []string{"RTP/AVP 8", "RTP/AVP 96", "a=rtpmap:8 PCMA/8000", "a=rtpmap:96 L16/16000"}

func threeCases(e *threeEnv) []callCase {
	var lossDropped, lossSeen uint64
	refusal := func(code, reason, number, finding string, status int) callCase {
		return callCase{name: code, run: relayRefusal(code, reason, number), bare: []string{finding}, bundled: []string{finding},
			placed: "relay", check: relayed(finding, status)}
	}
	busy := refusal("486", "Busy Here", "00441234501", "callee-busy", 486)
	busy.check = func(t *testing.T, a *analysis, _ string, _ bool) {
		// Busy is the callee's answer, no fault: an information only.
		says(t, a, "callee-busy", "info", "busy", "not a fault of the PBX or the trunk")
		legs(t, a, 486, [2]string{"extension→PBX", "pbx"}, [2]string{"PBX→trunk", "trunk"})
	}
	return []callCase{
		refusal("403", "Forbidden", "00441234567", "sip-403", 403),
		refusal("404", "Not Found", "00441234500", "sip-404", 404),
		busy,
		refusal("488", "Not Acceptable Here", "00441234569", "sip-488", 488),
		refusal("503", "Service Unavailable", "00441234568", "sip-503", 503),
		{name: "cancel", placed: "relay", run: relayCancel, check: func(t *testing.T, a *analysis, _ string, _ bool) {
			// 487 after CANCEL is nobody's fault.
			legs(t, a, 487, [2]string{"extension→PBX", "pbx"}, [2]string{"PBX→trunk", "trunk"})
		}},
		{name: "401-then-200", placed: "none", run: authCall(401), check: answeredOnce},
		{name: "407-then-200", placed: "none", run: authCall(407), check: answeredOnce},
		{name: "one-way-audio", placed: "none", bare: []string{"one-way-audio"}, bundled: []string{"one-way-audio", "private-sdp"},
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
			}},
		{name: "hold", placed: "none", run: holdCall(true, 46010), check: func(t *testing.T, a *analysis, capture string, bundled bool) {
			// Talk both ways, then music on hold from the phone only
			// (a=sendonly / a=recvonly), then a=inactive: no finding,
			// three streams, each as tshark measures it.
			answeredOnce(t, a, capture, bundled)
			if len(a.Streams) != 3 || len(sameStreams(t, a, capture)) != 3 {
				t.Errorf("streams %+v, want talk both ways and the music on hold", a.Streams)
			}
		}},
		{name: "hold-at-once", placed: "none", run: holdCall(false, 46050), check: func(t *testing.T, a *analysis, capture string, bundled bool) {
			// On hold right after the answer: the PBX never sends, as
			// its a=recvonly says; that is not one-way audio.
			answeredOnce(t, a, capture, bundled)
			if len(a.Streams) != 1 || len(sameStreams(t, a, capture)) != 1 || a.Streams[0].Src.Port != 46050 {
				t.Errorf("streams %+v, want the music on hold only", a.Streams)
			}
		}},
		{name: "loss", placed: "none", bare: []string{"rtp-loss"}, bundled: []string{"rtp-loss"},
			run: func(t *testing.T, e *threeEnv) {
				// Real network loss: an eBPF program at the phone's port
				// of the bridge drops every RTP packet to the PBX whose
				// sequence number is a multiple of 20 (sequence numbers
				// 10-109: 5 of 100, all inside the stream).
				d, err := rtpdrop.AttachIn(e.pbx.name, "bph", 47020, 20)
				must(t, err)
				talk := rtpPcap(t, e.dir, "loss-phone.pcap", 8, 0x1111a0a0, 10, 100, 8000, 160, onTime)
				back := rtpPcap(t, e.dir, "loss-pbx.pcap", 8, 0x2222b0b0, 10, 100, 8000, 160, onTime)
				phoneCall(t, e, rtpScenario(t, e.dir, talk, 2500), 46020, uasPBX(t, e, playAfterACK(back)...))
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
			}},
		{name: "wideband-16k", placed: "none", run: func(t *testing.T, e *threeEnv) {
			// L16 at 16 kHz on payload type 96, every other packet 6 ms
			// late: jitter is only right with the SDP's clock rate.
			late := func(i int) time.Duration { return time.Duration(i%2) * 6 * time.Millisecond }
			talk := rtpPcap(t, e.dir, "l16.pcap", 96, 0x3333c0c0, 500, 100, 16000, 640, late)
			phoneCall(t, e, rtpScenario(t, e.dir, talk, 2500, wideband...), 46030, uasPBX(t, e, wideband...), "-rtp_echo")
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
				// At 16 kHz the phone's packets (every other one 6 ms
				// late) give about 6 ms; read at 8 kHz, each 20 ms
				// packet would look 20 ms late and the jitter would
				// exceed 14 ms (and differ from tshark's).
				if s.Src.Port == 46030 && (s.JitterMs < 3 || s.JitterMs > 10) {
					t.Errorf("stream %s→%s max jitter %.3f ms, want about 6 ms (16 kHz clock)", s.Src, s.Dst, s.JitterMs)
				}
			}
		}},
		{name: "media-outside-ranges", placed: "none", bundled: []string{"media-not-captured"}, run: func(t *testing.T, e *threeEnv) {
			phoneCall(t, e, rtpScenario(t, e.dir, e.audio, 1500), 12000, uasPBX(t, e), "-rtp_echo")
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
		}},
		{name: "trunk-never-answers", placed: "portsip", bare: []string{"no-response"}, bundled: []string{"no-response"},
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
			}},
		{name: "portsip-user-agent", placed: "portsip", run: func(t *testing.T, e *threeEnv) {
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
		}},
	}
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

// only is the part of an analysis about the calls ids: their calls,
// streams and findings.
func (a *analysis) only(ids []string) *analysis {
	b := &analysis{PBX: a.PBX, Notes: a.Notes}
	for _, c := range a.Calls {
		if slices.Contains(ids, c.CallID) {
			b.Calls = append(b.Calls, c)
		}
	}
	for _, s := range a.Streams {
		if slices.Contains(ids, s.CallID) {
			b.Streams = append(b.Streams, s)
		}
	}
	for _, f := range a.Findings {
		if len(f.CallIDs) > 0 && slices.ContainsFunc(f.CallIDs, func(id string) bool { return slices.Contains(ids, id) }) {
			b.Findings = append(b.Findings, f)
		}
	}
	return b
}

// TestAnalyzeThreeParties runs each call case between the three
// namespaces while tcpdump and a bundle on the PBX both capture: the
// capture alone is analysed without --pbx-ip, and the bundle, where the
// host's own addresses are the PBX, once at the end; each case's part of
// each report must name exactly what happened.
func TestAnalyzeThreeParties(t *testing.T) {
	needRoot(t)
	have(t, "sipp", "tcpdump", "ip", "tshark")
	t0 := time.Now()
	f := newFixture(t)
	e := &threeEnv{audio: sippAudio(t), dir: t.TempDir()}
	e.phone, e.pbx, e.trunk = threeParty(t)
	// The bundle's default filter: SIP, the PBX's RTP range and ICMP.
	agent := startBundle(t, e.pbx, "--config", f.config, "--duration", "10m", "--iface", "br3", "--json")
	cases := threeCases(e)
	ids := map[string][]string{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			capFile := filepath.Join(e.dir, c.name+".pcap")
			td := startTcpdump(t, e.pbx, "br3", capFile)
			c.run(t, e)
			td.stop(t)
			a := analyzeCapture(t, f.config, capFile)
			for _, call := range a.Calls {
				ids[c.name] = append(ids[c.name], call.CallID)
			}
			wantFindings(t, a, c.bare...)
			switch c.placed {
			case "relay":
				placedAsRelay(t, a)
			case "portsip":
				placedByPortSIP(t, a)
			default:
				notPlaced(t, a)
			}
			c.check(t, a, capFile, false)
		})
	}
	must(t, agent.cmd.Process.Signal(os.Interrupt))
	b := finishBundle(t, f, agent.wait(t))
	t.Logf("the cases took %s", time.Since(t0).Round(time.Second))
	bundle := parseBundleJSON(t, agent.wait(t)).Path
	a := analyzeCapture(t, f.config, bundle)
	if !slices.Contains(a.PBX, pbxIP) || !strings.Contains(strings.Join(a.Notes, " "), "system/network.json") {
		t.Errorf("PBX %v, notes %v: want the host's addresses", a.PBX, a.Notes)
	}
	bundleFindingsBelong(t, a, ids)
	for _, c := range cases {
		t.Run("bundle/"+c.name, func(t *testing.T) {
			if len(ids[c.name]) == 0 {
				t.Fatal("the case's capture held no call")
			}
			part := a.only(ids[c.name])
			wantFindings(t, part, c.bundled...)
			c.check(t, part, b.pcap, true)
		})
	}
}

// bundleFindingsBelong checks that each call finding of the bundle is
// about the calls of one case, and that the others are about the host.
func bundleFindingsBelong(t *testing.T, a *analysis, ids map[string][]string) {
	t.Helper()
	for _, f := range a.Findings {
		if len(f.CallIDs) == 0 {
			for _, bad := range []string{"sip-", "rtp-", "no-", "one-way", "callee-", "private-", "register-", "icmp-"} {
				if strings.HasPrefix(f.Code, bad) {
					t.Errorf("finding %s %q is about calls but names none", f.Code, f.Title)
				}
			}
			continue
		}
		owners := map[string]bool{}
		for _, id := range f.CallIDs {
			for name, list := range ids {
				if slices.Contains(list, id) {
					owners[name] = true
				}
			}
		}
		if len(owners) != 1 {
			t.Errorf("finding %s is about the calls %v of cases %v, want one case", f.Code, f.CallIDs, owners)
		}
	}
}

// placedByPortSIP checks that the PBX was placed by its PortSIP header.
func placedByPortSIP(t *testing.T, a *analysis) {
	t.Helper()
	if !slices.Equal(a.PBX, []string{pbxIP}) || !strings.Contains(strings.Join(a.Notes, " "), "PortSIP") {
		t.Errorf("PBX %v, notes %v: want %s placed by its PortSIP header", a.PBX, a.Notes, pbxIP)
	}
}

// placedAsRelay checks that the PBX was placed from what it does: it
// receives INVITEs and sends them on.
func placedAsRelay(t *testing.T, a *analysis) {
	t.Helper()
	if !slices.Equal(a.PBX, []string{pbxIP}) || !strings.Contains(strings.Join(a.Notes, " "), "it receives INVITEs and sends INVITEs on") {
		t.Errorf("PBX %v, notes %v: want %s placed as the back-to-back agent", a.PBX, a.Notes, pbxIP)
	}
}

// notPlaced checks that no side was called the PBX.
func notPlaced(t *testing.T, a *analysis) {
	t.Helper()
	if len(a.PBX) != 0 || !strings.Contains(strings.Join(a.Notes, " "), "The PBX could not be placed") {
		t.Errorf("PBX %v, notes %v: want the PBX explicitly unplaced", a.PBX, a.Notes)
	}
	for _, f := range a.Findings {
		if strings.Contains(f.Title+f.Detail, "the PBX") || strings.Contains(f.Title+f.Detail, "the trunk") {
			t.Errorf("%s names a role although the PBX was not placed: %s %s", f.Code, f.Title, f.Detail)
		}
	}
}
