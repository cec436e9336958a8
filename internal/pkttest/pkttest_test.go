package pkttest

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The builders' packets decode as gopacket decodes real ones: valid IPv4
// header checksum, the right ports and payload, through a pcap file.
func TestBuildersDecodeWithGopacket(t *testing.T) {
	var c Capture
	c.Link = layers.LinkTypeEthernet
	payload := SIP("", "OPTIONS sip:a@b SIP/2.0", "Call-ID: x")
	t0 := gopacket.CaptureInfo{}.Timestamp
	c.UDP(t0, AddrPort("192.0.2.1:5060"), AddrPort("192.0.2.2:5062"), payload)
	c.Add(t0, EthernetIP(IP6(Addr("2001:db8::1"), Addr("2001:db8::2"), ProtoUDP, UDP(4000, 5000, RTP(8, 7, 160, 99, 20))), 10))
	r, err := pcapgo.NewReader(bytes.NewReader(c.Pcap()))
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := r.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ip == nil || udp == nil || udp.DstPort != 5062 || !bytes.Equal(udp.Payload, payload) {
		t.Fatalf("packet: %v", p)
	}
	want := ip.Checksum
	if err := ip.SerializeTo(gopacket.NewSerializeBuffer(), gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
		t.Fatal(err)
	}
	if ip.Checksum != want {
		t.Fatalf("IPv4 checksum %04x, want %04x", want, ip.Checksum)
	}
	data, _, err = r.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	p = gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
	if v, _ := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); v == nil || v.VLANIdentifier != 10 || p.Layer(layers.LayerTypeIPv6) == nil {
		t.Fatalf("VLAN IPv6 packet: %v", p)
	}
	if _, err := pcapgo.NewNgReader(bytes.NewReader(c.PcapNG()), pcapgo.DefaultNgReaderOptions); err != nil {
		t.Fatalf("pcapng: %v", err)
	}
}
