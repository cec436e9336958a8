package hep

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
)

func TestForwarderDeliversUnchanged(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	fw := NewForwarder("tcp://"+up.Addr().String(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fw.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	l, stop := startListener(t, Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Sink: &memSink{}, Tee: fw.Send})
	defer stop()
	var want []byte
	c, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		m := sample()
		m.CaptureID = uint32(i)
		b, _ := Encode(m)
		want = append(want, b...)
		c.Write(b)
	}
	c.Write([]byte("HEP3\x00\x06")) // malformed: not forwarded
	uc, err := up.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(uc, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("upstream received different bytes")
	}
	if fw.Dropped() != 0 {
		t.Fatalf("dropped %d", fw.Dropped())
	}
}

func TestForwarderDropsWhenFull(t *testing.T) {
	fw := NewForwarder("udp://127.0.0.1:9", nil) // never run: the queue fills
	for range forwardQueue + 5 {
		fw.Send([]byte("x"))
	}
	if fw.Dropped() != 5 {
		t.Fatalf("dropped %d, want 5", fw.Dropped())
	}
}
