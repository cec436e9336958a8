//go:build linux

package rtpdrop

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/pkttest"
	"github.com/pbxagent/pbxagent/internal/testutil"
	"golang.org/x/sys/unix"
)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

// inNetns runs fn on a thread that joined the namespace.
func inNetns(t *testing.T, name string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestDropsEveryTwentieth sends 200 RTP packets (sequence numbers from
// 65500, so the numbering wraps) and 10 SIP-like datagrams over a veth pair:
// the receiver gets every packet but the RTP ones whose sequence number is
// a multiple of 20, and the counters say so.
func TestDropsEveryTwentieth(t *testing.T) {
	for _, tcx := range []bool{true, false} {
		t.Run(map[bool]string{true: "tcx", false: "clsact"}[tcx], func(t *testing.T) { dropsEveryTwentieth(t, tcx) })
	}
}

func dropsEveryTwentieth(t *testing.T, tcx bool) {
	testutil.NeedLinux(t)
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "ip")
	tx, rx := fmt.Sprintf("rdtx-%06x", rand.IntN(1<<24)), fmt.Sprintf("rdrx-%06x", rand.IntN(1<<24))
	for _, ns := range []string{tx, rx} {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	}
	ip(t, "-n", tx, "link", "add", "vtx", "type", "veth", "peer", "name", "vrx", "netns", rx)
	ip(t, "-n", tx, "addr", "add", "192.0.2.1/24", "dev", "vtx")
	ip(t, "-n", rx, "addr", "add", "192.0.2.2/24", "dev", "vrx")
	ip(t, "-n", tx, "link", "set", "vtx", "up")
	ip(t, "-n", rx, "link", "set", "vrx", "up")

	var d *Dropper
	inNetns(t, rx, func() (err error) { d, err = attach("vrx", 40000, 20, tcx); return err })
	defer func() {
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	// With TCX asked for, a kernel before 6.6 falls back to clsact.
	t.Logf("attached by %s", d.Mode)
	if !tcx && d.Mode != "clsact" {
		t.Fatalf("attached by %s, want clsact", d.Mode)
	}
	var conn net.PacketConn
	inNetns(t, rx, func() (err error) { conn, err = net.ListenPacket("udp4", "192.0.2.2:40000"); return err })
	defer conn.Close()
	var out *net.UDPConn
	inNetns(t, tx, func() (err error) {
		out, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 40000})
		return err
	})
	defer out.Close()

	want := map[uint16]bool{}
	for i := range 200 {
		seq := uint16(65500 + i)
		if _, err := out.Write(pkttest.RTP(96, seq, uint32(i)*320, 0x1234, 160)); err != nil {
			t.Fatal(err)
		}
		if seq%20 != 0 {
			want[seq] = true
		}
	}
	for range 10 {
		if _, err := out.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	got, sip := map[uint16]bool{}, 0
	buf := make([]byte, 2048)
	for len(got)+sip < len(want)+10 {
		must(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d RTP and %d other datagrams: %v", len(got), sip, err)
		}
		if n > 12 && buf[0]&0xc0 == 0x80 {
			got[uint16(buf[2])<<8|uint16(buf[3])] = true
		} else {
			sip++
		}
	}
	for seq := range got {
		if !want[seq] {
			t.Errorf("sequence number %d arrived although it is a multiple of 20", seq)
		}
	}
	seen, dropped, err := d.Counts()
	if err != nil {
		t.Fatal(err)
	}
	// 65500, 65520 and 0, 20, ..., 160: eleven multiples of 20.
	if seen != 200 || dropped != 11 || len(got) != 189 || len(want) != 189 || sip != 10 {
		t.Errorf("seen %d dropped %d, received %d RTP and %d others; want 200, 11, 189, 10", seen, dropped, len(got), sip)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAttachRejectsBadInput(t *testing.T) {
	if _, err := Attach("lo", 4000, 0); err == nil {
		t.Error("every = 0 accepted")
	}
	if _, err := Attach("no-such-interface-x", 4000, 20); err == nil {
		t.Error("a missing interface accepted")
	}
}
