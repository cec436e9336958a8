package redact

import (
	"bytes"
	"strings"
	"testing"
)

type tcase struct {
	in, want string
	n        int
}

func run(t *testing.T, r *Redactor, tests []tcase) {
	t.Helper()
	for _, tt := range tests {
		got, n := r.String(tt.in)
		if got != tt.want || n != tt.n {
			t.Errorf("String(%q)\n got %q, %d\nwant %q, %d", tt.in, got, n, tt.want, tt.n)
		}
		again, n2 := r.String(got)
		if again != got || n2 != 0 {
			t.Errorf("String(String(%q)) = %q, %d; not idempotent", tt.in, again, n2)
		}
	}
}

const M = Marker

func TestINI(t *testing.T) {
	run(t, New(), []tcase{
		{"[database]\nsuperuser_password = s3cr3t\nuser=admin", "[database]\nsuperuser_password = " + M + "\nuser=admin", 1},
		{"password=s3cr3t", "password=" + M, 1},
		{"[apigateway]\nkey = 9f8e7d6c5b", "[apigateway]\nkey = " + M, 1},
		{`password = "s3 cr3t"`, `password = "` + M + `"`, 1},
		{`password = 's3cr3t' ; old one`, `password = '` + M + `' ; old one`, 1},
		{"password = s3cr3t ; set by installer", "password = " + M + " ; set by installer", 1},
		{"password = s3cr3t # set by installer", "password = " + M + " # set by installer", 1},
		{"password = s3;cr#3t", "password = " + M, 1},
		{"password = two words", "password = " + M, 1},
		{"password =", "password =", 0},
		{"password = ", "password = ", 0},
		{`password = ""`, `password = ""`, 0},
		{"password: s3cr3t", "password: " + M, 1},
		{"; password = oldsecret", "; password = " + M, 1},
		{"# password = oldsecret", "# password = " + M, 1},
		{"  Password = s3cr3t\r\nuser = x\r\n", "  Password = " + M + "\r\nuser = x\r\n", 1},
		{"host = 10.0.0.1\nport = 5432\nuser = portsip\ndatabase = portsip",
			"host = 10.0.0.1\nport = 5432\nuser = portsip\ndatabase = portsip", 0},
		{"passive_mode = true\npass_through = yes\nauthor = someone", "passive_mode = true\npass_through = yes\nauthor = someone", 0},
		{"password = ********", "password = ********", 0},
	})
}

func TestShell(t *testing.T) {
	run(t, New(), []tcase{
		{"DB_PASSWORD=abc", "DB_PASSWORD=" + M, 1},
		{`export DB_PASSWORD="abc def"`, `export DB_PASSWORD="` + M + `"`, 1},
		{"POSTGRES_PASSWORD='x'", "POSTGRES_PASSWORD='" + M + "'", 1},
		{"API_TOKEN=tok_123 # rotated monthly", "API_TOKEN=" + M + " # rotated monthly", 1},
		{`readonly ADMIN_PASS="a\"b"`, `readonly ADMIN_PASS="` + M + `"`, 1},
		{`declare -x DB_PWD=xyz`, `declare -x DB_PWD=` + M, 1},
		{`DB_PASSWORD="a"b`, `DB_PASSWORD=` + M, 1},
		{`set SMTP_PASSWORD=win`, `set SMTP_PASSWORD=` + M, 1},
		{`$env:DB_PASSWORD = "win"`, `$env:DB_PASSWORD = "` + M + `"`, 1},
		{"PGPASSWORD=abc psql -U portsip", "PGPASSWORD=" + M, 1},
		{"psql -U portsip; PGPASSWORD=abc pg_dump", "psql -U portsip; PGPASSWORD=" + M + " pg_dump", 1},
		{"DB_PASSWORD_FILE=/run/secrets/db\nPWD=/opt/portsip", "DB_PASSWORD_FILE=/run/secrets/db\nPWD=/opt/portsip", 0},
		{"DB_HOST=127.0.0.1\nDB_USER=portsip", "DB_HOST=127.0.0.1\nDB_USER=portsip", 0},
		{"export A=1; export DB_PASSWORD=x; echo ok", "export A=1; export DB_PASSWORD=" + M + "; echo ok", 1},
		// A quoted value spanning lines is redacted to its closing quote.
		{"DB_PASSWORD=\"line1\nline2\nline3\" # end\nUSER=x", "DB_PASSWORD=\"" + M + "\n" + M + "\n" + M + "\" # end\nUSER=x", 1},
		{"DB_PASSWORD='\nabc'\nUSER=x", "DB_PASSWORD='\n" + M + "'\nUSER=x", 1},
	})
}

