package recorder

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// stream builds a pcapng stream as the capture package writes it: one
// section by pbxagent, nanosecond timestamps, n raw-IP packets of size
// bytes each, one per step from start; packet i carries "seq=<i>" and, every
// tenth, a SIP message with Call-ID call-<i>.
func stream(t testing.TB, start time.Time, step time.Duration, n, size int, iface string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: iface, LinkType: layers.LinkTypeRaw, SnapLength: 65535, TimestampResolution: 9},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "pbxagent", Comment: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		data := packetData(i, size)
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * step), CaptureLength: len(data), Length: len(data)}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func packetData(i, size int) []byte {
	var p []byte
	if i%10 == 0 {
		p = fmt.Appendf(nil, "INVITE sip:100@pbx SIP/2.0\r\nVia: SIP/2.0/UDP a\r\nCall-ID: call-%d\r\nseq=%d\r\n\r\n", i, i)
	} else {
		p = fmt.Appendf(nil, "seq=%d;", i)
	}
	// Pseudo-random padding, so that a compressed segment is as large
	// as the packets in it and the byte limits are exercised.
	x := uint32(i)*2654435761 + 1
	for len(p) < size {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p = append(p, byte(x))
	}
	return p
}

// feed writes data to the ring in chunks of odd sizes, as the capture's
// buffered writer would.
func feed(t testing.TB, r io.Writer, data []byte, chunk int) {
	t.Helper()
	for len(data) > 0 {
		n := min(chunk, len(data))
		if _, err := r.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
}

// seqs reads back the seq numbers of every packet of a pcapng stream,
// checking that it is a valid pcapng file with gopacket's reader.
func seqs(t testing.TB, data []byte) []int {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.NgReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for {
		p, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		i := bytes.Index(p, []byte("seq="))
		var n int
		fmt.Sscanf(string(p[i+4:]), "%d", &n)
		out = append(out, n)
	}
}

func extractAll(t testing.TB, dir string) ([]int, ExtractStats) {
	t.Helper()
	segs, err := Finished(dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	st, err := Extract(context.Background(), dir, segs, time.Time{}, t0.Add(1000*time.Hour), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len() == 0 {
		return nil, st
	}
	return seqs(t, buf.Bytes()), st
}

func contiguousSuffix(t *testing.T, got []int, last int) {
	t.Helper()
	if len(got) == 0 || got[len(got)-1] != last {
		t.Fatalf("ring does not end with packet %d: %v", last, tail(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("gap between packets %d and %d", got[i-1], got[i])
		}
	}
}

func tail(s []int) []int { return s[max(0, len(s)-5):] }

func modes(t *testing.T, dir string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("ring folder mode %v, %v", fi.Mode(), err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
}

func TestRingByteCapKeepsNewest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ring")
	r, err := Open(Options{Dir: dir, SegmentBytes: 64 << 10, MaxBytes: 256 << 10, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	feed(t, r, stream(t, t0, time.Millisecond, n, 1000, "lo"), 7777)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Bytes > 256<<10 {
		t.Fatalf("ring holds %d bytes, cap %d", st.Bytes, 256<<10)
	}
	if st.Deleted == 0 {
		t.Fatal("no segment deleted although the load was 8 times the cap")
	}
	got, xs := extractAll(t, dir)
	contiguousSuffix(t, got, n-1)
	if xs.Packets != st.Packets || int64(len(got)) != st.Packets {
		t.Fatalf("extracted %d packets, ring counts %d", len(got), st.Packets)
	}
	// Only one more segment would have exceeded the cap.
	if st.Bytes+(64<<10) <= 256<<10 {
		t.Fatalf("ring holds %d bytes: an older segment was deleted needlessly", st.Bytes)
	}
	modes(t, dir)
}

func TestRingIndexCallIDs(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, stream(t, t0, time.Second, 25, 200, "eth0"), 1<<20)
	if err := r.Seal(); err != nil {
		t.Fatal(err)
	}
	segs := r.Segments()
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	x := segs[0]
	if x.Packets != 25 || !x.First.Equal(t0) || !x.Last.Equal(t0.Add(24*time.Second)) {
		t.Fatalf("index %+v", x)
	}
	if strings.Join(x.CallIDs, ",") != "call-0,call-10,call-20" {
		t.Fatalf("call-ids %v", x.CallIDs)
	}
	// The index on disk says the same.
	disk, err := Finished(dir)
	if err != nil || len(disk) != 1 || disk[0].Packets != 25 || len(disk[0].CallIDs) != 3 {
		t.Fatalf("index on disk %+v %v", disk, err)
	}
}

func TestRingSegmentDurationAndAge(t *testing.T) {
	dir := t.TempDir()
	now := t0
	r, err := Open(Options{Dir: dir, SegmentDuration: time.Minute, MaxAge: 10 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	// 30 minutes of traffic, one packet per second: 30 segments.
	feed(t, r, stream(t, t0, time.Second, 1800, 100, "lo"), 4096)
	if err := r.Seal(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Segments()); n != 30 {
		t.Fatalf("%d segments, want 30 (one per minute)", n)
	}
	now = t0.Add(30 * time.Minute)
	if err := r.Tick(); err != nil {
		t.Fatal(err)
	}
	got, _ := extractAll(t, dir)
	contiguousSuffix(t, got, 1799)
	// Segments whose newest packet is within 10 minutes stay: packets from
	// 19:00 on (the segment 19:00-19:59 ends after 19:59 > 20:00-10 min? no).
	first := got[0]
	if first != 20*60-60 && first != 20*60 {
		t.Fatalf("oldest kept packet %d s, want the segment ending within 10 minutes of now", first)
	}
	for _, x := range r.Segments() {
		if now.Sub(x.Last) > 10*time.Minute {
			t.Fatalf("segment %s older than max age kept", x.File)
		}
	}
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

func TestRingStaysWithinDiskRoomAndSaysWhy(t *testing.T) {
	dir := t.TempDir()
	// A filesystem with 300 KiB above the levels; the ring's files use it.
	budget := int64(300 << 10)
	room := func(int64) (int64, string, error) { return budget, "disk nearly at its warning level", nil }
	r, err := Open(Options{Dir: dir, SegmentBytes: 64 << 10, MaxBytes: 1 << 30, Headroom: room})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, stream(t, t0, time.Millisecond, 2000, 1000, "lo"), 65536)
	st := r.Stats()
	if st.Paused != "" || !strings.Contains(st.Limited, "warning level") {
		t.Fatalf("ring should roll within the room and say why: %+v", st)
	}
	if st.Bytes > budget+headroomEvery {
		t.Fatalf("ring holds %d bytes, room was %d", st.Bytes, budget)
	}
	// The disk fills up from elsewhere: the ring stops, says why and gives
	// its space back.
	budget = 64 << 10
	feed(t, r, stream(t, t0.Add(time.Minute), time.Millisecond, 1000, 1000, "lo"), 65536)
	if err := r.Tick(); err != nil {
		t.Fatal(err)
	}
	st = r.Stats()
	if !strings.Contains(st.Paused, "warning level") || st.Dropped == 0 {
		t.Fatalf("ring not paused with the reason: %+v", st)
	}
	if du(dir) > 64<<10+int64(DefaultSegmentBytes) {
		t.Fatalf("ring still holds %d bytes", du(dir))
	}
}

func TestRingNewSectionStartsNewSegment(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, stream(t, t0, time.Millisecond, 10, 100, "lo"), 333)
	feed(t, r, stream(t, t0.Add(time.Second), time.Millisecond, 10, 100, "eth0"), 333)
	r.Close()
	if n := len(r.Segments()); n != 2 {
		t.Fatalf("%d segments, want 2", n)
	}
	got, _ := extractAll(t, dir)
	if len(got) != 20 {
		t.Fatalf("extracted %d packets from two sections, want 20", len(got))
	}
}

func TestRingRepairsCrashedSegment(t *testing.T) {
	data := stream(t, t0, time.Millisecond, 500, 300, "lo")
	for _, cut := range []int{100, 2000, len(data) / 2, len(data) - 3} {
		dir := t.TempDir()
		r, err := Open(Options{Dir: dir, SegmentBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		feed(t, r, data, 4096)
		r.Flushed() // as the capture does after each flush
		// Simulate a crash: the open segment is cut at an arbitrary byte.
		r.mu.Lock()
		open := r.cur.path
		r.cur.w.f.Close()
		r.closed = true
		r.mu.Unlock()
		fi, _ := os.Stat(open)
		keep := min(int64(cut), fi.Size())
		if err := os.Truncate(open, keep); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not ours"), 0o600)
		r2, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		st := r2.Stats()
		if st.Repaired+st.Discarded != 1 {
			t.Fatalf("cut %d: repaired %d discarded %d", cut, st.Repaired, st.Discarded)
		}
		got, _ := extractAll(t, dir)
		for i := 1; i < len(got); i++ {
			if got[i] != got[i-1]+1 || got[0] != 0 {
				t.Fatalf("cut %d: packets after repair not a prefix", cut)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
			t.Fatal("a file the ring did not write was removed")
		}
		ents, _ := filepath.Glob(filepath.Join(dir, "*.open"))
		if len(ents) != 0 {
			t.Fatalf("open segments left: %v", ents)
		}
		// Recording goes on after the restart.
		feed(t, r2, stream(t, t0.Add(time.Hour), time.Millisecond, 5, 100, "lo"), 1000)
		r2.Close()
		again, _ := extractAll(t, dir)
		if len(again) != len(got)+5 {
			t.Fatalf("cut %d: %d packets after restart, want %d", cut, len(again), len(got)+5)
		}
	}
}

// The open segment is buffered, but everything handed over before the
// capture's flush is in the file when Flushed returns: a crash loses no more
// than the capture's own buffer.
func TestRingFlushedWritesOpenSegment(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(Options{Dir: dir, SegmentBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const n = 50
	feed(t, r, stream(t, t0, time.Millisecond, n, 200, "lo"), 999)
	r.Flushed()
	r.mu.Lock()
	open := r.cur.path
	r.mu.Unlock()
	data, err := os.ReadFile(open)
	if err != nil {
		t.Fatal(err)
	}
	got := seqs(t, data)
	if len(got) != n || got[n-1] != n-1 {
		t.Fatalf("open segment holds %d packets after the flush, want %d", len(got), n)
	}
}

func TestRingLeavesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "seg-0000000000000000001.pcapng")
	os.WriteFile(foreign, []byte("someone else's file"), 0o600)
	idx := filepath.Join(dir, "seg-0000000000000000002.idx.json")
	os.WriteFile(idx, []byte(`{"writer":"x","file":"seg-0000000000000000002.pcapng"}`), 0o600)
	os.Symlink("/etc/passwd", filepath.Join(dir, "seg-0000000000000000003.pcapng.open"))
	r, err := Open(Options{Dir: dir, SegmentBytes: 64 << 10, MaxBytes: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, stream(t, t0, time.Millisecond, 1000, 1000, "lo"), 65536)
	r.Close()
	for _, p := range []string{foreign, idx, filepath.Join(dir, "seg-0000000000000000003.pcapng.open")} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

func TestExtractWindow(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(Options{Dir: dir, SegmentDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	feed(t, r, stream(t, t0, 100*time.Millisecond, 1000, 100, "lo"), 10000)
	r.Close()
	segs, _ := Finished(dir)
	var buf bytes.Buffer
	st, err := Extract(context.Background(), dir, segs, t0.Add(15*time.Second), t0.Add(35*time.Second), &buf)
	if err != nil {
		t.Fatal(err)
	}
	got := seqs(t, buf.Bytes())
	if len(got) != 201 || got[0] != 150 || got[200] != 350 || st.Segments != 3 {
		t.Fatalf("window gave %d packets %v..%v from %d segments", len(got), got[:1], tail(got), st.Segments)
	}
}

func TestSIPCallID(t *testing.T) {
	for in, want := range map[string]string{
		"INVITE sip:a SIP/2.0\r\nCall-ID: abc@h\r\n\r\n":      "abc@h",
		"SIP/2.0 200 OK\r\ni:  x1 \r\nCSeq: 1 INVITE\r\n\r\n": "x1",
		"SIP/2.0 200 OK\r\n\r\nCall-ID: body\r\n":             "",
		"GET / HTTP/1.1\r\nCall-ID: no\r\n\r\n":               "",
		"SIP/2.0 100 Trying\r\ncall-id:lower\r\n":             "lower",
	} {
		if got := string(sipCallID([]byte(in))); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func TestHeadroom(t *testing.T) {
	const G = 1 << 30
	l := DiskLimits{ReservePercent: 5, ReserveMin: 256 << 20, WarningPercent: 85, Share: 0.5}
	// 100 GiB, 50 used: room to 84% = 34 GiB; reserve 5 GiB → 45 GiB.
	room, why := headroom(50*G, 50*G, 100*G, l)
	if room != 34*G || !strings.Contains(why, "warning") {
		t.Fatalf("room %d (%s)", room, why)
	}
	// Above the warning level: no room.
	if room, _ := headroom(90*G, 10*G, 100*G, l); room >= 0 {
		t.Fatalf("room %d at 90%% used", room)
	}
	// Warning at 100 %: the reserve limits.
	l.WarningPercent = 100
	room, why = headroom(90*G, 10*G, 100*G, l)
	if room != 5*G || !strings.Contains(why, "reserve") {
		t.Fatalf("room %d (%s)", room, why)
	}
}
