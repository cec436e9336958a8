//go:build linux

package e2e

// Packet capture end to end: real SIP peers (SIPp), the real binary, and
// tcpdump and tshark as the reference. Every test that sends traffic runs
// its peers, the agent and tcpdump inside private network namespaces, so
// the host's own loopback traffic cannot disturb the counts and no test
// packet leaves the machine.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

// Ports used by the capture tests. The media ports lie in the PBX's default
// RTP range (45000-65000), so the default filter keeps them; the UAC's SIP
// port and the ports test datagrams are sent from lie outside every rule of
// the default filter, so only the far end decides whether a packet matches.
const (
	uasSIPPort   = 5060
	uacSIPPort   = 5070
	uasMediaPort = 47000
	uacMediaPort = 46000
	noisePort    = 7777
	sendPort     = 7000
)

// defaultSIPPorts and the RTP range are what the default filter keeps.
var defaultSIPPorts = []int{5060, 5061, 5063, 5065, 5066, 5067}

const rtpLow, rtpHigh = 45000, 65000

// captureSection is manifest.json's sections.capture.
type captureSection struct {
	Filter        string    `json:"filter"`
	NoRTPPayload  bool      `json:"no_rtp_payload"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Seen          int64     `json:"seen"`
	Written       int64     `json:"written"`
	Bytes         int64     `json:"bytes"`
	KernelDropped int64     `json:"kernel_dropped"`
	FilterDropped int64     `json:"filter_dropped"`
	RTPTrimmed    int64     `json:"rtp_trimmed"`
	Truncated     bool      `json:"truncated"`
	StopReason    string    `json:"stop_reason"`
	Error         string    `json:"error"`
	PerInterface  []struct {
		Name          string `json:"name"`
		LinkType      string `json:"link_type"`
		Seen          int64  `json:"seen"`
		Written       int64  `json:"written"`
		KernelDropped int64  `json:"kernel_dropped"`
		Error         string `json:"error"`
	} `json:"per_interface"`
}

// TestCaptureLoopbackCalls: ten SIPp calls with RTP in both directions,
// made entirely inside a 5 s window on loopback. The agent's pcapng holds
// exactly the packets tcpdump saw with the manifest's filter (no duplicate
// of loopback's outgoing copy, none missing), tshark decodes one INVITE,
// 180, 200, ACK, BYE and 200 per call SIPp reports as successful, and every
// packet is on a port the filter names.
func TestCaptureLoopbackCalls(t *testing.T) {
	needRoot(t)
	have(t, "ip", "sipp", "tcpdump", "tshark")
	audio := sippAudio(t)
	const calls = 10
	ns := newNetns(t, "pbxcap")
	f := newFixture(t)
	work := t.TempDir()

	startUAS(t, ns, work)
	ref := filepath.Join(work, "tcpdump.pcap")
	dump := startTcpdump(t, ns, "lo", ref)
	agent := startBundle(t, ns, "--config", f.config, "--duration", "5s", "--iface", "lo", "--json")
	ok := placeCalls(t, ns, work, audio, calls)
	callsDone := time.Now()
	r := agent.wait(t)
	dump.stop(t)

	if ok != calls {
		t.Fatalf("SIPp reports %d successful calls of %d", ok, calls)
	}
	c := finishBundle(t, f, r)
	inWindow(t, c, callsDone)
	if c.sec.Truncated || c.sec.KernelDropped != 0 || c.sec.Error != "" {
		t.Errorf("capture section: truncated=%v kernel_dropped=%d error=%q", c.sec.Truncated, c.sec.KernelDropped, c.sec.Error)
	}
	if c.sec.StopReason == "" {
		t.Errorf("capture section has no stop_reason")
	}
	checkBundleAnalysis(t, c.dir, ok)

	// tcpdump's capture cut down with the manifest's filter (which must be
	// a valid tcpdump expression) is the reference.
	want := filepath.Join(work, "tcpdump-filtered.pcap")
	if out, err := exec.Command("tcpdump", "-Z", "root", "-n", "-r", ref, "-w", want, c.sec.Filter).CombinedOutput(); err != nil {
		t.Fatalf("tcpdump rejects the manifest's filter %q: %v\n%s", c.sec.Filter, err, out)
	}
	got := packetList(t, c.pcap)
	exp := packetList(t, want)
	if len(got) == 0 {
		t.Fatal("the capture holds no packets")
	}
	if !slices.Equal(got, exp) {
		t.Errorf("the capture holds %d packets, tcpdump %d with the same filter; first differences:\n%s",
			len(got), len(exp), listDiff(got, exp))
	}
	if c.sec.Written != int64(len(got)) {
		t.Errorf("manifest says %d packets written, the pcapng holds %d", c.sec.Written, len(got))
	}
	if len(c.sec.PerInterface) != 1 || c.sec.PerInterface[0].Name != "lo" || c.sec.PerInterface[0].Written != int64(len(got)) {
		t.Errorf("per_interface should list lo with %d packets: %+v", len(got), c.sec.PerInterface)
	}

	// SIP: one message of each kind per successful call, and the same
	// totals (retransmissions included) as tcpdump.
	gotAll, gotPerCall := sipCounts(t, c.pcap)
	expAll, _ := sipCounts(t, want)
	for _, kind := range []string{"INVITE", "180 INVITE", "200 INVITE", "ACK", "BYE", "200 BYE"} {
		if gotPerCall[kind] != ok {
			t.Errorf("%s: tshark decodes it in %d calls, SIPp made %d successful calls", kind, gotPerCall[kind], ok)
		}
		if gotAll[kind] != expAll[kind] {
			t.Errorf("%s: %d in the capture, %d in tcpdump's", kind, gotAll[kind], expAll[kind])
		}
	}

	// Every packet is on a port the filter names, and RTP flowed both ways.
	rtp := map[string]int{}
	// SIP over TCP on the SIP ports is in the filter too: other programs on
	// this host's loopback (a TLS probe of port 5061, say) may add some.
	for _, row := range tsharkFields(t, c.pcap, "", "ip.proto", "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport") {
		if row[0] == "1" {
			continue // ICMP is in the default filter
		}
		if row[0] == "6" {
			row[1], row[2] = row[3], row[4]
		}
		src, _ := strconv.Atoi(row[1])
		dst, _ := strconv.Atoi(row[2])
		if (row[0] != "17" && row[0] != "6") || !(filterPort(src) || filterPort(dst)) {
			t.Errorf("packet outside the filter: proto %s ports %s > %s", row[0], row[1], row[2])
		}
		if inRTPRange(src) && inRTPRange(dst) {
			rtp[row[1]+">"+row[2]]++
		}
	}
	fwd := strconv.Itoa(uacMediaPort) + ">" + strconv.Itoa(uasMediaPort)
	back := strconv.Itoa(uasMediaPort) + ">" + strconv.Itoa(uacMediaPort)
	if rtp[fwd] == 0 || rtp[back] == 0 {
		t.Errorf("RTP missing from the capture: %v", rtp)
	}
	t.Logf("%d packets (%d not RTP, RTP %v), manifest seen=%d written=%d filter_dropped=%d",
		len(got), len(got)-rtp[fwd]-rtp[back], rtp, c.sec.Seen, c.sec.Written, c.sec.FilterDropped)
}

// TestCaptureFilter: datagrams to an unrelated port are not in a default
// capture and are in a --all capture taken over the same window; SIP-port
// datagrams sent alongside are in both.
func TestCaptureFilter(t *testing.T) {
	needRoot(t)
	have(t, "ip", "tshark")
	const n = 20
	ns := newNetns(t, "pbxflt")
	noise := ns.listenUDP(t, fmt.Sprintf("127.0.0.1:%d", noisePort))
	sip := ns.listenUDP(t, fmt.Sprintf("127.0.0.1:%d", uasSIPPort))
	fDef, fAll := newFixture(t), newFixture(t)
	// Both runs start together, so their windows overlap.
	def := launchBundle(t, ns, "--config", fDef.config, "--duration", "4s", "--iface", "lo", "--json")
	all := launchBundle(t, ns, "--config", fAll.config, "--duration", "4s", "--iface", "lo", "--all", "--json")
	def.awaitReady(t)
	all.awaitReady(t)

	from := ns.dialUDP(t, fmt.Sprintf("127.0.0.1:%d", sendPort), fmt.Sprintf("127.0.0.1:%d", noisePort))
	sendDatagrams(t, from, n, 200, "unrelated")
	from = ns.dialUDP(t, fmt.Sprintf("127.0.0.1:%d", sendPort+1), fmt.Sprintf("127.0.0.1:%d", uasSIPPort))
	sendDatagrams(t, from, n, 200, "OPTIONS sip:probe@127.0.0.1 SIP/2.0")
	noise.await(t, n)
	sip.await(t, n)
	sent := time.Now()
	rDef, rAll := def.wait(t), all.wait(t)

	byPort := func(c capturedBundle) map[string]int {
		m := map[string]int{}
		for _, row := range tsharkFields(t, c.pcap, "udp", "udp.dstport") {
			m[row[0]]++
		}
		return m
	}
	cDef := finishBundle(t, fDef, rDef)
	inWindow(t, cDef, sent)
	got := byPort(cDef)
	if got[strconv.Itoa(noisePort)] != 0 || got[strconv.Itoa(uasSIPPort)] != n || len(got) != 1 {
		t.Errorf("default filter %q: packets by destination port %v, want only %d to %d", cDef.sec.Filter, got, n, uasSIPPort)
	}
	cAll := finishBundle(t, fAll, rAll)
	inWindow(t, cAll, sent)
	got = byPort(cAll)
	if got[strconv.Itoa(noisePort)] != n || got[strconv.Itoa(uasSIPPort)] != n {
		t.Errorf("--all: packets by destination port %v, want %d to %d and %d to %d", got, n, noisePort, n, uasSIPPort)
	}
	if cAll.sec.Filter != "" {
		t.Errorf("--all capture reports filter %q, want the empty expression (every packet)", cAll.sec.Filter)
	}
}

// TestCaptureAnyInterface: without --iface the agent captures on every
// interface of its namespace; packets that came over a veth and packets on
// loopback are each tagged with their own interface in the pcapng, and the
// manifest counts both interfaces.
func TestCaptureAnyInterface(t *testing.T) {
	needRoot(t)
	have(t, "ip", "tshark")
	const overVeth, overLo = 15, 10
	a, b := newNetns(t, "pbxa"), newNetns(t, "pbxb")
	suffix := fmt.Sprintf("%06x", rand.IntN(1<<24))
	vethA, vethB := "pbxva"+suffix, "pbxvb"+suffix
	a.ip(t, "link", "add", vethA, "type", "veth", "peer", "name", vethB, "netns", b.name)
	a.ip(t, "addr", "add", "10.250.0.1/30", "dev", vethA)
	b.ip(t, "addr", "add", "10.250.0.2/30", "dev", vethB)
	a.ip(t, "link", "set", vethA, "up")
	b.ip(t, "link", "set", vethB, "up")

	sink := a.listenUDP(t, fmt.Sprintf("0.0.0.0:%d", uasSIPPort))
	remote := b.dialUDP(t, fmt.Sprintf("10.250.0.2:%d", sendPort), fmt.Sprintf("10.250.0.1:%d", uasSIPPort))
	local := a.dialUDP(t, fmt.Sprintf("127.0.0.1:%d", sendPort), fmt.Sprintf("127.0.0.1:%d", uasSIPPort))
	// One datagram before the window resolves ARP, so none of the
	// counted ones waits in the neighbour queue.
	sendDatagrams(t, remote, 1, 100, "warm-up")
	sink.await(t, 1)

	f := newFixture(t)
	agent := startBundle(t, a, "--config", f.config, "--duration", "3s", "--json")
	sendDatagrams(t, remote, overVeth, 300, "REGISTER sip:10.250.0.1 SIP/2.0")
	sendDatagrams(t, local, overLo, 300, "OPTIONS sip:127.0.0.1 SIP/2.0")
	sink.await(t, 1+overVeth+overLo)
	sent := time.Now()
	c := finishBundle(t, f, agent.wait(t))
	inWindow(t, c, sent)

	seen := map[string]int{}
	perIface := map[string]int64{}
	for _, row := range tsharkFields(t, c.pcap, "", "frame.interface_name", "ip.src", "udp.dstport", "frame.packet_flags_direction") {
		perIface[row[0]]++
		if row[2] == strconv.Itoa(uasSIPPort) {
			seen[row[0]+" "+row[1]]++
			if row[3] != "0x00000001" {
				t.Errorf("a received packet on %s from %s is not marked inbound (direction %q)", row[0], row[1], row[3])
			}
		}
	}
	want := map[string]int{vethA + " 10.250.0.2": overVeth, "lo 127.0.0.1": overLo}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("SIP-port packets by interface and source: %v, want %v", seen, want)
	}
	names := map[string]bool{}
	for _, pi := range c.sec.PerInterface {
		names[pi.Name] = true
		if pi.LinkType == "" || pi.Error != "" {
			t.Errorf("per_interface %s: link_type %q error %q", pi.Name, pi.LinkType, pi.Error)
		}
		if pi.Written != perIface[pi.Name] {
			t.Errorf("per_interface %s: written %d, the pcapng holds %d packets of it", pi.Name, pi.Written, perIface[pi.Name])
		}
	}
	if len(names) != 2 || !names["lo"] || !names[vethA] {
		t.Errorf("per_interface lists %v, want lo and %s", names, vethA)
	}
}

// TestCaptureSizeCap: under a steady load a --max-capture-size or
// --max-packets capture stops early; the pcapng is complete (tshark reads
// it without complaint), within the cap, and the manifest says why it
// stopped; the bundle still verifies.
func TestCaptureSizeCap(t *testing.T) {
	needRoot(t)
	have(t, "ip", "tshark")
	ns := newNetns(t, "pbxcap")
	ns.listenUDP(t, fmt.Sprintf("127.0.0.1:%d", uasSIPPort))
	fBytes, fPackets := newFixture(t), newFixture(t)

	// About 6 MB/s of SIP-port datagrams from before the runs start until
	// both are done, so each window sees load whenever it opens.
	conn := ns.dialUDP(t, fmt.Sprintf("127.0.0.1:%d", sendPort), fmt.Sprintf("127.0.0.1:%d", uasSIPPort))
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		msg := bytes.Repeat([]byte("x"), 600)
		copy(msg, "MESSAGE sip:load@127.0.0.1 SIP/2.0\r\n")
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range 10 {
				if _, err := conn.Write(msg); err == nil {
					sent.Add(1)
				}
			}
		}
	})
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)
	bySize := launchBundle(t, ns, "--config", fBytes.config, "--duration", "3s", "--iface", "lo", "--max-capture-size", "64KiB", "--json")
	byCount := launchBundle(t, ns, "--config", fPackets.config, "--duration", "3s", "--iface", "lo", "--max-packets", "50", "--json")
	rSize, rCount := bySize.wait(t), byCount.wait(t)
	stopLoad()

	for _, tc := range []struct {
		name  string
		f     *pbxFixture
		r     result
		check func(t *testing.T, c capturedBundle) string
	}{
		{"max-capture-size", fBytes, rSize, func(t *testing.T, c capturedBundle) string {
			if size := pcapSize(t, c); size > 64<<10 {
				return fmt.Sprintf("pcapng is %d bytes, more than 64 KiB", size)
			}
			return ""
		}},
		{"max-packets", fPackets, rCount, func(t *testing.T, c capturedBundle) string {
			if c.sec.Written != 50 {
				return fmt.Sprintf("%d packets written, want 50", c.sec.Written)
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := finishBundle(t, tc.f, tc.r)
			n := len(tsharkFields(t, c.pcap, "", "frame.number"))
			if int64(n) != c.sec.Written {
				t.Errorf("tshark reads %d packets, the manifest says %d were written", n, c.sec.Written)
			}
			if !c.sec.Truncated || c.sec.StopReason == "" || strings.Contains(c.sec.StopReason, "cancel") {
				t.Errorf("capture section: truncated=%v stop_reason=%q, want truncated with the limit as reason", c.sec.Truncated, c.sec.StopReason)
			}
			if msg := tc.check(t, c); msg != "" {
				t.Error(msg)
			}
			if int64(n) >= sent.Load() {
				t.Errorf("the capture holds %d packets of %d sent: it did not stop early", n, sent.Load())
			}
			t.Logf("%s: %d packets, stop_reason %q, %d datagrams sent", tc.name, n, c.sec.StopReason, sent.Load())
		})
	}
}

// TestCaptureNoRTPPayload: with --no-rtp-payload every RTP packet of real
// calls is cut right after the RTP header (the audio is gone, the original
// length is kept), while SIP packets are whole.
func TestCaptureNoRTPPayload(t *testing.T) {
	needRoot(t)
	have(t, "ip", "sipp", "tshark")
	audio := sippAudio(t)
	const calls = 3
	ns := newNetns(t, "pbxrtp")
	f := newFixture(t)
	work := t.TempDir()
	startUAS(t, ns, work)
	agent := startBundle(t, ns, "--config", f.config, "--duration", "4s", "--iface", "lo", "--no-rtp-payload", "--json")
	if ok := placeCalls(t, ns, work, audio, calls); ok != calls {
		t.Fatalf("SIPp reports %d successful calls of %d", ok, calls)
	}
	callsDone := time.Now()
	c := finishBundle(t, f, agent.wait(t))
	inWindow(t, c, callsDone)
	if !c.sec.NoRTPPayload {
		t.Errorf("manifest does not record no_rtp_payload")
	}
	// Ethernet (loopback) 14 + IPv4 20 + UDP 8 + RTP 12; SIPp's audio
	// has no CSRC list.
	const headers = 14 + 20 + 8 + 12
	var rtp, sip int64
	var bad []string
	for _, row := range tsharkFields(t, c.pcap, "udp", "frame.cap_len", "frame.len", "udp.srcport", "udp.dstport") {
		caplen, _ := strconv.Atoi(row[0])
		length, _ := strconv.Atoi(row[1])
		src, _ := strconv.Atoi(row[2])
		dst, _ := strconv.Atoi(row[3])
		switch {
		case inRTPRange(src) && inRTPRange(dst):
			rtp++
			if caplen > headers || length <= headers {
				bad = append(bad, fmt.Sprintf("RTP %d > %d: %d of %d bytes kept, want the %d header bytes only", src, dst, caplen, length, headers))
			}
		case src == uasSIPPort || dst == uasSIPPort:
			sip++
			if caplen != length {
				bad = append(bad, fmt.Sprintf("SIP %d > %d: %d of %d bytes kept, want all", src, dst, caplen, length))
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d packets cut wrongly, e.g.:\n%s", len(bad), strings.Join(bad[:min(len(bad), 5)], "\n"))
	}
	if rtp == 0 || sip < 6*calls {
		t.Fatalf("capture holds %d RTP and %d SIP packets", rtp, sip)
	}
	if c.sec.RTPTrimmed != rtp {
		t.Errorf("manifest rtp_trimmed=%d, the capture holds %d RTP packets", c.sec.RTPTrimmed, rtp)
	}
}

// TestCaptureNoPermission: without root or CAP_NET_RAW the bundle is still
// made (exit 0), the terminal names the fix on one line, and the manifest
// lists the capture as missing with that reason.
func TestCaptureNoPermission(t *testing.T) {
	needRoot(t)
	have(t, "setpriv")
	f := newFixture(t)
	// The unprivileged user must reach the fixture (under the test's
	// private temporary folders), the binary and the writable folders.
	must(t, os.Chmod(filepath.Dir(f.root), 0o755))
	must(t, os.Chmod(f.root, 0o755))
	shared, err := os.MkdirTemp("", "pbxagent-nopriv-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(shared) })
	must(t, os.Chmod(shared, 0o777))
	exe := filepath.Join(shared, "pbxagent")
	data, err := os.ReadFile(bin)
	must(t, err)
	must(t, os.WriteFile(exe, data, 0o755))
	cfgText, err := os.ReadFile(f.config)
	must(t, err)
	state, out := filepath.Join(shared, "state"), filepath.Join(shared, "out")
	cfg := filepath.Join(shared, "pbxagent.yaml")
	must(t, os.WriteFile(cfg, []byte(strings.NewReplacer(f.state, state, f.out, out).Replace(string(cfgText))), 0o644))

	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all", "--bounding-set=-all", "--",
		exe, "bundle", "--config", cfg, "--duration", "2s")
	cmd.Dir = shared
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", ee.ExitCode(), stdout.String(), stderr.String())
	} else if err != nil {
		t.Fatal(err)
	}

	// Each stream names the fix once, on one line.
	for _, s := range []struct{ name, text string }{{"stdout", stdout.String()}, {"stderr", stderr.String()}} {
		var lines []string
		for _, l := range strings.Split(s.text, "\n") {
			if strings.Contains(l, "CAP_NET_RAW") {
				lines = append(lines, l)
				if !strings.Contains(l, "root") || !strings.Contains(l, "--no-capture") {
					t.Errorf("%s: the line naming CAP_NET_RAW does not also name root and --no-capture: %s", s.name, l)
				}
			}
		}
		if len(lines) > 1 {
			t.Errorf("%s repeats the capture message %d times:\n%s", s.name, len(lines), strings.Join(lines, "\n"))
		}
	}
	if !strings.Contains(stdout.String()+stderr.String(), "CAP_NET_RAW") {
		t.Errorf("the output does not say how to allow capture (root, CAP_NET_RAW, --no-capture)\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
	}

	archives, err := filepath.Glob(filepath.Join(out, "pbx-support-*.tar.gz"))
	must(t, err)
	if len(archives) != 1 {
		t.Fatalf("want one bundle in %s, found %v\nstdout: %s", out, archives, stdout.String())
	}
	if !strings.Contains(stdout.String(), archives[0]) {
		t.Errorf("stdout does not name the bundle %s:\n%s", archives[0], stdout.String())
	}
	dir := extract(t, archives[0])
	m := readManifest(t, dir)
	checkHashes(t, dir, m)
	found := false
	for _, miss := range m.Missing {
		if miss.Path == "capture/capture.pcapng" {
			found = true
			if !strings.Contains(miss.Reason, "CAP_NET_RAW") || !strings.Contains(miss.Reason, "permission") {
				t.Errorf("missing capture reason %q does not say why and how to fix it", miss.Reason)
			}
		}
	}
	if !found {
		t.Errorf("manifest does not list capture/capture.pcapng as missing: %+v", m.Missing)
	}
	if _, err := os.Stat(filepath.Join(dir, "capture", "capture.pcapng")); err == nil {
		t.Errorf("the bundle holds a capture file although capture was not permitted")
	}
	if v := runAgent(t, "verify", "--config", cfg, archives[0]); v.code != 0 {
		t.Errorf("verify: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
}

// netns is a private network namespace, deleted when the test ends.
type netns struct{ name string }

func newNetns(t *testing.T, prefix string) *netns {
	t.Helper()
	n := &netns{name: fmt.Sprintf("%s-%06x", prefix, rand.IntN(1<<24))}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", n.name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", n.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v\n%s", n.name, err, out)
		}
	})
	n.ip(t, "link", "set", "lo", "up")
	return n
}

// ip runs `ip -n NS args...`.
func (n *netns) ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", n.name}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s %v: %v\n%s", n.name, args, err, out)
	}
}

// command returns a command that runs inside the namespace (ip netns exec
// replaces itself with the program, so the process id is the program's).
func (n *netns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name, name}, args...)...)
}

// do runs fn on an OS thread that has joined the namespace; sockets it
// creates belong to the namespace. The thread is never unlocked, so it ends
// with its goroutine instead of returning to the pool.
func (n *netns) do(t *testing.T, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		errc <- fn()
	}()
	must(t, <-errc)
}

// udpSink is a UDP socket in a namespace that counts the datagrams it
// receives: test traffic is delivered (no ICMP port unreachable) and its
// arrival can be awaited.
type udpSink struct {
	addr string
	n    atomic.Int64
}

func (n *netns) listenUDP(t *testing.T, addr string) *udpSink {
	t.Helper()
	s := &udpSink{addr: addr}
	var conn net.PacketConn
	n.do(t, func() (err error) {
		conn, err = net.ListenPacket("udp4", addr)
		return err
	})
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, _, err := conn.ReadFrom(buf); err != nil {
				return
			}
			s.n.Add(1)
		}
	}()
	return s
}

// await waits until the sink has received want datagrams in all.
func (s *udpSink) await(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s received %d datagrams, want %d", s.addr, s.n.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dialUDP returns a UDP socket in the namespace bound to local and
// connected to remote.
func (n *netns) dialUDP(t *testing.T, local, remote string) *net.UDPConn {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp4", local)
	must(t, err)
	ra, err := net.ResolveUDPAddr("udp4", remote)
	must(t, err)
	var conn *net.UDPConn
	n.do(t, func() (err error) {
		conn, err = net.DialUDP("udp4", la, ra)
		return err
	})
	t.Cleanup(func() { conn.Close() })
	return conn
}

// sendDatagrams sends count datagrams of size bytes starting with text.
func sendDatagrams(t *testing.T, conn *net.UDPConn, count, size int, text string) {
	t.Helper()
	for i := range count {
		msg := bytes.Repeat([]byte{' '}, size)
		copy(msg, fmt.Sprintf("%s\r\nX-Seq: %d\r\n", text, i))
		if _, err := conn.Write(msg); err != nil {
			t.Fatalf("send to %s: %v", conn.RemoteAddr(), err)
		}
	}
}

// bgProc is a background process whose stderr is watched for a line saying
// it is ready; it is killed (by its process id) if it still runs when the
// test ends.
type bgProc struct {
	name   string
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr strings.Builder
	ready  chan struct{}
	done   chan struct{}
	code   int
}

// startProc starts cmd; awaitReady waits for readyText on its stderr.
func startProc(t *testing.T, name string, cmd *exec.Cmd, readyText string) *bgProc {
	t.Helper()
	p := &bgProc{name: name, cmd: cmd, ready: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout = &p.stdout
	pipe, err := cmd.StderrPipe()
	must(t, err)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(p.kill)
	go func() {
		var once sync.Once
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if readyText != "" && strings.Contains(line, readyText) {
				once.Do(func() { close(p.ready) })
			}
		}
		_, _ = io.Copy(io.Discard, pipe)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	return p
}

func (p *bgProc) awaitReady(t *testing.T) {
	t.Helper()
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("%s exited (code %d) before it was ready\nstdout: %s\nstderr: %s", p.name, p.code, p.stdout.String(), p.errText())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not get ready within 60 s\nstderr: %s", p.name, p.errText())
	}
}

func (p *bgProc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *bgProc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits for the process to end and returns what it printed.
func (p *bgProc) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		p.kill()
		t.Fatalf("%s did not finish\nstderr: %s", p.name, p.errText())
	}
	return result{code: p.code, stdout: p.stdout.String(), stderr: p.errText()}
}

// launchBundle starts pbxagent bundle inside the namespace; awaitReady
// returns once the agent says it is capturing.
func launchBundle(t *testing.T, ns *netns, args ...string) *bgProc {
	t.Helper()
	return startProc(t, "pbxagent bundle", ns.command(bin, append([]string{"bundle"}, args...)...),
		"capturing packets and following callmanager.log; reproduce the problem now")
}

// startBundle starts pbxagent bundle inside the namespace and returns once
// the agent says it is capturing.
func startBundle(t *testing.T, ns *netns, args ...string) *bgProc {
	t.Helper()
	p := launchBundle(t, ns, args...)
	p.awaitReady(t)
	return p
}

// inWindow checks that test traffic which ended at sent ended inside the
// capture window; otherwise the counts would prove nothing.
func inWindow(t *testing.T, c capturedBundle, sent time.Time) {
	t.Helper()
	if !sent.Before(c.sec.End) {
		t.Fatalf("the test traffic ended at %s, after the capture window (%s): the host is too slow for this test", sent.Format(time.RFC3339Nano), c.sec.End.Format(time.RFC3339Nano))
	}
}

// tcpdumpRun is a reference capture taken with tcpdump.
type tcpdumpRun struct{ *bgProc }

func startTcpdump(t *testing.T, ns *netns, iface, file string) tcpdumpRun {
	t.Helper()
	// -Z root: the output file is in a folder only root may write. In
	// immediate mode every ring frame is snaplen bytes, so a small snaplen
	// (the test packets are shorter) and a 32 MiB buffer keep a busy host
	// from dropping packets.
	cmd := ns.command("tcpdump", "-i", iface, "-n", "-Z", "root", "--immediate-mode", "-U",
		"-s", "4096", "-B", "32768", "-w", file)
	p := startProc(t, "tcpdump", cmd, "listening on")
	p.awaitReady(t)
	return tcpdumpRun{p}
}

// stop ends tcpdump and checks that the kernel dropped nothing.
func (d tcpdumpRun) stop(t *testing.T) {
	t.Helper()
	must(t, d.cmd.Process.Signal(os.Interrupt))
	r := d.wait(t)
	if r.code != 0 {
		t.Fatalf("tcpdump exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains("\n"+r.stderr, "\n0 packets dropped by kernel") {
		t.Fatalf("tcpdump lost packets, it cannot serve as the reference:\n%s", r.stderr)
	}
}

// sippAudio returns SIPp's G.711 A-law capture file.
func sippAudio(t *testing.T) string {
	t.Helper()
	return testutil.NeedFile(t, "SIPp's pcap/g711a.pcap (package sip-tester)",
		"/usr/share/sip-tester/g711a.pcap", "/usr/share/sipp/pcap/g711a.pcap", "/usr/local/share/sipp/pcap/g711a.pcap")
}

// startUAS starts a SIPp UAS on 127.0.0.1:5060 in the namespace that
// answers every call and echoes the caller's RTP from its media port.
func startUAS(t *testing.T, ns *netns, dir string) *bgProc {
	t.Helper()
	cmd := ns.command("sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(uasSIPPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(uasMediaPort), "-rtp_echo", "-nostdin")
	cmd.Dir = dir
	p := startProc(t, "sipp UAS", cmd, "")
	// Ready when both its SIP and media sockets are bound; the namespace's
	// sockets show in /proc/PID/net/udp once ip netns exec became sipp.
	deadline := time.Now().Add(20 * time.Second)
	pid := strconv.Itoa(cmd.Process.Pid)
	for {
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		udp, _ := os.ReadFile("/proc/" + pid + "/net/udp")
		if strings.TrimSpace(string(comm)) == "sipp" &&
			strings.Contains(string(udp), fmt.Sprintf("0100007F:%04X ", uasSIPPort)) &&
			strings.Contains(string(udp), fmt.Sprintf("0100007F:%04X ", uasMediaPort)) {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("sipp UAS exited (code %d)\n%s%s", p.code, tailText(p.stdout.String()), p.errText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sipp UAS did not bind its ports\n%s", p.errText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// placeCalls makes calls with RTP from a SIPp UAC to the UAS, at 10 calls a
// second, and returns how many succeeded according to SIPp's statistics.
func placeCalls(t *testing.T, ns *netns, dir, audio string, calls int) int {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join("testdata", "uac_rtp.xml"))
	must(t, err)
	scenario := filepath.Join(dir, "uac_rtp.xml")
	must(t, os.WriteFile(scenario, bytes.ReplaceAll(tmpl, []byte("@G711A_PCAP@"), []byte(audio)), 0o644))
	stat := filepath.Join(dir, "uac_stat.csv")
	cmd := ns.command("sipp", "-sf", scenario, fmt.Sprintf("127.0.0.1:%d", uasSIPPort),
		"-i", "127.0.0.1", "-p", strconv.Itoa(uacSIPPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(uacMediaPort),
		"-m", strconv.Itoa(calls), "-r", "10", "-nostdin", "-timeout", "30s", "-timeout_error",
		"-trace_stat", "-stf", stat, "-stat_delimiter", ",")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sipp UAC: %v\n%s", err, tailText(string(out)))
	}
	data, err := os.ReadFile(stat)
	must(t, err)
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 {
		t.Fatalf("SIPp statistics %s hold no data:\n%s", stat, data)
	}
	col := slices.Index(strings.Split(lines[0], ","), "SuccessfulCall(C)")
	last := strings.Split(lines[len(lines)-1], ",")
	if col < 0 || col >= len(last) {
		t.Fatalf("no SuccessfulCall(C) column in %s:\n%s", stat, data)
	}
	n, err := strconv.Atoi(strings.TrimSpace(last[col]))
	must(t, err)
	return n
}

func tailText(s string) string {
	if len(s) > 3000 {
		return "..." + s[len(s)-3000:]
	}
	return s
}

// capturedBundle is a finished bundle with a capture, extracted.
type capturedBundle struct {
	dir  string
	pcap string
	m    manifest
	sec  captureSection
}

// finishBundle checks a bundle run that should hold a capture: exit 0, the
// hashes, the signature (pbxagent verify), and returns the extracted
// capture and its manifest section.
func finishBundle(t *testing.T, f *pbxFixture, r result) capturedBundle {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("bundle exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	b := parseBundleJSON(t, r)
	if v := runAgent(t, "verify", "--config", f.config, b.Path); v.code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	c := capturedBundle{dir: extract(t, b.Path)}
	c.m = readManifest(t, c.dir)
	checkHashes(t, c.dir, c.m)
	raw, ok := c.m.Sections["capture"]
	if !ok {
		t.Fatalf("manifest has no capture section; missing: %+v\nstderr: %s", c.m.Missing, r.stderr)
	}
	must(t, json.Unmarshal(raw, &c.sec))
	c.pcap = filepath.Join(c.dir, "capture", "capture.pcapng")
	if _, err := os.Stat(c.pcap); err != nil {
		t.Fatalf("no capture in the bundle: %v; missing: %+v", err, c.m.Missing)
	}
	// The --json summary agrees with the manifest.
	var out struct {
		Capture *struct {
			Packets    int64  `json:"packets"`
			Truncated  bool   `json:"truncated"`
			StopReason string `json:"stop_reason"`
			Filter     string `json:"filter"`
		} `json:"capture"`
	}
	must(t, json.Unmarshal([]byte(r.stdout), &out))
	if s := out.Capture; s == nil {
		t.Errorf("--json output has no capture summary:\n%s", r.stdout)
	} else if s.Packets != c.sec.Written || s.Truncated != c.sec.Truncated || s.StopReason != c.sec.StopReason || s.Filter != c.sec.Filter {
		t.Errorf("--json capture summary %+v disagrees with the manifest (written %d, truncated %v, stop_reason %q, filter %q)",
			*s, c.sec.Written, c.sec.Truncated, c.sec.StopReason, c.sec.Filter)
	}
	return c
}

// pcapSize returns the size of the capture file as the manifest lists it.
func pcapSize(t *testing.T, c capturedBundle) int64 {
	t.Helper()
	for _, f := range c.m.Files {
		if f.Path == "capture/capture.pcapng" {
			return f.Size
		}
	}
	t.Fatal("capture/capture.pcapng is not in the manifest")
	return 0
}

// tsharkFields reads a capture with tshark and returns the fields of each
// packet (matching the display filter, if any). tshark must read the whole
// file without an error or a warning (a file cut short is one).
func tsharkFields(t *testing.T, file, display string, fields ...string) [][]string {
	t.Helper()
	args := []string{"-r", file, "-n", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"}
	if display != "" {
		args = append(args, "-Y", display)
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command("tshark", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var complaints []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Running as user") {
			complaints = append(complaints, l)
		}
	}
	if err != nil || len(complaints) > 0 {
		t.Fatalf("tshark %v: %v\n%s", args, err, strings.Join(complaints, "\n"))
	}
	var rows [][]string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if l == "" {
			continue
		}
		row := strings.Split(l, "\t")
		for len(row) < len(fields) {
			row = append(row, "")
		}
		rows = append(rows, row)
	}
	return rows
}

// packetList describes every packet of a capture by addresses, protocol,
// ports, length and a digest of its UDP payload, sorted: two captures of
// the same traffic give the same list.
func packetList(t *testing.T, file string) []string {
	t.Helper()
	var out []string
	for _, r := range tsharkFields(t, file, "", "ip.src", "ip.dst", "ip.proto", "udp.srcport", "udp.dstport", "frame.len", "udp.payload") {
		sum := sha256.Sum256([]byte(r[6]))
		out = append(out, fmt.Sprintf("%s:%s > %s:%s proto %s len %s payload %s", r[0], r[3], r[1], r[4], r[2], r[5], hex.EncodeToString(sum[:6])))
	}
	slices.Sort(out)
	return out
}

// listDiff shows up to ten lines that are in one sorted list and not the
// other.
func listDiff(got, want []string) string {
	count := map[string]int{}
	for _, s := range got {
		count[s]++
	}
	for _, s := range want {
		count[s]--
	}
	var b strings.Builder
	n := 0
	for _, s := range slices.Sorted(maps.Keys(count)) {
		if c := count[s]; c != 0 && n < 10 {
			fmt.Fprintf(&b, "  %+d in the capture: %s\n", c, s)
			n++
		}
	}
	return b.String()
}

// sipCounts counts the SIP messages of a capture by kind ("INVITE",
// "180 INVITE", "200 BYE", ...): all of them, and the calls (Call-IDs) each
// kind appears in.
func sipCounts(t *testing.T, file string) (all, calls map[string]int) {
	t.Helper()
	all, calls = map[string]int{}, map[string]int{}
	seen := map[string]bool{}
	for _, r := range tsharkFields(t, file, "sip", "sip.Method", "sip.Status-Code", "sip.CSeq.method", "sip.Call-ID") {
		kind := r[0]
		if kind == "" {
			kind = r[1] + " " + r[2]
		}
		all[kind]++
		if key := kind + "\x00" + r[3]; !seen[key] {
			seen[key] = true
			calls[kind]++
		}
	}
	return all, calls
}

func inRTPRange(p int) bool { return p >= rtpLow && p <= rtpHigh }

func filterPort(p int) bool { return inRTPRange(p) || slices.Contains(defaultSIPPorts, p) }

// checkBundleAnalysis checks the analysis the bundle carries: every call
// SIPp made is there and answered, no call is reported as failed, and the
// report page exists.
func checkBundleAnalysis(t *testing.T, dir string, calls int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "analysis.json"))
	if err != nil {
		t.Fatalf("the bundle carries no analysis.json: %v", err)
	}
	var rep struct {
		Calls []struct {
			Answered    bool `json:"answered"`
			FinalStatus int  `json:"final_status"`
		} `json:"calls"`
		Findings []struct {
			Severity string `json:"severity"`
			Code     string `json:"code"`
		} `json:"findings"`
	}
	must(t, json.Unmarshal(data, &rep))
	answered := 0
	for _, c := range rep.Calls {
		if c.Answered && c.FinalStatus == 200 {
			answered++
		}
	}
	if len(rep.Calls) != calls || answered != calls {
		t.Errorf("analysis.json: %d calls, %d answered; SIPp made %d successful calls", len(rep.Calls), answered, calls)
	}
	// Overlapping SIPp calls replay the same audio file with one SSRC to
	// the same ports, so media quality findings may appear; call failures
	// must not.
	for _, f := range rep.Findings {
		for _, bad := range []string{"sip-", "no-response", "no-audio", "one-way-audio", "register-", "icmp-"} {
			if strings.HasPrefix(f.Code, bad) {
				t.Errorf("analysis reports %s %s for calls that all succeeded", f.Severity, f.Code)
			}
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !bytes.Contains(html, []byte("<svg")) && len(rep.Calls) > 0 {
		t.Errorf("report.html missing or without a ladder: %v", err)
	}
}
