//go:build linux

package e2e

// Call analysis end to end: real SIP stacks (SIPp, Kamailio) produce each
// case of the PortSIP troubleshooting guide, tcpdump captures it, and
// `pbxagent analyze --json` must name the case and nothing else. The "PBX"
// sits on a private address (10.0.0.1) in one network namespace and the
// "trunk" on a public documentation address (203.0.113.2) in another, joined
// by a veth pair, so a private SDP address really reaches a public peer.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	pbxIP   = "10.0.0.1"
	trunkIP = "203.0.113.2"
)

// analysis is the subset of analysis.json the tests read.
type analysis struct {
	PBX   []string `json:"pbx_addresses"`
	Notes []string `json:"notes"`
	Calls []struct {
		CallID          string `json:"call_id"`
		Direction       string `json:"direction"`
		FinalStatus     int    `json:"final_status"`
		FinalBy         string `json:"final_by"`
		Answered        bool   `json:"answered"`
		NoResponse      bool   `json:"no_response"`
		Retransmissions int    `json:"retransmissions"`
		RoleRule        string `json:"role_rule"`
		UserAgents      []string
	} `json:"calls"`
	Registrations []struct {
		CallID      string `json:"call_id"`
		FinalStatus int    `json:"final_status"`
		FinalBy     string `json:"final_by"`
		Direction   string `json:"direction"`
	} `json:"registrations"`
	Streams []struct {
		Packets  int64    `json:"packets"`
		SSRC     uint32   `json:"ssrc"`
		Src      endpoint `json:"src"`
		Dst      endpoint `json:"dst"`
		Codec    string   `json:"codec"`
		Lost     int64    `json:"lost"`
		JitterMs float64  `json:"jitter_max_ms"`
		CallID   string   `json:"call_id"`
		Expected bool     `json:"expected"`
	} `json:"streams"`
	Findings []struct {
		Severity string   `json:"severity"`
		Code     string   `json:"code"`
		Title    string   `json:"title"`
		Detail   string   `json:"detail"`
		CallIDs  []string `json:"call_ids"`
		Remedy   []string `json:"remedy"`
	} `json:"findings"`
}

// endpoint is a stream's address and port in analysis.json.
type endpoint struct {
	IP   string `json:"ip"`
	Port int    `json:"port"`
}

func (e endpoint) String() string { return e.IP + ":" + strconv.Itoa(e.Port) }

func (a *analysis) codes() []string {
	var out []string
	for _, f := range a.Findings {
		out = append(out, f.Code)
	}
	slices.Sort(out)
	return out
}

func (a *analysis) text(code string) string {
	for _, f := range a.Findings {
		if f.Code == code {
			return f.Severity + " " + f.Title + " " + f.Detail + " " + strings.Join(f.Remedy, " ")
		}
	}
	return ""
}

// analyzeCapture runs pbxagent analyze --json on a capture.
func analyzeCapture(t *testing.T, cfg, file string) *analysis {
	t.Helper()
	r := runAgent(t, "analyze", "--config", cfg, "--json", "--out", filepath.Join(filepath.Dir(file), "analysis-"+filepath.Base(file)), file)
	if r.code != 0 {
		t.Fatalf("pbxagent analyze %s: exit %d\n%s%s", file, r.code, r.stdout, r.stderr)
	}
	var a analysis
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("analyze --json output is not JSON: %v\n%s", err, r.stdout)
	}
	return &a
}

func wantFindings(t *testing.T, a *analysis, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := a.codes(); !slices.Equal(got, want) {
		b, _ := json.MarshalIndent(a.Findings, "", "  ")
		t.Fatalf("findings %v, want %v\n%s", got, want, b)
	}
}

func says(t *testing.T, a *analysis, code string, subs ...string) {
	t.Helper()
	txt := a.text(code)
	for _, s := range subs {
		if !strings.Contains(txt, s) {
			t.Errorf("%s does not say %q:\n%s", code, s, txt)
		}
	}
}

