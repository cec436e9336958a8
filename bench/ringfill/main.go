// Command ringfill fills a flight recorder ring folder with synthetic SIP
// packets spread over the last 24 hours, for timing `bundle --last` on a
// full ring.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/pbxagent/pbxagent/recorder"
)

func main() {
	dir := flag.String("dir", "", "ring folder")
	size := flag.Int64("size", 1<<30, "bytes to write")
	flag.Parse()
	if err := fill(*dir, *size); err != nil {
		fmt.Fprintln(os.Stderr, "ringfill:", err)
		os.Exit(1)
	}
}

func fill(dir string, size int64) error {
	r, err := recorder.Open(recorder.Options{Dir: dir, MaxBytes: size + size/8})
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(r, 1<<20)
	w, err := pcapgo.NewNgWriterInterface(bw, pcapgo.NgInterface{Name: "lo", LinkType: layers.LinkTypeRaw, SnapLength: 65535, TimestampResolution: 9},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "pbxagent ringfill"}})
	if err != nil {
		return err
	}
	const pkt = 900
	n := size / (pkt + 32)
	start := time.Now().Add(-24 * time.Hour)
	step := 24 * time.Hour / time.Duration(n)
	data := make([]byte, pkt)
	for i := range n {
		copy(data, fmt.Sprintf("INVITE sip:%d@pbx SIP/2.0\r\nCall-ID: c%d\r\n\r\n", i, i/7))
		ts := start.Add(time.Duration(i) * step)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: pkt, Length: pkt}, data); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return r.Close()
}
