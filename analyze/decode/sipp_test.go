package decode

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

// TestRealCapture captures calls between a sipp UAC and UAS on 127.0.0.1
// with tcpdump and checks the decoded message counts against tshark's.
func TestRealCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	testutil.Need(t, runtime.GOOS == "linux", "needs Linux")
	testutil.Need(t, os.Geteuid() == 0, "needs root to capture on lo")
	for _, tool := range []string{"sipp", "tcpdump", "tshark"} {
		_, err := exec.LookPath(tool)
		testutil.Need(t, err == nil, tool+" is not installed")
	}
	const calls = 6
	dir := t.TempDir()
	os.Chmod(dir, 0o777) // tcpdump writes after dropping privileges
	file := filepath.Join(dir, "sipp.pcap")
	uasPort := freeUDPPort(t, 20000+os.Getpid()%10000)
	uacPort := freeUDPPort(t, uasPort+1)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dump := exec.CommandContext(ctx, "tcpdump", "-i", "lo", "-U", "-w", file,
		fmt.Sprintf("udp and (port %d or port %d)", uasPort, uacPort))
	dumpErr := &syncBuffer{}
	dump.Stderr = dumpErr
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	defer dump.Process.Kill()
	waitFor(t, func() bool { return strings.Contains(dumpErr.String(), "listening") }, "tcpdump to start: "+dumpErr.String())

	uas := exec.CommandContext(ctx, "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(uasPort),
		"-m", strconv.Itoa(calls), "-nostdin", "-timeout", "30s")
	uas.Dir = dir
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	defer uas.Process.Kill()
	time.Sleep(300 * time.Millisecond)
	uac := exec.CommandContext(ctx, "sipp", "-sn", "uac", "-i", "127.0.0.1", "-p", strconv.Itoa(uacPort),
		fmt.Sprintf("127.0.0.1:%d", uasPort), "-m", strconv.Itoa(calls), "-r", "20", "-d", "100",
		"-nostdin", "-timeout", "30s")
	uac.Dir = dir
	if out, err := uac.CombinedOutput(); err != nil {
		t.Fatalf("sipp uac: %v\n%s", err, out)
	}
	uas.Wait()
	time.Sleep(500 * time.Millisecond)
	dump.Process.Signal(os.Interrupt)
	dump.Wait()

	got := map[string]int{}
	st, err := ReadFile(context.Background(), file, Options{}, func(e *Event) error {
		if m := e.SIP; m != nil {
			if m.Method != "" {
				got[m.Method]++
			} else {
				got[strconv.Itoa(m.Status)]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Malformed != 0 {
		t.Errorf("malformed %d", st.Malformed)
	}
	for _, k := range []string{"INVITE", "ACK", "BYE", "100", "180", "200"} {
		filter := "sip.Method==" + k
		if _, err := strconv.Atoi(k); err == nil {
			filter = "sip.Status-Code==" + k
		}
		out, err := exec.Command("tshark", "-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		want := len(strings.Fields(string(out)))
		if got[k] != want {
			t.Errorf("%s: decoded %d, tshark %d", k, got[k], want)
		}
	}
	if got["INVITE"] < calls || got["BYE"] < calls {
		t.Errorf("counts %v, want %d calls", got, calls)
	}
	t.Logf("counts %v, stats %+v", got, st)
}

func freeUDPPort(t *testing.T, from int) int {
	t.Helper()
	for p := from; p < 65000; p++ {
		if c, err := listenUDP(p); err == nil {
			c.Close()
			return p
		}
	}
	t.Fatal("no free UDP port")
	return 0
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func listenUDP(port int) (interface{ Close() error }, error) {
	return net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
