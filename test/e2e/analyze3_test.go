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
	"encoding/json"
	"fmt"
	"math"
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

// rfc3550Jitter is the maximum RFC 3550 interarrival jitter, in ms, of
// the RTP from src to dst (ip:port) in a capture, with the timestamps read
// at clock Hz; the arrival times and timestamps are tshark's.
func rfc3550Jitter(t *testing.T, file, src, dst string, clock float64) float64 {
	t.Helper()
	sh, sp, _ := strings.Cut(src, ":")
	dh, dp, _ := strings.Cut(dst, ":")
	rows := tsharkFields(t, file, fmt.Sprintf("rtp && ip.src==%s && udp.srcport==%s && ip.dst==%s && udp.dstport==%s", sh, sp, dh, dp),
		"frame.time_epoch", "rtp.timestamp")
	var j, maxJ, prevT, prevTS float64
	for i, r := range rows {
		at, _ := strconv.ParseFloat(r[0], 64)
		ts, _ := strconv.ParseFloat(r[1], 64)
		if i > 0 {
			d := (at - prevT) - (ts-prevTS)/clock
			j += (math.Abs(d) - j) / 16
			maxJ = max(maxJ, j)
		}
		prevT, prevTS = at, ts
	}
	if len(rows) < 2 {
		t.Fatalf("tshark finds %d RTP packets from %s to %s", len(rows), src, dst)
	}
	return maxJ * 1000
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
	// SIPp replays audio with the timing the host's load allows: real
	// jitter, measured and compared with tshark's, but not what these
	// cases are about, so it may not raise a finding.
	cfg, err := os.OpenFile(f.config, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = cfg.WriteString("analyze:\n  quality:\n    jitter_warn_ms: 1000\n    mos_warn: 1.5\n")
	must(t, err)
	must(t, cfg.Close())
	e := &threeEnv{audio: sippAudio(t), dir: t.TempDir()}
	e.phone, e.pbx, e.trunk = threeParty(t)
	// The bundle's default filter: SIP, the PBX's RTP range and ICMP.
	agent := startBundle(t, e.pbx, "--config", f.config, "--duration", "10m", "--iface", "br3", "--json")
	cases := threeCases()
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
	t.Run("bundle-own-analysis", func(t *testing.T) {
		// A bundle that ran its full --duration carries its own
		// analysis (an interrupted one has none): it too says the
		// audio outside the filter was not checked.
		agent := startBundle(t, e.pbx, "--config", f.config, "--duration", "5s", "--iface", "br3", "--json")
		c := outsideRangesCase()
		c.run(t, e)
		b := finishBundle(t, f, agent.wait(t))
		data, err := os.ReadFile(filepath.Join(b.dir, "analysis.json"))
		must(t, err)
		var own analysis
		must(t, json.Unmarshal(data, &own))
		if len(own.Calls) != 1 {
			t.Fatalf("calls %+v", own.Calls)
		}
		part := own.only([]string{own.Calls[0].CallID})
		wantFindings(t, part, c.bundled...)
		c.check(t, part, b.pcap, true)
	})
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
