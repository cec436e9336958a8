package decode

import (
	"bytes"
	"context"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// BenchmarkRead decodes an in-memory pcap of RTP with a SIP message in
// every 100 packets.
func BenchmarkRead(b *testing.B) {
	var pkts [][]byte
	for i := range 10000 {
		p := ip4("10.1.0.7", "198.51.100.10", 17, udpPkt(45002, 50000, rtpPkt(8, uint16(i), 5, 160)))
		if i%100 == 0 {
			p = ip4("10.1.0.7", "198.51.100.10", 17, udpPkt(5060, 5060, []byte(inviteSDP)))
		}
		pkts = append(pkts, eth(0x0800, p))
	}
	file := pcapFile(&testing.T{}, layers.LinkTypeEthernet, false, pkts...)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(context.Background(), bytes.NewReader(file), Options{}, func(*Event) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