// vethPair joins two new namespaces: the PBX's on 10.0.0.1 and the trunk's
// on 203.0.113.2, each with a route to the other.
func vethPair(t *testing.T) (pbx, trunk *netns) {
	t.Helper()
	pbx, trunk = newNetns(t, "anpbx"), newNetns(t, "antrk")
	pbx.ip(t, "link", "add", "vpbx", "type", "veth", "peer", "name", "vtrk", "netns", trunk.name)
	pbx.ip(t, "addr", "add", pbxIP+"/24", "dev", "vpbx")
	pbx.ip(t, "link", "set", "vpbx", "up")
	pbx.ip(t, "route", "add", "203.0.113.0/24", "dev", "vpbx")
	trunk.ip(t, "addr", "add", trunkIP+"/24", "dev", "vtrk")
	trunk.ip(t, "link", "set", "vtrk", "up")
	trunk.ip(t, "route", "add", "10.0.0.0/24", "dev", "vtrk")
	return pbx, trunk
}

// scenario writes a testdata/analyze scenario with its placeholders filled.
func scenario(t *testing.T, dir, name string, repl ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "analyze", name))
	must(t, err)
	text := strings.NewReplacer(repl...).Replace(string(data))
	p := filepath.Join(dir, fmt.Sprintf("%d-%s", time.Now().UnixNano(), name))
	must(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// rtpScenario is the UAC with RTP of the capture tests, with the call kept
// up for pause milliseconds and repl's replacements made.
func rtpScenario(t *testing.T, dir, audio string, pause int, repl ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "uac_rtp.xml"))
	must(t, err)
	text := strings.ReplaceAll(string(data), "@G711A_PCAP@", audio)
	text = strings.Replace(text, `<pause milliseconds="500"/>`, fmt.Sprintf(`<pause milliseconds="%d"/>`, pause), 1)
	text = strings.NewReplacer(repl...).Replace(text)
	p := filepath.Join(dir, fmt.Sprintf("%d-uac_rtp_%d.xml", time.Now().UnixNano(), pause))
	must(t, os.WriteFile(p, []byte(text), 0o644))
	return p
}

