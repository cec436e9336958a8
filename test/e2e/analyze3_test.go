//go:build linux

package e2e

// Three parties on three addresses: a phone (10.0.0.20), the PBX
// (10.0.0.1) and a trunk (203.0.113.2), each in its own network namespace,
// joined by a bridge in the PBX's namespace so that one capture on the
// bridge sees every leg once. The PBX is a back-to-back agent made of two
// SIPp instances (one leg to the phone, one to the trunk); nothing says
// "PortSIP", so the analysis must place the PBX from what it does.

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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

// tsharkLost is tshark's lost count per SSRC (-z rtp,streams).
func tsharkLost(t *testing.T, file string) map[uint32]int64 {
	t.Helper()
	out, err := exec.Command("tshark", "-r", file, "-q", "-o", "rtp.heuristic_rtp:TRUE", "-z", "rtp,streams").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`\s0x([0-9A-Fa-f]+)\s+.*?\s(\d+)\s+(-?\d+) \(`)
	lost := map[uint32]int64{}
	for _, l := range strings.Split(string(out), "\n") {
		if x := re.FindStringSubmatch(l); x != nil {
			ssrc, _ := strconv.ParseUint(x[1], 16, 32)
			n, _ := strconv.ParseInt(x[3], 10, 64)
			lost[uint32(ssrc)] += n
		}
	}
	return lost
}

