package redact

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

func TestValues(t *testing.T) {
	const pw = "Hunter2:pass/w+rd"
	r := New().WithValues(pw, "abc", "", "DACT")
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alerts@example.com\x00" + pw))
	run(t, r, []tcase{
		{"connected with " + pw + " ok", "connected with " + M + " ok", 1},
		{"GET /x?p=" + url.QueryEscape(pw) + "&u=1", "GET /x?p=" + M + "&u=1", 1},
		{"path /" + url.PathEscape(pw) + "/x", "path /" + M + "/x", 1},
		{`{"note":"` + strings.ReplaceAll(pw, "/", `\/`) + `"}`, `{"note":"` + strings.ReplaceAll(pw, "/", `\/`) + `"}`, 0},
		{"b64 " + base64.StdEncoding.EncodeToString([]byte(pw)) + " end", "b64 " + M + " end", 1},
		{"url64 " + base64.URLEncoding.EncodeToString([]byte("x"+pw)) + " end", "url64 " + M + " end", 1},
		{"535 5.7.8 rejected " + plain + ".", "535 5.7.8 rejected " + M + ".", 1},
		// short values are left to the key rules
		{"abc abc", "abc abc", 0},
		{"twice " + pw + pw + " " + pw, "twice " + M + " " + M, 2},
	})
	for off := 0; off < 3; off++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("z", off) + pw + "tail"))
		got, n := r.String("x " + enc + " y")
		if got != "x "+M+" y" || n != 1 {
			t.Errorf("alignment %d: %q, %d", off, got, n)
		}
	}
}

func TestWithValuesKeepsRules(t *testing.T) {
	base := New("pin")
	r := base.WithValues("s3cr3t-value").WithValues("other-secret")
	got, n := r.String("x voicemail_pin=1234 s3cr3t-value other-secret")
	if want := "x voicemail_pin=" + M + " " + M + " " + M; got != want || n != 3 {
		t.Errorf("got %q, %d; want %q", got, n, want)
	}
	if got, _ := base.String("s3cr3t-value"); got != "s3cr3t-value" {
		t.Errorf("WithValues changed its receiver: %q", got)
	}
}

func TestIssuePatterns(t *testing.T) {
	run(t, New(), []tcase{
		{"2026-01-02 10:00:00 [INFO] api: Authorization: Bearer eyJhbGciOi.x.y", "2026-01-02 10:00:00 [INFO] api: Authorization: Bearer " + M, 1},
		{"[ERR] login failed password=hunter2 user=admin", "[ERR] login failed password=" + M + " user=admin", 1},
		{"db: postgres://portsip:Pg%40ss@127.0.0.1:5432/pbx", "db: postgres://portsip:" + M + "@127.0.0.1:5432/pbx", 1},
		{`body {"username":"admin","password":"hunter2","api_key":"k"}`, `body {"username":"admin","password":"` + M + `","api_key":"` + M + `"}`, 2},
		{"env DB_PASSWORD=hunter2 started", "env DB_PASSWORD=" + M + " started", 1},
		// compose
		{`    command: ["--db-password", "X1"]`, `    command: ["--db-password", "` + M + `"]`, 1},
		{`    command: ['--api-token','X1', "--port", "5060"]`, `    command: ['--api-token','` + M + `', "--port", "5060"]`, 1},
		{"    command:\n      - --db-password\n      - X1\n      - --port\n      - 5060",
			"    command:\n      - --db-password\n      - " + M + "\n      - --port\n      - 5060", 1},
		{`      test: ["CMD", "curl", "-f", "-u", "admin:X1", "http://localhost:8899/"]`,
			`      test: ["CMD", "curl", "-f", "-u", "admin:` + M + `", "http://localhost:8899/"]`, 1},
		{`      test: curl -sf -u admin:X1 http://localhost/ || exit 1`, `      test: curl -sf -u admin:` + M + ` http://localhost/ || exit 1`, 1},
		{`curl --user=admin:X1 -u http://x`, `curl --user=admin:` + M + ` -u http://x`, 1},
		// SMTP
		{"C: AUTH PLAIN AGFkbWluAGh1bnRlcjI=", "C: AUTH PLAIN " + M, 1},
		{"S: 535 5.7.8 auth plain AGFkbWluAGh1bnRlcjI= rejected", "S: 535 5.7.8 auth plain " + M + " rejected", 1},
		{"S: 334 VXNlcm5hbWU6\nC: YWRtaW4=\nS: 334 UGFzc3dvcmQ6\nC: aHVudGVyMg==\nS: 235 ok",
			"S: 334 VXNlcm5hbWU6\nC: YWRtaW4=\nS: 334 UGFzc3dvcmQ6\nC: " + M + "\nS: 235 ok", 1},
		{"AUTH PLAIN =", "AUTH PLAIN =", 0},
	})
}

// TestYAMLScalarForms covers every way YAML can write the value of a
// secret key, including on the line after the key.
func TestYAMLScalarForms(t *testing.T) {
	run(t, New(), []tcase{
		{"api:\n  password:\n    hunter2\n  user: x", "api:\n  password:\n    " + M + "\n  user: x", 1},
		{"password:\n  'hun''ter2'\nuser: x", "password:\n  '" + M + "'\nuser: x", 1},
		{"password:\n  \"hun\n  ter2\"\nuser: x", "password:\n  \"" + M + "\n" + M + "\"\nuser: x", 1},
		{"password:\n  hun\n  ter2\nuser: x", "password:\n  " + M + "\n  " + M + "\nuser: x", 1},
		{"password: hun\n  ter2\nuser: x", "password: " + M + "\n  " + M + "\nuser: x", 1},
		{"password:\n  |\n    hunter2\nuser: x", "password:\n  |\n    " + M + "\nuser: x", 1},
		{"password: !!str hunter2", "password: !!str " + M, 1},
		{"password: &pw hunter2\nother: *pw", "password: &pw " + M + "\nother: *pw", 1},
		{"password: !!str\n  hunter2", "password: !!str\n  " + M, 1},
		{"password: !!str |\n  hunter2", "password: !!str |\n  " + M, 1},
		{"password:\n  [a1, b2]", "password:\n  " + M, 1},
		{"password:\n  nested: x", "password:\n  nested: x", 0},
	})
}

func TestCommentedBlocks(t *testing.T) {
	run(t, New(), []tcase{
		{"# token: |\n#   abc\n#   def\n# user: x\nb: 1", "# token: |\n#   " + M + "\n#   " + M + "\n# user: x\nb: 1", 1},
		{"  # password:\n  #   hunter2\nuser: x", "  # password:\n  #   " + M + "\nuser: x", 1},
		{"# password:\n# user: x", "# password:\n# user: x", 0},
	})
}
