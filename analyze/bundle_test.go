package analyze

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/pkttest"
)

func sipText(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

// failedCallPcap: an extension's INVITE answered 404 by the PBX.
func failedCallPcap() []byte {
	var w pkttest.Capture
	w.UDP(simT0, extAddr, pbxAddr, sipText("INVITE sip:1099@pbx.example.com SIP/2.0",
		"Via: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bK1", "From: <sip:1001@pbx.example.com>;tag=a",
		"To: <sip:1099@pbx.example.com>", "Call-ID: bundle-call-1", "CSeq: 2 INVITE", "Proxy-Authorization: Digest username=\"1001\"",
		"User-Agent: Yealink", "Content-Length: 0"))
	w.UDP(simT0.Add(20*time.Millisecond), pbxAddr, extAddr, sipText("SIP/2.0 404 Not Found",
		"Via: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bK1", "From: <sip:1001@pbx.example.com>;tag=a",
		"To: <sip:1099@pbx.example.com>;tag=b", "Call-ID: bundle-call-1", "CSeq: 2 INVITE", "Server: PortSIP PBX", "Content-Length: 0"))
	return w.Pcap()
}

var bundleFiles = map[string]string{
	"manifest.json":             "{}",
	"system/network.json":       `{"name":"network","report":{"state":"OK","summary":"","data":{"interfaces":[{"name":"eth0","addresses":["203.0.113.10/24"]}]}}}`,
	"system/host.json":          `{"name":"host","report":{"state":"OK","summary":"","data":{"utc_offset_seconds":3600,"timezone":"CET"}}}`,
	"logs/callmanager.log":      "2026-11-27 11:00:00.010 [ERROR] no route for 1099\n2026-11-27 10:00:00.010 [ERROR] an hour off: not near the call\n",
	"logs/callmanager.log.gz":   "not read",
	"config/pbxagent.yaml":      "x: 1",
	"capture/capture.pcapng.sh": "not a capture",
}

func writeTarGz(t *testing.T, p string, capture []byte) {
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: simT0}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	for name, data := range bundleFiles {
		add(name, []byte(data))
	}
	add("capture/capture.pcapng", capture)
	for _, c := range []interface{ Close() error }{tw, gz, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func writeZip(t *testing.T, p string, capture []byte) {
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	add := func(name string, data []byte) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("capture/capture.pcapng", capture)
	for name, data := range bundleFiles {
		add(name, []byte(data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestAnalyzeFile(t *testing.T) {
	dir := t.TempDir()
	capture := failedCallPcap()
	bare := filepath.Join(dir, "trace.pcap")
	if err := os.WriteFile(bare, capture, 0o644); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(capture)
	zw.Close()
	bareGz := filepath.Join(dir, "trace.pcap.gz")
	if err := os.WriteFile(bareGz, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tgz, zp := filepath.Join(dir, "b.tar.gz"), filepath.Join(dir, "b.zip")
	writeTarGz(t, tgz, capture)
	writeZip(t, zp, capture)

	for _, p := range []string{bare, bareGz} {
		r, err := AnalyzeFile(context.Background(), p, Options{})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		onlyFindings(t, r, "sip-404")
		if r.Host != nil || r.Calls[0].Direction != dirExtToPBX || r.Capture.SIP != 2 {
			t.Errorf("%s: host %+v, call %+v, capture %+v", p, r.Host, r.Calls[0], r.Capture)
		}
	}
	for _, p := range []string{tgz, zp} {
		r, err := AnalyzeFile(context.Background(), p, Options{})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		onlyFindings(t, r, "sip-404", "log-errors")
		f := finding(t, r, "log-errors")
		if len(f.Lines) != 1 || f.Lines[0].Line != 1 || f.Lines[0].File != "callmanager.log" || !strings.Contains(f.Lines[0].Text, "no route for 1099") {
			t.Errorf("%s: log lines %+v", p, f.Lines)
		}
		if r.Capture.File != p+"!capture/capture.pcapng" || strings.Join(r.PBX, ",") != "203.0.113.10" {
			t.Errorf("%s: capture %q PBX %v", p, r.Capture.File, r.PBX)
		}
	}

	// A configured PBX address (its public address behind NAT) joins the
	// bundle host's interface addresses instead of replacing them.
	nat := netip.MustParseAddr("198.51.100.99")
	r, err := AnalyzeFile(context.Background(), tgz, Options{PBX: []netip.Addr{nat}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.PBX, ",") != "198.51.100.99,203.0.113.10" || !strings.Contains(strings.Join(r.Notes, " "), "and the configured PBX addresses") {
		t.Errorf("configured PBX with a bundle: PBX %v, notes %v", r.PBX, r.Notes)
	}

	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("just some text, neither a capture nor an archive"), 0o644)
	if _, err := AnalyzeFile(context.Background(), notes, Options{}); err == nil {
		t.Error("a text file was analysed")
	}
	if _, err := AnalyzeFile(context.Background(), filepath.Join(dir, "missing"), Options{}); err == nil {
		t.Error("a missing file was analysed")
	}
	// A bundle without a capture says how to make one.
	empty := filepath.Join(dir, "nocap.tar.gz")
	writeTarGzWithout(t, empty)
	_, err = AnalyzeFile(context.Background(), empty, Options{})
	if err == nil || !strings.Contains(err.Error(), "--duration") {
		t.Errorf("bundle without capture: %v", err)
	}
}

func writeTarGzWithout(t *testing.T, p string) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	data := []byte(bundleFiles["system/network.json"])
	tw.WriteHeader(&tar.Header{Name: "system/network.json", Mode: 0o644, Size: int64(len(data))})
	tw.Write(data)
	tw.Close()
	gz.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAnalyzeStream(t *testing.T) {
	r, err := Analyze(context.Background(), bytes.NewReader(failedCallPcap()), nil, pbxOpt())
	if err != nil {
		t.Fatal(err)
	}
	onlyFindings(t, r, "sip-404")
	if s := r.Summary(); !strings.Contains(s, "1 calls (0 answered, 1 failed)") || !strings.Contains(s, "sip-404") {
		t.Errorf("summary:\n%s", s)
	}
}
