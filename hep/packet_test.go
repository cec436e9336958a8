package hep

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestPacketTransports(t *testing.T) {
	cases := []struct {
		proto uint8
		dst   string
		tcp   bool
		first gopacket.LayerType
	}{
		{17, "198.51.100.7:5060", false, layers.LayerTypeIPv4},
		{6, "198.51.100.7:5063", true, layers.LayerTypeIPv4},
		{22, "[2001:db8::7]:5061", true, layers.LayerTypeIPv6}, // TLS as HEP senders mark it
		{132, "198.51.100.7:5060", false, layers.LayerTypeIPv4},
	}
	p := NewPacketizer()
	for _, c := range cases {
		m := sample()
		m.Proto, m.Dst = c.proto, netip.MustParseAddrPort(c.dst)
		if m.Dst.Addr().Is6() {
			m.Src = netip.MustParseAddrPort("[2001:db8::1]:40000")
		}
		b, err := p.Packet(m)
		if err != nil {
			t.Fatal(err)
		}
		pk := gopacket.NewPacket(b, c.first, gopacket.Default)
		if el := pk.ErrorLayer(); el != nil {
			t.Fatalf("proto %d: %v", c.proto, el.Error())
		}
		if got := pk.Layer(layers.LayerTypeTCP) != nil; got != c.tcp {
			t.Errorf("proto %d: TCP %v, want %v", c.proto, got, c.tcp)
		}
		if tp := pk.TransportLayer(); tp == nil || tp.TransportFlow().Dst().String() != "5061" && tp.TransportFlow().Dst().String() != c.dst[len(c.dst)-4:] {
			t.Errorf("proto %d: transport %v", c.proto, tp)
		}
		if tp := pk.TransportLayer(); tp == nil || string(tp.LayerPayload()) != string(sipInvite) {
			t.Errorf("proto %d: payload lost", c.proto)
		}
	}
}
