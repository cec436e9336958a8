package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// rtpPacket is an IPv4/UDP packet to an RTP port with a 160-byte payload.
func rtpPacket(csrc int) []byte {
	u := make([]byte, 8+12+4*csrc+160)
	u[0] = 0xc0 // src port 49152
	u[2], u[3] = 0xc3, 0x52
	u[8] = 0x80 | byte(csrc)
	u[9] = 0 // PCMU
	return ip4(addrA, addrB, 17, 0, 0, u)
}

// readBack parses a pcapng stream with gopacket's reader.
func readBack(t *testing.T, b []byte) (*pcapgo.NgReader, [][]byte) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatalf("NgReader: %v", err)
	}
	var pkts [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read packet %d: %v", len(pkts), err)
		}
		pkts = append(pkts, data)
	}
	return r, pkts
}

// tsharkFields runs tshark -r on a pcapng stream and returns its field rows.
func tsharkFields(t *testing.T, b []byte, fields ...string) [][]string {
	t.Helper()
	ts, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("tshark not installed; skipping tshark read-back")
		return nil
	}
	file := filepath.Join(t.TempDir(), "capture.pcapng")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-r", file, "-n", "-T", "fields", "-E", "separator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(ts, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r: %v: %s", err, stderr.String())
	}
	if s := strings.TrimSpace(strings.ReplaceAll(stderr.String(), `Running as user "root" and group "root". This could be dangerous.`, "")); s != "" {
		t.Fatalf("tshark complained: %s", s)
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			rows = append(rows, strings.Split(l, "|"))
		}
	}
	return rows
}

func TestWriterReadBack(t *testing.T) {
	var buf bytes.Buffer
	opt := Options{Filter: DefaultFilter(), SnapLen: 65535, NoRTPPayload: true, Comment: "host pbx1; filter: default"}
	ifaces := []ifaceDesc{{name: "eth0", linkType: layers.LinkTypeEthernet}, {name: "wg0", linkType: layers.LinkTypeRaw}}
	start := time.Unix(1700000000, 123456789)
	o, err := newNgOut(&buf, opt, ifaces, start)
	if err != nil {
		t.Fatal(err)
	}
	sip := frame(layers.LinkTypeEthernet, false, ip4(addrA, addrB, 17, 0, 0, l4(17, 40000, 5060)))
	rtp := rtpPacket(2)
	in := []packet{
		{iface: 0, ts: start.UnixNano(), data: sip, length: len(sip), dir: dirIn, reception: pcapgo.NgEpbFlagReceptionTypeUnicast},
		{iface: 1, ts: start.Add(time.Millisecond).UnixNano(), data: rtp, length: len(rtp), dir: dirOut},
		{iface: 0, ts: start.Add(2 * time.Millisecond).UnixNano(), data: sip[:40], length: len(sip), dir: dirUnknown},
	}
	for i := range in {
		if more, err := o.write(&in[i]); err != nil || !more {
			t.Fatalf("write %d: %v %v", i, more, err)
		}
	}
	st, err := o.close(start.Add(time.Second), "test end")
	if err != nil {
		t.Fatal(err)
	}
	if st.Written != 3 || st.Trimmed != 1 || st.StopReason != "test end" || st.Bytes != int64(buf.Len()) {
		t.Fatalf("stats %+v (buffer %d bytes)", st, buf.Len())
	}
	if st.PerInterface["eth0"].Written != 2 || st.PerInterface["wg0"].Written != 1 {
		t.Fatalf("per interface %+v", st.PerInterface)
	}
	r, pkts := readBack(t, buf.Bytes())
	if r.NInterfaces() != 2 {
		t.Fatalf("%d interfaces", r.NInterfaces())
	}
	for i, want := range ifaces {
		got, err := r.Interface(i)
		if err != nil || got.Name != want.name || got.LinkType != want.linkType || got.SnapLength != 65535 {
			t.Fatalf("interface %d: %+v %v", i, got, err)
		}
	}
	if r.SectionInfo().Comment != opt.Comment || r.SectionInfo().Application != "pbxagent" {
		t.Fatalf("section %+v", r.SectionInfo())
	}
	if len(pkts) != 3 || !bytes.Equal(pkts[0], sip) || len(pkts[1]) != 20+8+12+8 || !bytes.Equal(pkts[2], sip[:40]) {
		t.Fatalf("packets %d, lengths %d", len(pkts), len(pkts[1]))
	}

	rows := tsharkFields(t, buf.Bytes(), "frame.interface_name", "frame.packet_flags_direction", "frame.cap_len", "frame.len", "udp.dstport")
	if rows == nil {
		return
	}
	want := [][]string{
		{"eth0", "0x00000001", "54", "54", "5060"},
		{"wg0", "0x00000002", "48", "208", ""},
		{"eth0", "", "40", "54", "5060"},
	}
	if len(rows) != len(want) {
		t.Fatalf("tshark rows %q", rows)
	}
	for i := range want {
		if strings.Join(rows[i][:4], "|") != strings.Join(want[i][:4], "|") {
			t.Errorf("tshark row %d: %q, want %q", i, rows[i], want[i])
		}
	}
}

