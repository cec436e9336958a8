//go:build linux

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recorderConfig is the fixture's configuration with the checks that need
// a PBX off and the flight recorder's segments short.
func recorderConfig(t *testing.T, f *pbxFixture, extra string) string {
	t.Helper()
	base, err := os.ReadFile(f.config)
	must(t, err)
	p := filepath.Join(f.root, "recorder.yaml")
	write(t, p, string(base)+`checks:
  interval: 1h
  gateway: {enabled: false}
  blocked_ips: {enabled: false}
  services: {enabled: false}
`+extra)
	return p
}

// startRecorder starts `pbxagent run` in ns and waits until its flight
// recorder's capture is armed.
func startRecorder(t *testing.T, ns *netns, cfg string) *bgProc {
	t.Helper()
	p := startProc(t, "pbxagent run", ns.command(bin, "run", "--config", cfg), "flight recorder recording")
	p.awaitReady(t)
	return p
}

// recorderStatus reads the service's status file of the ring.
type recorderStatus struct {
	Running bool   `json:"running"`
	Filter  string `json:"filter"`
	Ring    struct {
		Segments int    `json:"segments"`
		Bytes    int64  `json:"bytes"`
		Packets  int64  `json:"packets"`
		Dropped  int64  `json:"dropped"`
		Paused   string `json:"paused"`
		Limited  string `json:"limited"`
	} `json:"ring"`
	KernelDropped int64 `json:"kernel_dropped"`
}

func readRecorderStatus(t *testing.T, state string) recorderStatus {
	t.Helper()
	var s recorderStatus
	data, err := os.ReadFile(filepath.Join(state, "recorder", "status.json"))
	must(t, err)
	must(t, json.Unmarshal(data, &s))
	return s
}

