package recorder

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// readIfaces reads a pcapng stream back with gopacket and returns, per
// packet, the name of its interface and its payload.
func readIfaces(t *testing.T, data []byte) (names []string, pkts [][]byte, times []time.Time) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		ifc, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		names, pkts, times = append(names, ifc.Name), append(pkts, p), append(times, ci.Timestamp)
	}
}

func TestWriteHEPBesideCapture(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	capStream := stream(t, t0, time.Second, 10, 100, "eth0")
	half := len(capStream) / 2
	feed(t, r, capStream[:half], 1<<20) // header, some packets and a partial block
	hepPkt := packetData(0, 90)
	if err := r.WriteHEP(t0.Add(1500*time.Millisecond), hepPkt); err != nil {
		t.Fatal(err)
	}
	feed(t, r, capStream[half:], 1<<20)
	if err := r.WriteHEP(t0.Add(20*time.Second+123), append(hepPkt, 'y')); err != nil {
		t.Fatal(err)
	}
	if err := r.Seal(); err != nil {
		t.Fatal(err)
	}
	segs := r.Segments()
	if len(segs) != 1 || segs[0].Packets != 12 || segs[0].HEP != 2 {
		t.Fatalf("index %+v", segs)
	}
	var buf bytes.Buffer
	if _, err := Extract(context.Background(), dir, segs, time.Time{}, t0.Add(time.Hour), &buf); err != nil {
		t.Fatal(err)
	}
	names, pkts, times := readIfaces(t, buf.Bytes())
	var hep, eth int
	for i, n := range names {
		switch n {
		case HEPInterface:
			hep++
			if !bytes.HasPrefix(pkts[i], hepPkt) {
				t.Errorf("HEP packet %d changed", i)
			}
		case "eth0":
			eth++
		}
	}
	if hep != 2 || eth != 10 || !times[len(times)-1].Equal(t0.Add(20*time.Second+123)) {
		t.Fatalf("%d HEP and %d eth0 packets (%v), last time %s", hep, eth, names, times[len(times)-1])
	}
}

func TestWriteHEPWithoutCapture(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := r.WriteHEP(t0.Add(time.Duration(i)*time.Second), packetData(i, 60)); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	got, st := extractAll(t, dir)
	if len(got) != 3 || st.HEP != 3 {
		t.Fatalf("got %v, stats %+v", got, st)
	}
}