func TestYAML(t *testing.T) {
	run(t, New(), []tcase{
		{"password: hunter2", "password: " + M, 1},
		{`  password: "hunter2"`, `  password: "` + M + `"`, 1},
		{"  password: 'hun''ter2' # admin", "  password: '" + M + "' # admin", 1},
		{"token: x", "token: " + M, 1},
		{"- password: x\n- user: y", "- password: " + M + "\n- user: y", 1},
		{"smtp:\n  host: mail\n  username: pbx\n  password: p@ss w0rd # set\n",
			"smtp:\n  host: mail\n  username: pbx\n  password: " + M + " # set\n", 1},
		{"secret_key: /etc/pbxagent/secret.key", "secret_key: /etc/pbxagent/secret.key", 0},
		{"public_key: /etc/pbxagent/pub.pem\npublic_key: AAAAC3Nz", "public_key: /etc/pbxagent/pub.pem\npublic_key: AAAAC3Nz", 0},
		{"secret_key: 0123456789abcdef", "secret_key: " + M, 1},
		{"secret_key: /k3jd9+Zx==", "secret_key: " + M, 1},
		{"private_key: ./tls/agent.key", "private_key: ./tls/agent.key", 0},
		{"password: /not/a/key", "password: " + M, 1},
		{"token_file: /etc/pbxagent/token\ncert_path: /etc/x.pem\nkey_dir: /etc/keys", "token_file: /etc/pbxagent/token\ncert_path: /etc/x.pem\nkey_dir: /etc/keys", 0},
		{"password:\nuser: x", "password:\nuser: x", 0},
		{"password: ~\ntoken: null\nsecret: ''", "password: ~\ntoken: null\nsecret: ''", 0},
		// block scalars
		{"private_key: |\n  -----BEGIN PRIVATE KEY-----\n  MIIEvQ\n\n  AbCd\n-----\nuser: x",
			"private_key: |\n  " + M + "\n  " + M + "\n\n  " + M + "\n-----\nuser: x", 1},
		{"  token: >-\n    abc\n    def\n  user: x", "  token: >-\n    " + M + "\n    " + M + "\n  user: x", 1},
		// lists under a secret key
		{"tokens:\n  - abc\n  - 'def' # old\nother: 1", "tokens:\n  - " + M + "\n  - '" + M + "' # old\nother: 1", 2},
		{"- name: a\n  tokens:\n    - abc\n- name: b", "- name: a\n  tokens:\n    - " + M + "\n- name: b", 1},
		{"api_keys:\n- abc\n- def\nother: 1", "api_keys:\n- " + M + "\n- " + M + "\nother: 1", 2},
		{"credentials:\n  - user: bob\n    password: pw1\n  - user: eve\n    password: pw2\nx: 1",
			"credentials:\n  - user: bob\n    password: " + M + "\n  - user: eve\n    password: " + M + "\nx: 1", 2},
		{"tokens: [abc, 'def', \"ghi\"]", "tokens: [" + M + ", '" + M + "', \"" + M + "\"]", 3},
		{"auth: {user: bob, password: pw1}", "auth: {user: bob, password: " + M + "}", 1},
		{"username: bob\nhost: pbx.example.com\nport: 5060", "username: bob\nhost: pbx.example.com\nport: 5060", 0},
	})
}

