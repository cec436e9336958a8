package linux

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

func TestUnit(t *testing.T) {
	u := Unit(UnitConfig{
		Exe:          "/usr/bin/pbxagent",
		ConfigPath:   "/etc/pbxagent/pbxagent.yaml",
		StateDir:     "/var/lib/pbxagent",
		WritableDirs: []string{"/var/lib/portsip/pbx/log", "/var/lib/pbxagent", "relative/ignored", ""},
	})
	for _, want := range []string{
		"ExecStart=/usr/bin/pbxagent run --config /etc/pbxagent/pbxagent.yaml\n",
		"Restart=always\n", "RestartSec=3\n",
		"Type=notify\n", "WatchdogSec=" + WatchdogSec + "\n", "RestartPreventExitStatus=2\n", "ExecReload=",
		"ReadWritePaths=-/var/lib/pbxagent -/var/lib/portsip/pbx/log\n",
		"ProtectSystem=strict\n", "NoNewPrivileges=yes\n", "PrivateTmp=yes\n",
		"CapabilityBoundingSet=CAP_NET_RAW",
		"WantedBy=multi-user.target",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q:\n%s", want, u)
		}
	}
	if strings.Contains(u, "relative") || strings.Contains(u, "{{") {
		t.Errorf("unit has a relative path or a template directive:\n%s", u)
	}
	if got := Unit(UnitConfig{Exe: "/opt/my tools/pbxagent", ConfigPath: "/etc/p.yaml", StateDir: "/s"}); !strings.Contains(got, `ExecStart="/opt/my tools/pbxagent" run`) {
		t.Errorf("a path with a space is not quoted:\n%s", got)
	}
}

// TestUnitVerifies runs systemd-analyze verify on the unit, with a real
// executable at ExecStart.
func TestUnitVerifies(t *testing.T) {
	sa := testutil.NeedTool(t, "systemd-analyze")
	dir := t.TempDir()
	exe := filepath.Join(dir, "pbxagent")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, UnitName)
	u := Unit(UnitConfig{Exe: exe, ConfigPath: "/etc/pbxagent/pbxagent.yaml", StateDir: "/var/lib/pbxagent"})
	if err := os.WriteFile(unit, []byte(u), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || strings.Contains(string(out), UnitName) {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
