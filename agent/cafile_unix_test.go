//go:build unix

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadCAFileRefusesWhatIsNotAPEMFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(good, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := readCAFile(good); err != nil || len(b) == 0 {
		t.Fatalf("regular file: %q, %v", b, err)
	}
	if _, err := readCAFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("folder: %v", err)
	}
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, maxCAFile+1); err != nil {
		t.Fatal(err)
	}
	if _, err := readCAFile(big); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("oversized file: %v", err)
	}
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := readCAFile(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("FIFO read as a CA file")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO as the CA file blocked")
	}
}