func TestJSON(t *testing.T) {
	run(t, New(), []tcase{
		{`  "password": "x",`, `  "password": "` + M + `",`, 1},
		{`{"user":"bob","password":"x","access_token":"eyJhb.c.d","refresh_token":"r1"}`,
			`{"user":"bob","password":"` + M + `","access_token":"` + M + `","refresh_token":"` + M + `"}`, 3},
		{`{"pin": 1234, "api_key": 99, "port": 5060}`, `{"pin": 1234, "api_key": ` + M + `, "port": 5060}`, 1},
		{`"password": "a\"b", "user": "c"`, `"password": "` + M + `", "user": "c"`, 1},
		{`"password": ""`, `"password": ""`, 0},
		{`"password": null,`, `"password": null,`, 0},
		{`"api_key": 1234, "password": "x"}`, `"api_key": ` + M + `, "password": "` + M + `"}`, 2},
		{`{"tokens": ["a", "b"], "n": 1}`, `{"tokens": ["` + M + `", "` + M + `"], "n": 1}`, 2},
		{"\"tokens\": [\n  \"a\",\n  \"b\"\n],\n\"user\": \"x\"", "\"tokens\": [\n  \"" + M + "\",\n  \"" + M + "\"\n],\n\"user\": \"x\"", 2},
		{"\"credentials\": {\n  \"user\": \"u\",\n  \"secret\": \"s\"\n}", "\"credentials\": {\n  \"user\": \"u\",\n  \"secret\": \"" + M + "\"\n}", 1},
		{`{"key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"}`, `{"key": "` + M + `"}`, 1},
		{`{"cert": "x", "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"}`,
			`{"cert": "x", "pem": "-----BEGIN RSA PRIVATE KEY-----` + M + `-----END RSA PRIVATE KEY-----"}`, 1},
	})
}

// TestNameAfterClosedValue covers malformed JSON where the quote that
// closes one secret value also opens the next secret name: both values go
// in the first pass, so a second pass has nothing left to do.
func TestNameAfterClosedValue(t *testing.T) {
	run(t, New(), []tcase{
		{`0"token":"0"token":00`, `0"token":"` + M + `"token":` + M, 2},
		{`{"password":"a"token":"b"}`, `{"password":"` + M + `"token":"` + M + `"}`, 2},
		{`{"password":"` + M + `"token":00}`, `{"password":"` + M + `"token":` + M + `}`, 1},
		// At the start of a line the key rule takes the whole rest.
		{`"password":"a"token":"b"`, `"password":` + M, 1},
	})
}

func TestURLs(t *testing.T) {
	run(t, New(), []tcase{
		{"https://user:pass@host/path", "https://user:" + M + "@host/path", 1},
		{"dsn = postgres://portsip:pw@127.0.0.1:5432/db?sslmode=disable", "dsn = postgres://portsip:" + M + "@127.0.0.1:5432/db?sslmode=disable", 1},
		{"relay smtp://u:p@h and smtps://a:b@c:465", "relay smtp://u:" + M + "@h and smtps://a:" + M + "@c:465", 2},
		{"url: https://u:p@ss@host/x", "url: https://u:" + M + "@host/x", 1},
		{"https://host:8443/path?a=1", "https://host:8443/path?a=1", 0},
		{"ssh://git@host:22/repo", "ssh://git@host:22/repo", 0},
		{"https://u:@host/", "https://u:@host/", 0},
		{"GET /api?token=abc&user=bob&password=p1&access_token=t2&apikey=k3&api_key=k4 HTTP/1.1",
			"GET /api?token=" + M + "&user=bob&password=" + M + "&access_token=" + M + "&apikey=" + M + "&api_key=" + M + " HTTP/1.1", 5},
		{`webhook_url: "https://hooks.example.com/x?token=abc#frag"`, `webhook_url: "https://hooks.example.com/x?token=` + M + `#frag"`, 1},
		{"DB_URL=postgres://portsip:pw@db/portsip", "DB_URL=postgres://portsip:" + M + "@db/portsip", 1},
		{"DB_PASSWORD=postgres://portsip:pw@db/portsip", "DB_PASSWORD=" + M, 1},
	})
}

