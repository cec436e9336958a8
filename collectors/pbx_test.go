package collectors

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPBX(t *testing.T) {
	data := filepath.Join(t.TempDir(), "portsip", "pbx")
	if err := os.MkdirAll(filepath.Join(data, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "VERSION"), []byte("22.3.5\nbuild 1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "system.ini"), []byte("[database]\nsuperuser_password=hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, d := collect[PBXData](t, NewPBX(data, filepath.Join(data, "log")))
	if d.Version != "22.3.5" || !d.DataDirExists || !d.LogDirExists || !d.SystemINIPresent {
		t.Errorf("data %+v", d)
	}
	if !strings.Contains(rep.Summary, "PortSIP 22.3.5") {
		t.Errorf("summary %q", rep.Summary)
	}
	if strings.Contains(rep.Text, "hunter2") {
		t.Error("system.ini content leaked")
	}
}

func TestPBXNoVersion(t *testing.T) {
	data := t.TempDir()
	_, d := collect[PBXData](t, NewPBX(data, filepath.Join(data, "log")))
	if d.Version != "" || d.VersionError == "" || d.LogDirExists || d.SystemINIPresent {
		t.Errorf("data %+v", d)
	}
}

func TestPBXMissing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "portsip", "pbx")
	_, err := NewPBX(data, filepath.Join(data, "log")).Collect(context.Background())
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("err = %v, want ErrNoData", err)
	}
	if !strings.Contains(err.Error(), "PortSIP data folder "+data+" not found") {
		t.Errorf("reason %q", err)
	}
}