func TestWriterLimits(t *testing.T) {
	sip := frame(layers.LinkTypeEthernet, false, ip4(addrA, addrB, 17, 0, 0, l4(17, 40000, 5060)))
	for _, tc := range []struct {
		name string
		opt  Options
		want int64
	}{
		{"packets", Options{MaxPackets: 5}, 5},
		{"bytes", Options{MaxBytes: 1200}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tc.opt.Filter, tc.opt.SnapLen = DefaultFilter(), 65535
			o, err := newNgOut(&buf, tc.opt, []ifaceDesc{{name: "eth0", linkType: layers.LinkTypeEthernet}}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for ; n < 1000; n++ {
				p := packet{ts: time.Now().UnixNano(), data: sip, length: len(sip), dir: dirIn}
				more, err := o.write(&p)
				if err != nil {
					t.Fatal(err)
				}
				if !more {
					break
				}
			}
			st, err := o.close(time.Now(), "ctx")
			if err != nil {
				t.Fatal(err)
			}
			if !st.Truncated || !strings.Contains(st.StopReason, "max "+tc.name) {
				t.Fatalf("stats %+v", st)
			}
			if tc.want >= 0 && st.Written != tc.want {
				t.Fatalf("written %d, want %d", st.Written, tc.want)
			}
			if tc.opt.MaxBytes > 0 && (int64(buf.Len()) > tc.opt.MaxBytes || int64(buf.Len()) < tc.opt.MaxBytes-200) {
				t.Fatalf("file is %d bytes, limit %d", buf.Len(), tc.opt.MaxBytes)
			}
			if st.Bytes != int64(buf.Len()) {
				t.Fatalf("Bytes %d, buffer %d", st.Bytes, buf.Len())
			}
			_, pkts := readBack(t, buf.Bytes())
			if int64(len(pkts)) != st.Written {
				t.Fatalf("read %d packets, written %d", len(pkts), st.Written)
			}
			if rows := tsharkFields(t, buf.Bytes(), "frame.number"); rows != nil && int64(len(rows)) != st.Written {
				t.Fatalf("tshark read %d packets, written %d", len(rows), st.Written)
			}
		})
	}
}

