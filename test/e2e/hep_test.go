//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/hep"
)

// hepFeedStatus is the HEP receiver's part of the recorder's status file.
type hepFeedStatus struct {
	HEPFeed *hep.Counts `json:"hep_feed"`
}

func readHEPFeed(t *testing.T, state string) hep.Counts {
	t.Helper()
	var s hepFeedStatus
	data, err := os.ReadFile(filepath.Join(state, "recorder", "status.json"))
	if err != nil || json.Unmarshal(data, &s) != nil || s.HEPFeed == nil {
		return hep.Counts{}
	}
	return *s.HEPFeed
}

// teeReceiver is a HEP receiver standing in for an upstream HOMER server.
type teeReceiver struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (r *teeReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// TestHEPFeedFromKamailio: Kamailio proxies SIPp calls and mirrors every
// SIP message it receives and sends as HEP v3 (siptrace) to `pbxagent run`.
// `bundle --last 2m` then holds, on the pcapng interface "hep", exactly the
// SIP messages tcpdump saw on the wire, with their original addresses and
// ports; forged feeds (bad magic, truncated, wrong key, a flood from an
// address not allowed) are counted and dropped; the tee delivers every
// accepted message unchanged to a second receiver.
func TestHEPFeedFromKamailio(t *testing.T) {
	needRoot(t)
	have(t, "ip", "sipp", "kamailio", "tcpdump", "tshark")
	ns := newNetns(t, "hep")
	f := newFixture(t)
	work := t.TempDir()
	cfg := recorderConfig(t, f, `recorder:
  segment_duration: 10s
  hep:
    enabled: true
    allow: ["127.0.0.1/32"]
    auth_key: e2e-key
    forward_to: udp://127.0.0.1:19060
`)
	tee := &teeReceiver{}
	ns.do(t, func() error {
		c, err := net.ListenPacket("udp", "127.0.0.1:19060")
		if err != nil {
			return err
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, hep.MaxMessage)
			for {
				n, _, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				tee.mu.Lock()
				tee.msgs = append(tee.msgs, append([]byte(nil), buf[:n]...))
				tee.mu.Unlock()
			}
		}()
		return nil
	})
	run := startRecorder(t, ns, cfg)
	ref := filepath.Join(work, "wire.pcap")
	dump := startTcpdump(t, ns, "lo", ref)

	kcfg, err := filepath.Abs(filepath.Join("testdata", "hep", "proxy.cfg"))
	must(t, err)
	kam := startServer(t, ns, work, "kamailio", "127.0.0.1", 5060, 0, "-f", kcfg, "-DD", "-E", "-n", "1", "-Y", work, "-m", "32", "-M", "8")
	uas := startServer(t, ns, work, "sipp", "127.0.0.1", 5080, 0, "-sn", "uas", "-i", "127.0.0.1", "-p", "5080", "-nostdin")
	for range 3 {
		runSipp(t, ns, work, "-sn", "uac", "-s", "1001", "127.0.0.1:5060", "-i", "127.0.0.1", "-p", "5070", "-timeout", "10s")
	}
	forgeFeeds(t, ns)
	_ = kam.cmd.Process.Signal(syscall.SIGTERM)
	stopServer(t, kam)
	stopServer(t, uas)
	dump.stop(t)

	wire := tsharkFields(t, ref, "sip && !(udp.port in {9061, 9060, 19060})", "ip.src", "ip.dst", "udp.srcport", "udp.dstport", "sip.CSeq", "sip.Call-ID")
	if len(wire) < 3*7 {
		t.Fatalf("tcpdump saw only %d SIP messages through the proxy", len(wire))
	}
	waitState(t, 30*time.Second, func() bool {
		c := readHEPFeed(t, f.state)
		return c.Accepted >= int64(len(wire)) && c.Malformed >= 3 && c.Unauthorised >= 2 && c.Refused >= 1
	}, func() string { return fmt.Sprintf("%+v", readHEPFeed(t, f.state)) })

	r := runAgent(t, "bundle", "--config", cfg, "--last", "2m", "--json")
	if r.code != 0 {
		t.Fatalf("bundle --last: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	pcap := filepath.Join(extract(t, parseBundleJSON(t, r).Path), "capture", "capture.pcapng")
	got := tsharkFields(t, pcap, `frame.interface_name == "hep" && sip`, "ip.src", "ip.dst", "udp.srcport", "udp.dstport", "sip.CSeq", "sip.Call-ID")
	key := func(rows [][]string) []string {
		var out []string
		for _, r := range rows {
			out = append(out, strings.Join(r, " "))
		}
		slices.Sort(out)
		return out
	}
	if g, w := key(got), key(wire); !slices.Equal(g, w) {
		t.Errorf("the recorder's HEP packets hold %d SIP messages, the wire %d; differences:\n%s", len(g), len(w), listDiff(g, w))
	}

	c := readHEPFeed(t, f.state)
	if c.Accepted != int64(len(wire)) || c.Malformed != 3 || c.Refused != 1 {
		t.Errorf("feed counters %+v: want %d accepted, 3 malformed, 1 refused connection", c, len(wire))
	}
	if c.Unauthorised < 2 || c.Received != c.Accepted+c.Malformed+c.Unauthorised {
		t.Errorf("feed counters %+v: the wrong key and the flood from 127.0.0.2 must be unauthorised", c)
	}
	waitState(t, 10*time.Second, func() bool { return tee.count() >= len(wire) }, func() string { return fmt.Sprint(tee.count()) })
	tee.mu.Lock()
	for i, b := range tee.msgs {
		m, err := hep.Decode(b)
		if err != nil || m.AuthKey != "e2e-key" || m.CaptureID != 42 {
			t.Errorf("tee message %d is not Kamailio's HEP unchanged: %v %+v", i, err, m)
			break
		}
	}
	if len(tee.msgs) != len(wire) {
		t.Errorf("the tee delivered %d messages, want %d", len(tee.msgs), len(wire))
	}
	tee.mu.Unlock()
	must(t, run.cmd.Process.Signal(syscall.SIGTERM))
	if res := run.wait(t); res.code != 0 {
		t.Fatalf("run exit %d\n%s", res.code, res.stderr)
	}
}

// forgeFeeds sends what a hostile or broken sender might: bad magic and a
// truncated message over UDP, a frame with bad magic over TCP, a message
// with the wrong auth key, and a flood from 127.0.0.2, which the
// configuration does not allow (the flood over TCP is refused at connect).
func forgeFeeds(t *testing.T, ns *netns) {
	t.Helper()
	good := &hep.Message{Proto: 17, Src: netip.MustParseAddrPort("192.0.2.1:5060"), Dst: netip.MustParseAddrPort("192.0.2.2:5060"),
		Time: time.Now(), Type: hep.TypeSIP, AuthKey: "e2e-key", Payload: []byte("OPTIONS sip:forged SIP/2.0\r\n\r\n")}
	gb, err := hep.Encode(good)
	must(t, err)
	wrong := *good
	wrong.AuthKey = "guess"
	wb, err := hep.Encode(&wrong)
	must(t, err)
	ns.do(t, func() error {
		u, err := net.Dial("udp", "127.0.0.1:9061")
		if err != nil {
			return err
		}
		defer u.Close()
		for _, b := range [][]byte{[]byte("HEP4\x00\x10not hep at all"), gb[:len(gb)-7], wb} {
			if _, err := u.Write(b); err != nil {
				return err
			}
		}
		c, err := net.Dial("tcp", "127.0.0.1:9061")
		if err != nil {
			return err
		}
		c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		c.Close()
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		fl, err := d.Dial("udp", "127.0.0.1:9061")
		if err != nil {
			return err
		}
		defer fl.Close()
		for range 200 {
			fl.Write(gb)
		}
		td := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		if tc, err := td.Dial("tcp", "127.0.0.1:9061"); err == nil {
			tc.Write(gb)
			tc.Close()
		}
		return nil
	})
}
