package redact

import (
	"reflect"
	"testing"
)

func TestSplitKey(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"superuser_password", []string{"superuser", "password"}},
		{"DB_PASSWORD", []string{"db", "password"}},
		{"dbPassword", []string{"db", "password"}},
		{"APIKey", []string{"api", "key"}},
		{"x-api-key", []string{"x", "api", "key"}},
		{"smtp.auth.pass", []string{"smtp", "auth", "pass"}},
		{"pass2", []string{"pass"}},
		{"s3Secret", []string{"s", "secret"}},
		{"sessionID", []string{"session", "id"}},
		{"", nil},
		{"__", nil},
	}
	for _, tt := range tests {
		if got := splitKey(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	secret := []string{
		"password", "PASSWORD", "superuser_password", "DB_PASSWORD",
		"POSTGRES_PASSWORD", "MYSQL_ROOT_PASSWORD", "dbpassword",
		"smtpPassword", "smtp-password", "passwd", "db_passwd",
		"DB_PWD", "adminPwd", "pw", "pass", "db_pass", "smtpPass", "PASS2",
		"passphrase", "secret", "client_secret", "clientSecret",
		"secret_key", "token", "API_TOKEN", "access_token", "accessToken",
		"refresh_token", "X-Auth-Token", "apikey", "api_key", "apiKey",
		"x-api-key", "APIKEY", "access_key", "aws_secret_access_key",
		"private_key", "privateKey", "credential", "credentials", "creds",
		"auth", "smtp_auth", "Authorization", "Proxy-Authorization", "psk",
		"session_id", "sessionid", "SESSIONID", "session_key", "key",
		"license_key", "encryption_key", "signing-key", "jwt_secret",
		"master.key",
	}
	for _, k := range secret {
		if !IsSecretKey(k) {
			t.Errorf("IsSecretKey(%q) = false, want true", k)
		}
	}
	harmless := []string{
		"", "user", "username", "user_name", "host", "port", "database",
		"author", "authority", "oauth", "passive_mode", "pass_through",
		"passthrough", "bypass", "compass", "keyboard", "monkey", "keys",
		"public_key", "primary_key", "sort_key", "key_id", "password_file",
		"DB_PASSWORD_FILE", "passwordFile", "token_url", "token_endpoint",
		"secret_path", "tls_key_dir", "auth_user", "smtp_auth_username",
		"token_type", "auth_type", "auth_method", "password_min_length",
		"token_expiry", "no-password", "password-stdin", "ask_pass",
		"max_tokens", "auth_enabled", "PWD", "OLDPWD", "path", "sip_domain",
		"secret_name", "cert", "certificate",
	}
	for _, k := range harmless {
		if IsSecretKey(k) {
			t.Errorf("IsSecretKey(%q) = true, want false", k)
		}
	}
}

func TestExtraKeys(t *testing.T) {
	r := New("pin", "License-Key", "")
	for _, k := range []string{"pin", "voicemail_pin", "VoicemailPIN", "pbx_license_key", "password"} {
		if !r.isSecret(k) {
			t.Errorf("isSecret(%q) = false, want true", k)
		}
	}
	for _, k := range []string{"pinned", "spin", "pin_file", "license", "user"} {
		if r.isSecret(k) {
			t.Errorf("isSecret(%q) = true, want false", k)
		}
	}
	var zero Redactor
	if out, n := zero.String("password=x"); out != "password="+Marker || n != 1 {
		t.Errorf("zero Redactor: %q, %d", out, n)
	}
}

func TestLooksLikePath(t *testing.T) {
	paths := []string{
		"/etc/portsip/key.pem", "/opt/portsip/pbx/secret", "./key.pem",
		"../certs/tls.key", "~/.ssh/id_ed25519", `C:\ProgramData\PortSIP\key.pem`,
		"/keys/server.key",
	}
	for _, p := range paths {
		if !looksLikePath(p) {
			t.Errorf("looksLikePath(%q) = false", p)
		}
	}
	keys := []string{
		"s3cr3t", "/k3jd9+Zx==", "/abcDEF123/xyz", "0123abcdef",
		"/AAAAB3NzaC1yc2EAAAADAQABAAABAQC", "/a b/c.pem", "",
	}
	for _, k := range keys {
		if looksLikePath(k) {
			t.Errorf("looksLikePath(%q) = true", k)
		}
	}
}