// TestRecorderBundleLast: while `pbxagent run` records, SIPp makes five
// answered calls with RTP and one the PBX rejects with 503. Afterwards
// `bundle --last 2m` holds every SIP message tcpdump saw in the same period
// (same packets, same payloads), as many packets in all (RTP kept as
// headers), and its analysis names the 503; status shows the ring.
func TestRecorderBundleLast(t *testing.T) {
	needRoot(t)
	have(t, "ip", "sipp", "tcpdump", "tshark")
	audio := sippAudio(t)
	ns := newNetns(t, "rec")
	f := newFixture(t)
	cfg := recorderConfig(t, f, "recorder:\n  segment_duration: 10s\n")
	work := t.TempDir()
	run := startRecorder(t, ns, cfg)

	ref := filepath.Join(work, "tcpdump.pcap")
	dump := startTcpdump(t, ns, "lo", ref)
	startUAS(t, ns, work)
	ok := placeCalls(t, ns, work, audio, 5)
	uas := startServer(t, ns, work, "sipp", "127.0.0.1", 5063, 0, "-sf", scenario(t, work, "uas_code.xml", "@CODE@", "503", "@REASON@", "Service Unavailable"),
		"-i", "127.0.0.1", "-p", "5063", "-nostdin", "-m", "1")
	runSipp(t, ns, work, "-sf", scenario(t, work, "uac_code.xml", "@CODE@", "503", "@UA@", "Carrier SBC 4.2"), "-s", "1003",
		"127.0.0.1:5063", "-i", "127.0.0.1", "-p", "5072", "-timeout", "10s")
	stopServer(t, uas)
	dump.stop(t)
	if ok != 5 {
		t.Fatalf("SIPp reports %d successful calls of 5", ok)
	}

	r := runAgent(t, "bundle", "--config", cfg, "--last", "2m", "--json")
	if r.code != 0 {
		t.Fatalf("bundle --last: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b := parseBundleJSON(t, r)
	if v := runAgent(t, "verify", "--config", cfg, b.Path); v.code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	dir := extract(t, b.Path)
	pcap := filepath.Join(dir, "capture", "capture.pcapng")
	st := readRecorderStatus(t, f.state)
	want := filepath.Join(work, "tcpdump-filtered.pcap")
	if out, err := exec.Command("tcpdump", "-Z", "root", "-n", "-r", ref, "-w", want, st.Filter).CombinedOutput(); err != nil {
		t.Fatalf("tcpdump rejects the recorder's filter %q: %v\n%s", st.Filter, err, out)
	}
	gotSIP, wantSIP := sipList(t, pcap), sipList(t, want)
	if len(wantSIP) < 5*6 { // tshark decodes SIP on 5060; the 503 call on 5063 counts below
		t.Fatalf("tcpdump saw only %d SIP messages", len(wantSIP))
	}
	if !slices.Equal(gotSIP, wantSIP) {
		t.Errorf("bundle --last holds %d SIP messages, tcpdump %d; differences:\n%s", len(gotSIP), len(wantSIP), listDiff(gotSIP, wantSIP))
	}
	if g, w := len(tsharkFields(t, pcap, "", "frame.number")), len(tsharkFields(t, want, "", "frame.number")); g != w {
		t.Errorf("bundle --last holds %d packets, tcpdump %d", g, w)
	}
	if g, w := len(tsharkFields(t, pcap, "udp.port == 5063", "frame.number")), len(tsharkFields(t, want, "udp.port == 5063", "frame.number")); g != w || w < 4 {
		t.Errorf("the rejected call: %d packets in the bundle, tcpdump %d", g, w)
	}
	if n := len(tsharkFields(t, pcap, "rtp && frame.cap_len > 60", "frame.number")); n != 0 {
		t.Errorf("%d RTP packets with their audio: the recorder keeps RTP headers only by default", n)
	}
	data, err := os.ReadFile(filepath.Join(dir, "analysis.json"))
	must(t, err)
	if !strings.Contains(string(data), `"sip-503"`) {
		t.Errorf("the analysis of bundle --last does not name the 503:\n%s", tailText(string(data)))
	}
	s := runAgent(t, "status", "--config", cfg)
	if !strings.Contains(s.stdout, "flight recorder: recording;") || !strings.Contains(s.stdout, "HEP messages 0") {
		t.Errorf("status does not show the ring:\n%s", s.stdout)
	}
	if st.KernelDropped != 0 || st.Ring.Dropped != 0 {
		t.Errorf("drops: kernel %d, ring %d", st.KernelDropped, st.Ring.Dropped)
	}
	must(t, run.cmd.Process.Signal(syscall.SIGTERM))
	if res := run.wait(t); res.code != 0 {
		t.Fatalf("run exit %d\n%s", res.code, res.stderr)
	}
}

// TestRecorderSurvivesSIGKILL: the service is killed with SIGKILL in the
// middle of a segment ten times; after each restart every segment opens
// with tshark, and `bundle --last` holds every datagram sent more than a
// flush interval before each kill.
func TestRecorderSurvivesSIGKILL(t *testing.T) {
	needRoot(t)
	have(t, "ip", "tshark")
	ns := newNetns(t, "reck")
	f := newFixture(t)
	cfg := recorderConfig(t, f, "recorder:\n  segment_duration: 1m\n")
	ns.listenUDP(t, "127.0.0.1:5060")
	conn := ns.dialUDP(t, "127.0.0.1:5071", "127.0.0.1:5060")
	const cycles, per = 10, 20
	for i := range cycles {
		run := startRecorder(t, ns, cfg)
		checkSegments(t, filepath.Join(f.state, "recorder"))
		sendDatagrams(t, conn, per, 300, fmt.Sprintf("OPTIONS sip:cycle-%d@pbx SIP/2.0", i))
		time.Sleep(2500 * time.Millisecond) // the capture flushes every second
		sendDatagrams(t, conn, 5, 300, "OPTIONS sip:lost@pbx SIP/2.0")
		must(t, run.cmd.Process.Signal(syscall.SIGKILL))
		run.wait(t)
	}
	run := startRecorder(t, ns, cfg)
	checkSegments(t, filepath.Join(f.state, "recorder"))
	r := runAgent(t, "bundle", "--config", cfg, "--last", "5m", "--json")
	if r.code != 0 {
		t.Fatalf("bundle --last after %d kills: exit %d\n%s", cycles, r.code, r.stderr)
	}
	dir := extract(t, parseBundleJSON(t, r).Path)
	uris := tsharkFields(t, filepath.Join(dir, "capture", "capture.pcapng"), "sip.Method == \"OPTIONS\"", "sip.r-uri")
	count := map[string]int{}
	for _, u := range uris {
		count[u[0]]++
	}
	for i := range cycles {
		if n := count[fmt.Sprintf("sip:cycle-%d@pbx", i)]; n != per {
			t.Errorf("cycle %d: %d of %d datagrams in the bundle", i, n, per)
		}
	}
	must(t, run.cmd.Process.Signal(syscall.SIGTERM))
	run.wait(t)
}

// checkSegments opens every finished segment with tshark and checks that
// no segment is left open by a crash once the service has started.
func checkSegments(t *testing.T, ring string) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(ring, "seg-*.pcapng"))
	must(t, err)
	gz, err := filepath.Glob(filepath.Join(ring, "seg-*.pcapng.gz"))
	must(t, err)
	segs = append(segs, gz...)
	for _, s := range segs {
		out, err := exec.Command("tshark", "-r", s, "-q").CombinedOutput()
		if err != nil || strings.Contains(string(out), "cut short") {
			t.Fatalf("tshark cannot read %s: %v\n%s", s, err, out)
		}
	}
	open, _ := filepath.Glob(filepath.Join(ring, "seg-*.pcapng*.open"))
	for _, o := range open {
		// The running service's own open segment is the newest; older
		// ones would be leftovers of a crash.
		if fi, err := os.Stat(o); err == nil && time.Since(fi.ModTime()) > time.Minute {
			t.Fatalf("segment %s left open", o)
		}
	}
}

