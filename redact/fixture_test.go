package redact

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFixtures(t *testing.T) {
	tests := []struct {
		file    string
		secrets []string // every secret value in the file
		kept    []string // harmless values that must survive
		count   int
	}{
		{
			file: "system.ini",
			secrets: []string{
				"Sup3rSecr3t!db", "pbx db pass 42", "OldDbPassw0rd",
				"9f8e7d6c5b4a39281706f5e4d3c2b1a0", "gw-s3cr3t", "Sm7p#Pass",
				"R3layPw", "DsnPw%40x",
			},
			kept: []string{
				"server_name = pbx01.example.com", "passive_mode = true",
				"user = portsip", "superuser = postgres", "token_ttl = 3600",
				"smtp_user = pbx@example.com", "smtp://pbx:" + M + "@relay.example.com:25",
				"; changed 2024-03", "# from the mail admin",
				"recording_path = /var/lib/portsip/recordings",
				"author = PortSIP Solutions", "postgres://portsip:" + M + "@127.0.0.1:5432/portsip?sslmode=disable",
			},
			count: 8,
		},
		{
			file: "configure_pbx",
			secrets: []string{
				"Env Db Pw 7", "pg-root-pw", "tok_live_83hf7s9", "AdminPa55",
				"PgEnvPw9", "DockerEnvPw", "CliAdminPw",
			},
			kept: []string{
				"export DB_USER=portsip", "PBX_HOME=/opt/portsip/pbx", "# web admin",
				"DB_HOST=db portsip/pbx",
				"IP_ADDR=192.168.1.10", "PWD=/opt/portsip",
			},
			count: 7,
		},
		{
			file: "agent.yaml",
			secrets: []string{
				"PortalTok99", "agent-token-0x1f", "hunter2 yaml", "YamlDsnPw",
				"Supp0rtPw", "OpsKey123", "HookBearer42", "c2lnbmluZy1rZXktbGluZTE",
				"c2lnbmluZy1rZXktbGluZTI", "TrustedTokA", "TrustedTokB",
			},
			kept: []string{
				"ca_file: /etc/pbxagent/ca.pem", "secret_key: /etc/pbxagent/agent.key",
				"public_key: /etc/pbxagent/agent.pub", "username: alerts@example.com",
				"auth_method: plain", "- name: support", "Authorization: Bearer " + M,
				"&region=eu", "redact_keys: [pin]", "author: pbxagent team",
			},
			count: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.secrets {
				if !strings.Contains(string(in), s) {
					t.Fatalf("fixture lacks secret %q", s)
				}
			}
			out, n := New().Bytes(in)
			for _, s := range tt.secrets {
				if strings.Contains(string(out), s) {
					t.Errorf("secret %q left in output", s)
				}
			}
			for _, s := range tt.kept {
				if !strings.Contains(string(out), s) {
					t.Errorf("harmless %q lost", s)
				}
			}
			if n != tt.count {
				t.Errorf("count = %d, want %d", n, tt.count)
			}
			if strings.Count(string(out), "\n") != strings.Count(string(in), "\n") {
				t.Errorf("line count changed")
			}
			if again, n2 := New().Bytes(out); string(again) != string(out) || n2 != 0 {
				t.Errorf("second pass changed the output or counted %d", n2)
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}
