package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/delivery"
)

// openPTY returns both ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	return m, s
}

// TestUploadProgressTerminal checks the terminal path end to end: on a
// pseudo-terminal the upload's log line is printed above the live line,
// which shows the bytes and is erased at the end, and the log is
// redacted like the main log.
func TestUploadProgressTerminal(t *testing.T) {
	master, slave := openPTY(t)
	cfg := config.Default()
	cfg.Delivery.Upload.SecretKey = "Upl0ad-S3cret-Key"
	a := &app{stderr: slave, cfg: cfg}
	var opt delivery.UploadOptions
	finish := a.uploadProgress(false, &opt)
	if opt.Progress == nil || opt.Log == nil {
		t.Fatal("no progress on a terminal")
	}
	opt.Progress(40<<20, 100<<20)
	opt.Log.Info("retrying part 3", "detail", "Upl0ad-S3cret-Key") // draws the line again below it
	finish()
	slave.Close()
	var buf bytes.Buffer
	io.Copy(&buf, master) // ends with EIO once the slave is closed and drained
	out := buf.String()
	for _, want := range []string{"retrying part 3", "uploading 40.0 MiB of 100.0 MiB (40%)", "\r\x1b[K"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(out, "Upl0ad-S3cret-Key") {
		t.Errorf("the upload's log printed a secret:\n%q", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("the live line was not erased at the end:\n%q", out)
	}
}