// startServer starts a SIP server in ns and waits until it has bound UDP
// port on ip (and media, when not 0).
func startServer(t *testing.T, ns *netns, dir, name, ip string, port, media int, args ...string) *bgProc {
	t.Helper()
	cmd := ns.command(name, args...)
	cmd.Dir = dir
	p := startProc(t, name, cmd, "")
	hexIP := func(s string) string {
		var b [4]int
		fmt.Sscanf(s, "%d.%d.%d.%d", &b[0], &b[1], &b[2], &b[3])
		return fmt.Sprintf("%02X%02X%02X%02X", b[3], b[2], b[1], b[0])
	}
	want := []string{fmt.Sprintf("%s:%04X ", hexIP(ip), port)}
	if media > 0 {
		want = append(want, fmt.Sprintf("%s:%04X ", hexIP(ip), media))
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	deadline := time.Now().Add(20 * time.Second)
	for {
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		udp, _ := os.ReadFile("/proc/" + pid + "/net/udp")
		ok := strings.TrimSpace(string(comm)) == name
		for _, w := range want {
			ok = ok && strings.Contains(string(udp), w)
		}
		if ok {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (code %d)\n%s%s", name, p.code, tailText(p.stdout.String()), p.errText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not bind its ports\n%s", name, p.errText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runSipp runs a SIPp client to completion; failures are the test's to
// judge from the capture, so only a crash is fatal.
func runSipp(t *testing.T, ns *netns, dir string, args ...string) {
	t.Helper()
	cmd := ns.command("sipp", append(args, "-m", "1", "-nostdin")...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() > 1) {
		t.Fatalf("sipp %v: %v\n%s", args, err, tailText(string(out)))
	}
}

func stopServer(t *testing.T, p *bgProc) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.kill()
	}
}

func TestAnalyzeRealCalls(t *testing.T) {
	needRoot(t)
	have(t, "sipp", "tcpdump", "ip")
	audio := sippAudio(t)
	f := newFixture(t)
	dir := t.TempDir()
	pbx, trunk := vethPair(t)
	pbxSIP := pbxIP + ":5060"

	t.Run("clean", func(t *testing.T) {
		// Loopback: an answered call with two-way RTP, then a call
		// challenged with 407 and answered after the retry with
		// credentials. Nothing failed: nothing may be reported.
		ns := newNetns(t, "anlo")
		capFile := filepath.Join(dir, "clean.pcap")
		td := startTcpdump(t, ns, "lo", capFile)
		uas := startServer(t, ns, dir, "sipp", "127.0.0.1", 5060, 47000, "-sf", scenario(t, dir, "uas_portsip.xml"), "-i", "127.0.0.1", "-p", "5060",
			"-mi", "127.0.0.1", "-mp", "47000", "-rtp_echo", "-nostdin", "-m", "1")
		runSipp(t, ns, dir, "-sf", rtpScenario(t, dir, audio, 1500), "127.0.0.1:5060", "-i", "127.0.0.1", "-p", "5070",
			"-mi", "127.0.0.1", "-mp", "46000", "-timeout", "15s")
		stopServer(t, uas)
		uas = startServer(t, ns, dir, "sipp", "127.0.0.1", 5060, 0, "-sf", scenario(t, dir, "uas_auth.xml"), "-i", "127.0.0.1", "-p", "5060", "-nostdin", "-m", "1")
		runSipp(t, ns, dir, "-sf", scenario(t, dir, "uac_auth.xml"), "-s", "1002", "127.0.0.1:5060", "-i", "127.0.0.1", "-p", "5070", "-timeout", "10s")
		stopServer(t, uas)
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a)
		if len(a.Calls) != 2 || !a.Calls[0].Answered || !a.Calls[1].Answered || a.Calls[1].FinalStatus != 200 {
			t.Fatalf("calls %+v", a.Calls)
		}
		media := 0
		for _, s := range a.Streams {
			if s.CallID == a.Calls[0].CallID && s.Packets > 0 && s.Expected {
				media++
			}
		}
		if media != 2 || !slices.Equal(a.PBX, []string{"127.0.0.1"}) || a.Calls[1].Direction != "extension→PBX" {
			t.Errorf("streams %+v, PBX %v, calls %+v", a.Streams, a.PBX, a.Calls)
		}
	})

	t.Run("failures", func(t *testing.T) {
		// The trunk calls the PBX; the PBX answers each call with an
		// error of the guide.
		capFile := filepath.Join(dir, "failures.pcap")
		td := startTcpdump(t, pbx, "vpbx", capFile)
		for _, c := range []struct {
			code, reason, number string
		}{
			{"403", "Forbidden", "0033612345678"},
			{"404", "Not Found", "1099"},
			{"480", "Temporarily Unavailable", "1002"},
			{"503", "Service Unavailable", "1003"},
			{"407", "Proxy Authentication Required", "+33620012861"},
			{"488", "Not Acceptable Here", "1004"},
			{"486", "Busy Here", "1005"},
		} {
			uas := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, dir, "uas_code.xml", "@CODE@", c.code, "@REASON@", c.reason),
				"-i", pbxIP, "-p", "5060", "-nostdin", "-m", "1")
			runSipp(t, trunk, dir, "-sf", scenario(t, dir, "uac_code.xml", "@CODE@", c.code, "@UA@", "Carrier SBC 4.2"), "-s", c.number,
				pbxSIP, "-i", trunkIP, "-p", "5070", "-timeout", "10s")
			stopServer(t, uas)
		}
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a, "callee-busy", "sip-403", "sip-404", "sip-407", "sip-480", "sip-488", "sip-503")
		if !slices.Equal(a.PBX, []string{pbxIP}) {
			t.Errorf("PBX %v: the PBX's Server header places it without --pbx-ip", a.PBX)
		}
		for _, c := range a.Calls {
			if c.Direction != "trunk→PBX" || c.FinalBy != "pbx" || c.Answered {
				t.Errorf("call %+v", c)
			}
		}
		says(t, a, "sip-403", "The PBX itself answered 403", "0033612345678 starts with 00", "international", "licence")
		says(t, a, "sip-404", "extension number does not exist", "outbound rule")
		says(t, a, "sip-480", "not online")
		says(t, a, "sip-503", "PBX cannot provide service")
		says(t, a, "sip-488", "codecs")
		says(t, a, "sip-407", "trunk→PBX", "Associated IP Addresses", "DID pool", "+33620012861 starts with +", "33620012861")
	})

	t.Run("no-answer", func(t *testing.T) {
		// The PBX sends an INVITE to a trunk whose socket takes every
		// datagram and answers nothing (no ICMP either).
		capFile := filepath.Join(dir, "noanswer.pcap")
		td := startTcpdump(t, pbx, "vpbx", capFile)
		sink := trunk.listenUDP(t, trunkIP+":5080")
		runSipp(t, pbx, dir, "-sf", scenario(t, dir, "uac_code.xml", "@CODE@", "200", "@UA@", "PortSIP PBX 22.3.1"), "-s", "0612345678",
			trunkIP+":5080", "-i", pbxIP, "-p", "5060", "-max_invite_retrans", "2")
		sink.await(t, 3)
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a, "no-response")
		says(t, a, "no-response", "critical", "No response from the trunk 203.0.113.2:5080", "PortSIP PBX 22.3.1",
			"Advanced > Settings", "User-Agent", "whitelist")
		if len(a.Calls) != 1 || !a.Calls[0].NoResponse || a.Calls[0].Retransmissions < 2 || a.Calls[0].Direction != "PBX→trunk" {
			t.Errorf("calls %+v", a.Calls)
		}
	})

	t.Run("one-way-audio", func(t *testing.T) {
		// The trunk sends audio; the PBX answers with SDP but sends none.
		// Its SDP carries its private address to the public trunk.
		capFile := filepath.Join(dir, "oneway.pcap")
		td := startTcpdump(t, pbx, "vpbx", capFile)
		uas := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, dir, "uas_portsip.xml"), "-i", pbxIP, "-p", "5060",
			"-mi", pbxIP, "-mp", "47000", "-nostdin", "-m", "1")
		runSipp(t, trunk, dir, "-sf", rtpScenario(t, dir, audio, 1500), pbxSIP, "-i", trunkIP, "-p", "5070",
			"-mi", trunkIP, "-mp", "46000", "-timeout", "15s")
		stopServer(t, uas)
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a, "one-way-audio", "private-sdp")
		says(t, a, "one-way-audio", "critical", "the trunk receives no audio from the PBX", "Use the private IP address")
		says(t, a, "private-sdp", "10.0.0.1", "203.0.113.2", "Use the private IP address")
	})

	t.Run("private-sdp", func(t *testing.T) {
		// Audio flows both ways, but the PBX's SDP carries its private
		// address to the public trunk.
		capFile := filepath.Join(dir, "private.pcap")
		td := startTcpdump(t, pbx, "vpbx", capFile)
		uas := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 47000, "-sf", scenario(t, dir, "uas_portsip.xml"), "-i", pbxIP, "-p", "5060",
			"-mi", pbxIP, "-mp", "47000", "-rtp_echo", "-nostdin", "-m", "1")
		runSipp(t, trunk, dir, "-sf", rtpScenario(t, dir, audio, 1500), pbxSIP, "-i", trunkIP, "-p", "5070",
			"-mi", trunkIP, "-mp", "46000", "-timeout", "15s")
		stopServer(t, uas)
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a, "private-sdp")
		says(t, a, "private-sdp", "warning", "c=10.0.0.1", "Audio still reached the PBX")
		if len(a.Calls) != 1 || a.Calls[0].Direction != "trunk→PBX" || !slices.Equal(a.PBX, []string{pbxIP}) {
			t.Errorf("calls %+v PBX %v", a.Calls, a.PBX)
		}
	})

	t.Run("media-outside-ranges", func(t *testing.T) {
		// Audio both ways on ports outside the PBX's and the SBC's RTP
		// ranges: found from the SDP all the same.
		capFile := filepath.Join(dir, "outside.pcap")
		td := startTcpdump(t, pbx, "vpbx", capFile)
		uas := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 12000, "-sf", scenario(t, dir, "uas_portsip.xml"), "-i", pbxIP, "-p", "5060",
			"-mi", pbxIP, "-mp", "12000", "-rtp_echo", "-nostdin", "-m", "1")
		runSipp(t, trunk, dir, "-sf", rtpScenario(t, dir, audio, 1500), pbxSIP, "-i", trunkIP, "-p", "5070",
			"-mi", trunkIP, "-mp", "13000", "-timeout", "15s")
		stopServer(t, uas)
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a, "private-sdp")
		media := 0
		for _, s := range a.Streams {
			if len(a.Calls) == 1 && s.CallID == a.Calls[0].CallID && s.Packets > 0 && s.Expected {
				media++
			}
		}
		if media != 2 {
			t.Errorf("streams %+v: want both directions found from the SDP", a.Streams)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		// The caller hangs up while it rings: 487 after CANCEL is the
		// caller's choice, not a fault; nothing may be reported.
		capFile := filepath.Join(dir, "cancel.pcap")
		td := startTcpdump(t, pbx, "vpbx", capFile)
		uas := startServer(t, pbx, dir, "sipp", pbxIP, 5060, 0, "-sf", scenario(t, dir, "uas_cancel.xml"), "-i", pbxIP, "-p", "5060", "-nostdin", "-m", "1")
		runSipp(t, trunk, dir, "-sf", scenario(t, dir, "uac_cancel.xml"), "-s", "1002", pbxSIP, "-i", trunkIP, "-p", "5070", "-timeout", "10s")
		stopServer(t, uas)
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a)
		if len(a.Calls) != 1 || a.Calls[0].FinalStatus != 487 || a.Calls[0].Answered {
			t.Errorf("calls %+v", a.Calls)
		}
	})

	t.Run("kamailio-registrar", func(t *testing.T) {
		// A real registrar: user 1001 registers after a digest
		// challenge; user 9999 does not exist.
		have(t, "kamailio")
		ns := newNetns(t, "ankam")
		capFile := filepath.Join(dir, "kamailio.pcap")
		td := startTcpdump(t, ns, "lo", capFile)
		cfg, err := filepath.Abs(filepath.Join("testdata", "analyze", "kamailio.cfg"))
		must(t, err)
		kam := startServer(t, ns, dir, "kamailio", "127.0.0.1", 5060, 0, "-f", cfg, "-DD", "-E", "-n", "1", "-Y", dir, "-m", "32", "-M", "8")
		// SIGTERM: kamailio's main process then stops its children.
		defer func() {
			_ = kam.cmd.Process.Signal(syscall.SIGTERM)
			stopServer(t, kam)
		}()
		t0 := time.Now()
		runSipp(t, ns, dir, "-sf", scenario(t, dir, "register.xml"), "-s", "1001", "-au", "1001", "-ap", "secret",
			"127.0.0.1:5060", "-i", "127.0.0.1", "-p", "5070", "-timeout", "10s")
		runSipp(t, ns, dir, "-sf", scenario(t, dir, "register_404.xml"), "-s", "9999",
			"127.0.0.1:5060", "-i", "127.0.0.1", "-p", "5071", "-timeout", "10s")
		runSipp(t, ns, dir, "-sf", scenario(t, dir, "uac_code.xml", "@CODE@", "404", "@UA@", "Yealink SIP-T46U"), "-s", "1099",
			"127.0.0.1:5060", "-i", "127.0.0.1", "-p", "5070", "-timeout", "10s")
		t.Logf("SIP exchanges took %s", time.Since(t0).Round(time.Millisecond))
		td.stop(t)
		a := analyzeCapture(t, f.config, capFile)
		wantFindings(t, a, "register-404", "sip-404")
		if len(a.Registrations) != 2 || a.Registrations[0].FinalStatus != 200 || a.Registrations[1].FinalStatus != 404 ||
			a.Registrations[0].Direction != "extension→PBX" {
			t.Errorf("registrations %+v", a.Registrations)
		}
		says(t, a, "register-404", "does not know the account", "9999")
		says(t, a, "sip-404", "The PBX itself answered 404", "extension→PBX")
	})
}