func TestHTTP(t *testing.T) {
	run(t, New(), []tcase{
		{"Authorization: Bearer xyz", "Authorization: Bearer " + M, 1},
		{"authorization: Basic dXNlcjpwYXNz", "authorization: Basic " + M, 1},
		{"Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: Basic " + M, 1},
		{"Authorization: xyz", "Authorization: " + M, 1},
		{"X-Api-Key: abc", "X-Api-Key: " + M, 1},
		{`curl -H "Authorization: Bearer xyz" https://pbx/api`, `curl -H "Authorization: Bearer ` + M + `" https://pbx/api`, 1},
		{`level=info msg="login" password=p1 token="t 2"`, `level=info msg="login" password=` + M + ` token="` + M + `"`, 2},
		{`<user>bob</user><password>p1</password>`, `<user>bob</user><password>` + M + `</password>`, 1},
		{`<db host="h" password="p1"/>`, `<db host="h" password="` + M + `"/>`, 1},
		{`req headers=map[Authorization:[Bearer xyz] Accept:[*/*]]`, `req headers=map[Authorization:[Bearer ` + M + `] Accept:[*/*]]`, 1},
		{`form=map[password:[p1] user:[bob]]`, `form=map[password:[` + M + `] user:[bob]]`, 1},
		{`cfg={Host:db Password:p1 Port:5432}`, `cfg={Host:db Password:` + M + ` Port:5432}`, 1},
	})
}

func TestFlagsInText(t *testing.T) {
	run(t, New(), []tcase{
		{"pg_dump --password=p1 --host=db", "pg_dump --password=" + M + " --host=db", 1},
		{"pbxctl --smtp-password 'p 1' -p 5432", "pbxctl --smtp-password '" + M + "' -p 5432", 1},
		{"ExecStart=/usr/bin/app --api-key=k1 --token t2", "ExecStart=/usr/bin/app --api-key=" + M + " --token " + M, 2},
		{"docker login --password-stdin -u bob", "docker login --password-stdin -u bob", 0},
		{"psql -U portsip -p 5432 -W", "psql -U portsip -p 5432 -W", 0},
	})
}

func TestPEM(t *testing.T) {
	in := "cert: ok\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIB\nAAKCAQEA\n-----END RSA PRIVATE KEY-----\n" +
		"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"
	want := "cert: ok\n-----BEGIN RSA PRIVATE KEY-----\n" + M + "\n" + M + "\n-----END RSA PRIVATE KEY-----\n" +
		"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"
	run(t, New(), []tcase{{in, want, 1}})
	run(t, New(), []tcase{{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n", "-----BEGIN OPENSSH PRIVATE KEY-----\n" + M + "\n", 1}})
}

func TestBytesAndCopy(t *testing.T) {
	in := []byte("a=1\npassword: x\r\n-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\ntoken=y")
	orig := bytes.Clone(in)
	out, n := New().Bytes(in)
	if !bytes.Equal(in, orig) {
		t.Fatal("Bytes modified its input")
	}
	want := "a=1\npassword: " + M + "\r\n-----BEGIN PRIVATE KEY-----\n" + M + "\n-----END PRIVATE KEY-----\ntoken=" + M
	if string(out) != want || n != 3 {
		t.Fatalf("Bytes = %q, %d", out, n)
	}
	for _, s := range []string{string(in), string(in) + "\n", "", "\n"} {
		var buf bytes.Buffer
		n2, err := New().Copy(&buf, strings.NewReader(s))
		want, n := New().String(s)
		if err != nil || buf.String() != want || n2 != n {
			t.Errorf("Copy(%q) = %q, %d, %v; want %q, %d", s, buf.String(), n2, err, want, n)
		}
	}
}