func TestAnalyzeThreeParties(t *testing.T) {
	needRoot(t)
	have(t, "sipp", "tcpdump", "ip", "tshark", "editcap")
	audio := sippAudio(t)
	f := newFixture(t)
	dir := t.TempDir()
	phone, pbx, trunk := threeParty(t)
	pbxSIP, trunkSIP := pbxIP+":5060", trunkIP+":5060"
	noPortSIP := func(ua string) []string { return []string{portsipS, "Server: " + ua} }

	t.Run("failures", func(t *testing.T) {
		// For each code: the phone calls the PBX, the PBX calls the
		// trunk, the trunk refuses, the PBX passes the code back.
		capFile := filepath.Join(dir, "three-failures.pcap")
		td := startTcpdump(t, pbx, "br3", capFile)
		for _, c := range []struct{ code, reason, number string }{
			{"403", "Forbidden", "00441234567"},
			{"503", "Service Unavailable", "00441234568"},
			{"488", "Not Acceptable Here", "00441234569"},
		} {
			pbxIn := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, dir, "uas_code.xml",
				append(append([]string{"@CODE@", c.code, "@REASON@", c.reason}, noPortSIP(pbxUA)...), pauseBeforeFinal(1500)...)...),
				"-i", pbxIP, "-p", "5060", "-nostdin", "-m", "1")
			trk := startServer(t, trunk, dir, "sipp", trunkIP, 5060, 0, "-sf", scenario(t, dir, "uas_code.xml",
				append([]string{"@CODE@", c.code, "@REASON@", c.reason}, noPortSIP(carrier)...)...),
				"-i", trunkIP, "-p", "5060", "-nostdin", "-m", "1")
			wait := bgSipp(t, phone, dir, "-sf", scenario(t, dir, "uac_code.xml", "@CODE@", c.code, "@UA@", phoneUA, "Max-Forwards: 70", phoneAuth),
				"-s", c.number, pbxSIP, "-i", phoneIP, "-p", "5062", "-timeout", "10s")
			time.Sleep(300 * time.Millisecond) // sequencing only: the phone's INVITE first
			runSipp(t, pbx, dir, "-sf", scenario(t, dir, "uac_code.xml", "@CODE@", c.code, "@UA@", pbxUA), "-s", c.number,
				trunkSIP, "-i", pbxIP, "-p", "5061", "-timeout", "10s")
			wait()
			stopServer(t, trk)
			stopServer(t, pbxIn)
		}
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a, "sip-403", "sip-488", "sip-503")
		placedAsRelay(t, a)
		for _, code := range []string{"sip-403", "sip-488", "sip-503"} {
			says(t, a, code, "from the trunk (PBX→trunk)", "The error came from the trunk", "passed it back to the caller")
			if strings.Contains(a.text(code), "The PBX itself") {
				t.Errorf("%s blames the PBX for the trunk's refusal:\n%s", code, a.text(code))
			}
		}
		if len(a.Calls) != 6 {
			t.Fatalf("calls %+v", a.Calls)
		}
		for i, c := range a.Calls {
			want := [2]string{"extension→PBX", "pbx"}
			if i%2 == 1 {
				want = [2]string{"PBX→trunk", "trunk"}
			}
			if c.Direction != want[0] || c.FinalBy != want[1] || c.Answered {
				t.Errorf("call %d %+v, want %v", i, c, want)
			}
		}
	})

	t.Run("cancel", func(t *testing.T) {
		// The phone hangs up while both legs ring: 487 on each leg after
		// CANCEL is nobody's fault; nothing may be reported. The pause
		// added to the phone's scenario shifts its messages by one, so
		// the CANCEL and ACK still take the INVITE's branch.
		capFile := filepath.Join(dir, "three-cancel.pcap")
		td := startTcpdump(t, pbx, "br3", capFile)
		pbxIn := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, dir, "uas_cancel.xml", noPortSIP(pbxUA)...),
			"-i", pbxIP, "-p", "5060", "-nostdin", "-m", "1")
		trk := startServer(t, trunk, dir, "sipp", trunkIP, 5060, 0, "-sf", scenario(t, dir, "uas_cancel.xml", noPortSIP(carrier)...),
			"-i", trunkIP, "-p", "5060", "-nostdin", "-m", "1")
		wait := bgSipp(t, phone, dir, "-sf", scenario(t, dir, "uac_cancel.xml", "User-Agent: Carrier SBC 4.2", "User-Agent: "+phoneUA,
			"Max-Forwards: 70", phoneAuth, "[branch-3]", "[branch-4]", "[branch-6]", "[branch-7]", `<recv response="180"/>`, `<recv response="180"/>`+"\n  <pause milliseconds=\"1500\"/>"),
			"-s", "0612345678", pbxSIP, "-i", phoneIP, "-p", "5062", "-timeout", "10s")
		time.Sleep(300 * time.Millisecond) // sequencing only: the phone's INVITE first
		runSipp(t, pbx, dir, "-sf", scenario(t, dir, "uac_cancel.xml", "User-Agent: Carrier SBC 4.2", "User-Agent: "+pbxUA),
			"-s", "0612345678", trunkSIP, "-i", pbxIP, "-p", "5061", "-timeout", "10s")
		wait()
		stopServer(t, trk)
		stopServer(t, pbxIn)
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a)
		placedAsRelay(t, a)
		if len(a.Calls) != 2 {
			t.Fatalf("calls %+v", a.Calls)
		}
		for _, c := range a.Calls {
			if c.FinalStatus != 487 || c.Answered {
				t.Errorf("call %+v", c)
			}
		}
	})

	t.Run("one-way-audio", func(t *testing.T) {
		// The trunk calls the PBX and sends audio; the PBX answers with
		// SDP and sends none.
		capFile := filepath.Join(dir, "three-oneway.pcap")
		td := startTcpdump(t, pbx, "br3", capFile)
		uas := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, dir, "uas_portsip.xml", noPortSIP(pbxUA)...),
			"-i", pbxIP, "-p", "5060", "-mi", pbxIP, "-mp", "47000", "-nostdin", "-m", "1")
		runSipp(t, trunk, dir, "-sf", rtpScenario(t, dir, audio, 1500), pbxSIP, "-i", trunkIP, "-p", "5070",
			"-mi", trunkIP, "-mp", "46000", "-timeout", "15s")
		stopServer(t, uas)
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		// One INVITE and no PortSIP header: the PBX cannot be placed,
		// and the report says so instead of naming one.
		wantFindings(t, a, "one-way-audio")
		notPlaced(t, a)
		says(t, a, "one-way-audio", "critical", "203.0.113.2 receives no audio from 10.0.0.1", "(203.0.113.2:46000)")
		if txt := a.text("one-way-audio"); strings.Contains(txt, "far end") {
			t.Errorf("one-way-audio speaks of a far end:\n%s", txt)
		}
	})

	t.Run("one-way-audio-bundle", func(t *testing.T) {
		// The same call inside a bundle taken on the PBX: the host's own
		// addresses (the system snapshot) are the PBX, so the sides get
		// their roles without any PortSIP header.
		agent := startBundle(t, pbx, "--config", f.config, "--duration", "4s", "--iface", "br3", "--json")
		uas := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, dir, "uas_portsip.xml", noPortSIP(pbxUA)...),
			"-i", pbxIP, "-p", "5060", "-mi", pbxIP, "-mp", "47000", "-nostdin", "-m", "1")
		runSipp(t, trunk, dir, "-sf", rtpScenario(t, dir, audio, 1500), pbxSIP, "-i", trunkIP, "-p", "5070",
			"-mi", trunkIP, "-mp", "46000", "-timeout", "15s")
		stopServer(t, uas)
		c := finishBundle(t, f, agent.wait(t))
		data, err := os.ReadFile(filepath.Join(c.dir, "analysis.json"))
		must(t, err)
		var a analysis
		must(t, json.Unmarshal(data, &a))
		// Host findings (gateway, disk) depend on the machine running the
		// test; the call's findings must be exactly these.
		var callCodes []string
		for _, f := range a.Findings {
			if len(f.CallIDs) > 0 {
				callCodes = append(callCodes, f.Code)
			}
		}
		slices.Sort(callCodes)
		if !slices.Equal(callCodes, []string{"one-way-audio", "private-sdp"}) {
			t.Errorf("call findings %v, want one-way-audio and private-sdp", callCodes)
		}
		if !slices.Contains(a.PBX, pbxIP) || !strings.Contains(strings.Join(a.Notes, " "), "system/network.json") {
			t.Errorf("PBX %v, notes %v: want the host's addresses", a.PBX, a.Notes)
		}
		says(t, &a, "one-way-audio", "critical", "the trunk receives no audio from the PBX")
		says(t, &a, "private-sdp", "10.0.0.1", "203.0.113.2")
		if len(a.Calls) != 1 || a.Calls[0].Direction != "trunk→PBX" {
			t.Errorf("calls %+v", a.Calls)
		}
	})

	t.Run("loss", func(t *testing.T) {
		// The trunk's audio loses every 20th packet before it reaches the
		// wire (this kernel has neither netem nor gact, so the loss is cut
		// into the audio SIPp plays: deterministic, no draw). The PBX
		// echoes what it receives. The measured loss must equal tshark's
		// on the same capture.
		capFile := filepath.Join(dir, "three-loss.pcap")
		lossy := filepath.Join(dir, "g711a-lossy.pcap")
		drop := []string{audio, lossy}
		for n := 20; n <= 220; n += 20 {
			drop = append(drop, strconv.Itoa(n))
		}
		if out, err := exec.Command("editcap", drop...).CombinedOutput(); err != nil {
			t.Fatalf("editcap: %v\n%s", err, out)
		}
		td := startTcpdump(t, pbx, "br3", capFile)
		uas := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 47000, "-sf", scenario(t, dir, "uas_portsip.xml", noPortSIP(pbxUA)...),
			"-i", pbxIP, "-p", "5060", "-mi", pbxIP, "-mp", "47000", "-rtp_echo", "-nostdin", "-m", "1")
		runSipp(t, trunk, dir, "-sf", rtpScenario(t, dir, lossy, 4000), pbxSIP, "-i", trunkIP, "-p", "5070",
			"-mi", trunkIP, "-mp", "46000", "-timeout", "20s", "-recv_timeout", "20s")
		stopServer(t, uas)
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a, "rtp-loss")
		notPlaced(t, a)
		says(t, a, "rtp-loss", "203.0.113.2:46000→10.0.0.1:47000", "10.0.0.1:47000→203.0.113.2:46000")
		want := tsharkLost(t, capFile)
		got := map[uint32]int64{}
		for _, s := range a.Streams {
			got[s.SSRC] += s.Lost
		}
		if len(got) == 0 || !maps.Equal(got, want) {
			t.Errorf("lost per SSRC: pbxagent %v, tshark %v", got, want)
		}
		for ssrc, n := range got {
			if n == 0 {
				t.Errorf("SSRC %08x: no loss measured although every 20th packet was cut", ssrc)
			}
		}
	})
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