// TestRecorderStopsBeforeDiskWarning: on a small tmpfs state folder the
// ring stays within its share of the room below the disk watcher's
// warning level and says why; when the disk fills up from elsewhere it
// stops, says why and gives its space back, and the disk stays below the
// warning level.
func TestRecorderStopsBeforeDiskWarning(t *testing.T) {
	needRoot(t)
	have(t, "ip")
	ns := newNetns(t, "recd")
	data := tmpfsFixture(t, "24m")
	mnt := filepath.Dir(filepath.Dir(data))
	state := filepath.Join(mnt, "state")
	cfg := watchConfig(t, data, state, nil, `bundle:
  reserve_min: 1MiB
  reserve_percent: 0
recorder:
  segment_size: 256KiB
`)
	run := startRecorder(t, ns, cfg)
	ns.listenUDP(t, "127.0.0.1:5060")
	conn := ns.dialUDP(t, "127.0.0.1:5071", "127.0.0.1:5060")
	ring := filepath.Join(state, "recorder")
	var st0 syscall.Statfs_t
	must(t, syscall.Statfs(mnt, &st0))
	size := float64(st0.Blocks-st0.Bfree+st0.Bavail) * float64(st0.Bsize)
	// others is what the filesystem holds besides the ring.
	others := func() float64 {
		var st syscall.Statfs_t
		must(t, syscall.Statfs(mnt, &st))
		return float64(st.Blocks-st.Bfree)*float64(st.Bsize) - float64(du(ring))
	}
	used := func() float64 {
		var st syscall.Statfs_t
		must(t, syscall.Statfs(mnt, &st))
		return 100 * float64(st.Blocks-st.Bfree) / float64(st.Blocks-st.Bfree+st.Bavail)
	}
	status := func() string { d, _ := os.ReadFile(filepath.Join(ring, "status.json")); return string(d) }
	// 40 MiB of SIP-port traffic on a 24 MiB disk.
	for range 40 {
		sendDatagrams(t, conn, 1024, 1000, "OPTIONS sip:load@pbx SIP/2.0")
		if u := used(); u >= 85 {
			t.Fatalf("the disk reached %.1f%% used: the ring went past the warning level", u)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitState(t, 20*time.Second, func() bool { return readRecorderStatus(t, state).Ring.Limited != "" }, status)
	st := readRecorderStatus(t, state)
	share := 0.5 * (0.84*size - others())
	if !strings.Contains(st.Ring.Limited, "warning level") || st.Ring.Paused != "" || float64(du(ring)) > share+2*256<<10 {
		t.Errorf("the ring should roll within half the room below the warning level (%.0f bytes) and say so; it holds %d:\n%s", share, du(ring), status())
	}
	// Someone else fills the disk to 83.5 %: the ring stops, says why and
	// gives its space back.
	// The filler grows as the ring gives space back (every tick).
	filler, err := os.Create(filepath.Join(mnt, "filler.bin"))
	must(t, err)
	defer filler.Close()
	for deadline := time.Now().Add(60 * time.Second); ; {
		need := int64(0.835*size - others())
		if need <= 0 {
			break
		}
		var st syscall.Statfs_t
		must(t, syscall.Statfs(mnt, &st))
		if n := min(need, int64(st.Bavail)*st.Bsize-256<<10); n > 0 {
			_, err := filler.Write(make([]byte, n))
			must(t, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ring did not give space back:\n%s", status())
		}
		time.Sleep(time.Second)
	}
	sendDatagrams(t, conn, 512, 1000, "OPTIONS sip:more@pbx SIP/2.0")
	waitState(t, 20*time.Second, func() bool { return readRecorderStatus(t, state).Ring.Paused != "" }, status)
	st = readRecorderStatus(t, state)
	if !strings.Contains(st.Ring.Paused, "warning level") {
		t.Errorf("paused without the reason: %q", st.Ring.Paused)
	}
	if u := used(); u >= 85 {
		t.Errorf("the disk is %.1f%% used with the ring stopped", u)
	}
	s := runAgent(t, "status", "--config", cfg)
	if !strings.Contains(s.stdout, "not recording:") {
		t.Errorf("status does not say the ring stopped:\n%s", s.stdout)
	}
	must(t, run.cmd.Process.Signal(syscall.SIGTERM))
	run.wait(t)
}

// waitState polls cond until it holds or the time is up, then shows state.
func waitState(t *testing.T, limit time.Duration, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s; state:\n%s", limit, state())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sipList lists the SIP messages of a capture with addresses, ports and a
// hash of the payload, sorted.
func sipList(t *testing.T, file string) []string {
	t.Helper()
	var out []string
	for _, r := range tsharkFields(t, file, "sip", "ip.src", "ip.dst", "udp.srcport", "udp.dstport", "udp.payload") {
		sum := sha256.Sum256([]byte(r[4]))
		out = append(out, fmt.Sprintf("%s:%s > %s:%s payload %s", r[0], r[2], r[1], r[3], hex.EncodeToString(sum[:6])))
	}
	slices.Sort(out)
	return out
}

// du is the size of the files in dir.
func du(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}