func TestTrimRTP(t *testing.T) {
	f := DefaultFilter()
	for _, tc := range []struct {
		name string
		lt   layers.LinkType
		pkt  []byte
		want int
	}{
		{"rtp eth", layers.LinkTypeEthernet, frame(layers.LinkTypeEthernet, false, rtpPacket(0)), 14 + 20 + 8 + 12},
		{"rtp vlan", layers.LinkTypeEthernet, frame(layers.LinkTypeEthernet, true, rtpPacket(0)), 18 + 20 + 8 + 12},
		{"rtp csrc sll", layers.LinkTypeLinuxSLL, frame(layers.LinkTypeLinuxSLL, false, rtpPacket(3)), 16 + 20 + 8 + 12 + 12},
		{"rtp raw v6", layers.LinkTypeRaw, ip6(addr6A, addr6B, 17, false, 0, rtpPacket(0)[20:]), 40 + 8 + 12},
		{"sip kept", layers.LinkTypeRaw, ip4(addrA, addrB, 17, 0, 0, append(l4(17, 40000, 5060), make([]byte, 300)...)), 20 + 20 + 300},
		{"rtcp kept", layers.LinkTypeRaw, func() []byte { p := rtpPacket(0); p[29] = 200; return p }(), 20 + 8 + 12 + 160},
		{"stun kept", layers.LinkTypeRaw, func() []byte { p := rtpPacket(0); p[28] = 0; return p }(), 20 + 8 + 12 + 160},
		{"fragment kept", layers.LinkTypeRaw, ip4(addrA, addrB, 17, 100, 0, rtpPacket(0)[20:]), 20 + 8 + 12 + 160},
	} {
		if got, _ := trimRTP(f, tc.lt, tc.pkt); got != tc.want {
			t.Errorf("%s: kept %d of %d, want %d", tc.name, got, len(tc.pkt), tc.want)
		}
	}
}

func FuzzTrimRTP(f *testing.F) {
	for _, lt := range linkTypes {
		f.Add(uint8(lt), frame(lt, false, rtpPacket(1)))
		f.Add(uint8(lt), frame(lt, false, ip6(addr6A, addr6B, 17, false, 0, rtpPacket(0)[20:])))
	}
	f.Add(uint8(layers.LinkTypeEthernet), frame(layers.LinkTypeEthernet, true, rtpPacket(15)))
	f.Add(uint8(layers.LinkTypeNull), append([]byte{2, 0, 0, 0}, rtpPacket(0)...))
	filt := DefaultFilter()
	f.Fuzz(func(t *testing.T, lt uint8, data []byte) {
		l := layers.LinkType(lt)
		if v, off := networkLayer(l, data); v != 0 {
			hl := 20
			if v == 6 {
				hl = 40
			}
			if off+hl > len(data) {
				t.Fatalf("network header at %d (v%d) beyond %d bytes", off, v, len(data))
			}
		}
		n, _ := trimRTP(filt, l, data)
		if n < 0 || n > len(data) {
			t.Fatalf("trim to %d of %d", n, len(data))
		}
		if n < len(data) {
			p, _, _, ok := udpPayload(l, data)
			if !ok || n < p+12 {
				t.Fatalf("trimmed to %d, inside the headers", n)
			}
		}
	})
}

// BenchmarkWrite measures the per-packet write path: one RTP-sized frame
// with its direction flags encoded into the output buffer. It must not
// allocate.
func BenchmarkWrite(b *testing.B) {
	opt := Options{Filter: DefaultFilter(), SnapLen: 65535}
	o, err := newNgOut(io.Discard, opt, []ifaceDesc{{name: "lo", linkType: layers.LinkTypeEthernet}}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	rtp := frame(layers.LinkTypeEthernet, false, ip4(addrA, addrB, 17, 0, 0, append(l4(17, 45000, 45002), make([]byte, 172)...)))
	p := packet{ts: time.Now().UnixNano(), data: rtp, length: len(rtp), dir: dirIn, reception: pcapgo.NgEpbFlagReceptionTypeUnicast}
	b.SetBytes(int64(len(rtp)))
	b.ReportAllocs()
	for b.Loop() {
		p.ts++
		if _, err := o.write(&p); err != nil {
			b.Fatal(err)
		}
	}
	if err := o.flush(); err != nil {
		b.Fatal(err)
	}
}
