package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func hasProblem(ps []Problem, key, sub string) bool {
	for _, p := range ps {
		if p.Key == key && strings.Contains(p.Message, sub) {
			return true
		}
	}
	return false
}

// TestPBXDirProblems: system folders and the agent's state folder are
// refused as PBX folders; the stock layout is not.
func TestPBXDirProblems(t *testing.T) {
	if ps := Default().validate("linux"); hasProblem(ps, "pbx.data_dir", "") || hasProblem(ps, "pbx.log_dir", "") {
		t.Fatalf("defaults refused: %v", ps)
	}
	for _, dir := range []string{"/", "/etc", "/etc/", "/root", "/proc", "/sys", "/dev", "//etc"} {
		c := Default()
		c.PBX.LogDir = dir
		if !hasProblem(c.validate("linux"), "pbx.log_dir", "system folder") {
			t.Errorf("pbx.log_dir %s accepted", dir)
		}
	}
	c := Default()
	c.PBX.DataDir = c.Agent.StateDir
	if !hasProblem(c.validate("linux"), "pbx.data_dir", "state folder") {
		t.Error("data_dir = state_dir accepted")
	}
	c = Default()
	c.PBX.LogDir = filepath.Dir(c.Agent.StateDir) // contains the state folder
	if !hasProblem(c.validate("linux"), "pbx.log_dir", "state folder") {
		t.Error("a log folder holding the state folder accepted")
	}
	w := defaultFor("windows", func(string) string { return "" })
	w.PBX.LogDir = strings.ToUpper(w.Agent.StateDir)
	if !hasProblem(w.validate("windows"), "pbx.log_dir", "state folder") {
		t.Error("windows: log_dir = state_dir (other case) accepted")
	}
}

// TestCheckFiles: named files must exist and have the right type.
func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	c := Default()
	c.Agent.StateDir = dir
	c.PBX.DataDir = dir
	c.SMTP.CAFile = filepath.Join(dir, "missing.pem")
	c.Signing.SecretKey = dir
	ps := c.CheckFiles()
	if !hasProblem(ps, "smtp.ca_file", "does not exist") || !hasProblem(ps, "signing.secret_key", "is a folder") {
		t.Errorf("problems: %v", ps)
	}
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, []byte("x"), 0o600)
	c.SMTP.CAFile = ca
	c.Signing.SecretKey = filepath.Join(dir, "none.key") // created on first bundle
	c.PBX.LogDir = ca
	ps = c.CheckFiles()
	if len(ps) != 1 || !hasProblem(ps, "pbx.log_dir", "not a folder") {
		t.Errorf("problems: %v", ps)
	}
}
