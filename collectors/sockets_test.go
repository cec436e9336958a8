package collectors

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSocketsUDP(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	webPort := ln.Addr().(*net.TCPAddr).Port
	rtp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()
	rtpPort := rtp.LocalAddr().(*net.UDPAddr).Port

	unused := freeTCPPort(t)
	rep, d := collect[SocketsData](t, NewSockets([]int{port, unused}, []int{webPort}, fmt.Sprintf("%d-%d", rtpPort, rtpPort)))
	if len(d.Ports) != 3 {
		t.Fatalf("ports %+v", d.Ports)
	}
	sip := d.Ports[0]
	if !sip.Listening || len(sip.Sockets) == 0 {
		t.Fatalf("SIP port %d not seen: %+v", port, sip)
	}
	sk := sip.Sockets[0]
	if sk.Proto != "udp" || sk.Port != port || sk.PID != int32(os.Getpid()) {
		t.Errorf("socket %+v, want udp owned by pid %d", sk, os.Getpid())
	}
	if exe, _ := os.Executable(); sk.Process == "" || !strings.HasPrefix(filepath.Base(exe), sk.Process) {
		t.Errorf("process %q, test binary %q", sk.Process, exe)
	}
	if d.Ports[1].Listening {
		t.Errorf("unused port %d listed as listening: %+v", unused, d.Ports[1])
	}
	if web := d.Ports[2]; !web.Listening || web.Sockets[0].Proto != "tcp" {
		t.Errorf("web port: %+v", web)
	}
	if d.RTP == nil || d.RTP.UDPSockets != 1 {
		t.Errorf("rtp %+v", d.RTP)
	}
	want := fmt.Sprintf("SIP %d/udp listening by pid %d (", port, os.Getpid())
	if !strings.HasPrefix(rep.Summary, want) {
		t.Errorf("summary %q, want prefix %q", rep.Summary, want)
	}
}

func TestSocketsNothingListening(t *testing.T) {
	rep, d := collect[SocketsData](t, NewSockets([]int{freeTCPPort(t)}, nil, "not-a-range"))
	if rep.Summary != "no PBX port is listening" {
		t.Errorf("summary %q", rep.Summary)
	}
	if d.RTP == nil || d.RTP.Error == "" {
		t.Errorf("bad RTP range not reported: %+v", d.RTP)
	}
}

// freeTCPPort returns a port that nothing listens on (TCP or UDP) right now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if c, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port)); err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}
