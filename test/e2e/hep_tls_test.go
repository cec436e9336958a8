//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kamailioCfg writes a Kamailio configuration from testdata/hep with
// @TLSCFG@ and @DIR@ replaced.
func kamailioCfg(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "hep", name))
	must(t, err)
	s := strings.NewReplacer("@TLSCFG@", filepath.Join(dir, "tls.cfg"), "@DIR@", dir).Replace(string(data))
	p := filepath.Join(dir, name)
	write(t, p, s)
	return p
}

// TestHEPFeedTLSLeg: SIPp (UDP) → Kamailio A → TLS → Kamailio B → SIPp
// UAS (UDP), both proxies mirroring as HEP v3 to `pbxagent run`. On the
// wire the middle leg is only TLS; the recorder's `hep` interface holds
// its SIP in clear text with the TLS leg's addresses and port 5061, twice
// (as A sent it and as B received it), and the UDP legs exactly as
// tcpdump saw them.
func TestHEPFeedTLSLeg(t *testing.T) {
	needRoot(t)
	have(t, "ip", "sipp", "kamailio", "tcpdump", "tshark", "openssl")
	ns := newNetns(t, "heptls")
	f := newFixture(t)
	work := t.TempDir()
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
		"-keyout", filepath.Join(work, "key.pem"), "-out", filepath.Join(work, "cert.pem")).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	kamailioCfg(t, work, "tls.cfg")
	cfgA, cfgB := kamailioCfg(t, work, "tls_a.cfg"), kamailioCfg(t, work, "tls_b.cfg")
	cfg := recorderConfig(t, f, "recorder:\n  segment_duration: 10s\n  hep:\n    enabled: true\n    auth_key: e2e-key\n")
	run := startRecorder(t, ns, cfg)
	ref := filepath.Join(work, "wire.pcap")
	dump := startTcpdump(t, ns, "lo", ref)

	var kams []*bgProc
	for i, c := range []string{cfgA, cfgB} {
		rt := filepath.Join(work, fmt.Sprint("run", i))
		must(t, os.Mkdir(rt, 0o700))
		port := []int{5060, 5090}[i]
		kams = append(kams, startServer(t, ns, work, "kamailio", "127.0.0.1", port, 0, "-f", c, "-DD", "-E", "-n", "1", "-Y", rt, "-m", "32", "-M", "8"))
	}
	uas := startServer(t, ns, work, "sipp", "127.0.0.1", 5080, 0, "-sn", "uas", "-i", "127.0.0.1", "-p", "5080", "-nostdin")
	for range 3 {
		runSipp(t, ns, work, "-sn", "uac", "-s", "1001", "127.0.0.1:5060", "-i", "127.0.0.1", "-p", "5070", "-timeout", "10s")
	}
	for _, k := range kams {
		_ = k.cmd.Process.Signal(syscall.SIGTERM)
		stopServer(t, k)
	}
	stopServer(t, uas)
	dump.stop(t)

	fields := []string{"ip.src", "ip.dst", "udp.srcport", "udp.dstport", "sip.CSeq", "sip.Call-ID"}
	first := tsharkFields(t, ref, "sip && udp.port == 5070", fields...)
	if len(first) < 3*6 { // INVITE, 180, 200, ACK, BYE, 200
		t.Fatalf("only %d SIP messages between SIPp and the first proxy; the calls did not pass", len(first))
	}
	if n := len(tsharkFields(t, ref, "tcp.port == 5061 && sip", "frame.number")); n != 0 {
		t.Fatalf("the TLS leg shows %d clear-text SIP messages on the wire", n)
	}
	if n := len(tsharkFields(t, ref, "tcp.port == 5061 && tls", "frame.number")); n == 0 {
		t.Fatal("no TLS on port 5061: the middle leg did not use TLS")
	}
	wireUDP := tsharkFields(t, ref, "sip && !(udp.port == 9061)", fields...)

	waitState(t, 30*time.Second, func() bool { return readHEPFeed(t, f.state).Accepted >= int64(len(wireUDP)+2*len(first)) },
		func() string { return fmt.Sprintf("%+v", readHEPFeed(t, f.state)) })
	r := runAgent(t, "bundle", "--config", cfg, "--last", "2m", "--json")
	if r.code != 0 {
		t.Fatalf("bundle --last: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pcap := filepath.Join(extract(t, parseBundleJSON(t, r).Path), "capture", "capture.pcapng")
	key := func(rows [][]string) []string {
		var out []string
		for _, r := range rows {
			out = append(out, strings.Join(r, " "))
		}
		slices.Sort(out)
		return out
	}
	hepUDP := tsharkFields(t, pcap, `frame.interface_name == "hep" && sip && udp`, fields...)
	if g, w := key(hepUDP), key(wireUDP); !slices.Equal(g, w) {
		t.Errorf("HEP holds %d SIP messages of the UDP legs, the wire %d; differences:\n%s", len(g), len(w), listDiff(g, w))
	}
	tlsLeg := tsharkFields(t, pcap, `frame.interface_name == "hep" && sip && tcp.port == 5061`, "ip.src", "ip.dst", "sip.CSeq", "sip.Call-ID")
	if len(tlsLeg) != 2*len(first) {
		t.Errorf("HEP holds %d clear-text SIP messages of the TLS leg, want %d (each message as A sent it and as B received it)", len(tlsLeg), 2*len(first))
	}
	for _, row := range tlsLeg {
		if row[0] != "127.0.0.1" || row[1] != "127.0.0.1" {
			t.Errorf("TLS-leg message with addresses %v", row)
		}
	}
	if c := readHEPFeed(t, f.state); c.Malformed != 0 || c.Unauthorised != 0 {
		t.Errorf("Kamailio's own feed had malformed or unauthorised messages: %+v", c)
	}
	must(t, run.cmd.Process.Signal(syscall.SIGTERM))
	if res := run.wait(t); res.code != 0 {
		t.Fatalf("run exit %d\n%s", res.code, res.stderr)
	}
}
