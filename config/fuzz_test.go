package config

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"",
		"# comment\npbx:\n  # data_dir: /x\nagent:\n  log_level: info\n",
		"pbx:\n  data_dir: /x\n  sip_ports: [1, 2]\n",
		"bundle: {max_size: 1GiB, since: 7d, reserve_percent: 5%}\n",
		"a: &a [*a]\n",
		"x: &x {pbx: *x}\npbx: *x\n",
		"smtp:\n  to: [a@b, ~]\n  tls: none\n",
		"- 1\n",
		"agent:\n  agent:\n    agent: 1\n",
		"? [a]\n: b\n",
		"<<: {pbx: {}}\n",
		"---\n---\n",
		"api: {url: 'http://u:p@h'}\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "f.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, true)
		if err == nil {
			if _, err := Marshal(c); err != nil {
				t.Fatalf("Marshal: %v", err)
			}
		}
	})
}
