//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeGzip writes s as a gzip file.
func writeGzip(t *testing.T, p, s string) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	must(t, zw.Close())
	must(t, os.WriteFile(p, b.Bytes(), 0o644))
}

// leakForms returns every spelling of each secret that must not appear:
// plain, base64 (standard and URL alphabet, also as SMTP AUTH PLAIN
// credentials) and URL-encoded.
func leakForms(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s),
			base64.StdEncoding.EncodeToString([]byte(s)), base64.URLEncoding.EncodeToString([]byte(s)),
			base64.StdEncoding.EncodeToString([]byte("\x00alerts@example.com\x00"+s)))
	}
	return out
}

// Secrets of the leak test, each planted in one of the forms.
const (
	apiPass     = "Api-Cont1nuation-Pass" // agent YAML: value on the line after "password:"
	smtpPass    = "Smtp-F0lded-Pass"      // agent YAML: folded block scalar
	bearerTok   = "eyJhbGciOi.bearer-tok-4411"
	logPass     = "log-passw0rd-7781"
	dsnPass     = "dsn-Pa55-9921"
	jsonPass    = "json-pass-5512"
	envPass     = "env-db-pass-6613"
	gzPass      = "gz-archived-pass-3341"
	cmdPass     = "compose-cmd-pass-1177"
	blockPass   = "compose-block-pass-2288"
	curlPass    = "compose-curl-pass-3399"
	procPass    = "proc-arg-pass-4455"
	quotedPass  = "quoted-pass-5566"
	literalPass = "literal-pass-6677"
)

// TestSecretsNeverLeave plants secrets in every form the issue found
// leaking (logs, an archived .gz log, compose commands and healthchecks,
// the agent's YAML in several scalar forms, a process's arguments, an
// SMTP server that echoes the credentials) and checks that no spelling of
// any of them is in the bundle, in what `bundle`, `alert test` and
// `config print` print, or in the agent's own log.
func TestSecretsNeverLeave(t *testing.T) {
	have(t, "tar")
	f := newFixture(t)
	all := []string{apiPass, smtpPass, bearerTok, logPass, dsnPass, jsonPass, envPass, gzPass, cmdPass,
		blockPass, curlPass, procPass, quotedPass, literalPass}
	all = append(all, secrets...)

	logLines := strings.Join([]string{
		"2026-11-27 10:01:00.000 [DEBUG] api: Authorization: Bearer " + bearerTok,
		"2026-11-27 10:01:01.000 [WARN] login failed user=admin password=" + logPass,
		"2026-11-27 10:01:02.000 [INFO] db: postgres://portsip:" + dsnPass + "@127.0.0.1:5432/pbx",
		`2026-11-27 10:01:03.000 [DEBUG] body {"username":"admin","password":"` + jsonPass + `"}`,
		"2026-11-27 10:01:04.000 [INFO] env DB_PASSWORD=" + envPass,
		"2026-11-27 10:01:05.000 [DEBUG] gateway echoed " + apiPass + " and " + base64.StdEncoding.EncodeToString([]byte("admin:"+apiPass)),
		"2026-11-27 10:01:06.000 [DEBUG] form pw=" + url.QueryEscape(smtpPass),
		"",
	}, "\n")
	cm, err := os.OpenFile(filepath.Join(f.logs, "callmanager.log"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = cm.WriteString(logLines)
	must(t, err)
	must(t, cm.Close())
	write(t, filepath.Join(f.logs, "apigateway.log"), logLines)
	writeGzip(t, filepath.Join(f.logs, "apigateway.2026-11-26.log.gz"), logLines+"archived password="+gzPass+"\n")

	write(t, filepath.Join(f.install, "pbx", "docker-compose-portsip-pbx.yml"), `services:
  pbx:
    image: portsip/pbx:22
    command: ["--db-password", "`+cmdPass+`", "--port", "5060"]
    healthcheck:
      test: ["CMD", "curl", "-f", "-u", "admin:`+curlPass+`", "http://127.0.0.1:8899/health"]
  database:
    image: postgres:15
    command:
      - --db-password
      - `+blockPass+`
    environment:
      - POSTGRES_PASSWORD=compose-pg-secret-9931
`)
	cfg, err := os.ReadFile(f.config)
	must(t, err)
	text := strings.Replace(string(cfg), "  password: api-s3cret-pass\n", "  password:\n    "+apiPass+"\n", 1)
	text = strings.Replace(text, "  password: smtp-s3cret-pass\n", "  password: >-\n    "+smtpPass+"\n", 1)
	text += "# old: password: '" + quotedPass + "'\n# token: |\n#   " + literalPass + "\n"
	if text == string(cfg) {
		t.Fatal("fixture config changed shape; update this test")
	}
	write(t, f.config, text)

	// A busy process whose arguments carry a secret, for the process list.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proc := exec.CommandContext(ctx, "sh", "-c", "end=$(($(date +%s)+60)); while [ $(date +%s) -lt $end ]; do :; done", "sh", "--db-password", procPass)
	must(t, proc.Start())
	defer proc.Wait()

	r := runAgent(t, "bundle", "--config", f.config, "--json", "--log-level", "debug")
	cancel()
	if r.code != 0 {
		t.Fatalf("bundle exit %d: %s", r.code, r.stderr)
	}
	forms := leakForms(all)
	checkText := func(what, s string) {
		t.Helper()
		for _, l := range forms {
			if strings.Contains(s, l) {
				t.Errorf("%s holds %q", what, l)
			}
		}
	}
	checkText("bundle output and agent log", r.stdout+r.stderr)
	b := parseBundleJSON(t, r)
	dir := extract(t, b.Path)
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err != nil {
				t.Errorf("%s is not gzip: %v", p, err)
				return nil
			}
			if data, err = io.ReadAll(zr); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
		checkText(strings.TrimPrefix(p, dir), string(data))
		return nil
	}))
	// The logs keep their shape: only the values went.
	apigw, err := os.ReadFile(filepath.Join(dir, "logs", "apigateway.log"))
	must(t, err)
	for _, want := range []string{"[WARN] login failed user=admin password=REDACTED", "Authorization: Bearer REDACTED",
		"postgres://portsip:REDACTED@127.0.0.1:5432/pbx"} {
		if !bytes.Contains(apigw, []byte(want)) {
			t.Errorf("apigateway.log lacks %q:\n%s", want, apigw)
		}
	}
	m := readManifest(t, dir)
	counted := map[string]int{}
	for _, fe := range m.Files {
		if fe.Redactions != nil {
			counted[fe.Path] = *fe.Redactions
		}
	}
	for _, p := range []string{"logs/apigateway.log", "logs/apigateway.2026-11-26.log.gz", "logs/callmanager.log"} {
		if counted[p] < 7 {
			t.Errorf("%s: %d redactions counted, want at least 7 (manifest: %v)", p, counted[p], counted)
		}
	}

	// `alert test` against a server that echoes the credentials.
	port := echoSMTP(t)
	text = strings.Replace(text, "  host: mail.example.com\n", fmt.Sprintf("  host: 127.0.0.1\n  port: %d\n  tls: none\n  allow_plain: true\n  auth: plain\n", port), 1)
	write(t, f.config, text)
	at := runAgent(t, "alert", "test", "--config", f.config, "--log-level", "debug")
	if at.code == 0 || !strings.Contains(at.stdout+at.stderr, "535") {
		t.Fatalf("alert test against a refusing server: exit %d\n%s\n%s", at.code, at.stdout, at.stderr)
	}
	checkText("alert test output", at.stdout+at.stderr)
	cp := runAgent(t, "config", "print", "--config", f.config)
	checkText("config print", cp.stdout+cp.stderr)
}

// echoSMTP is a plain-text SMTP server that refuses every login and echoes
// the credentials in its replies, base64 and decoded.
func echoSMTP(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				br := bufio.NewReader(c)
				say := func(s string) { c.Write([]byte(s + "\r\n")) }
				say("220 echo ESMTP")
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					l = strings.TrimRight(l, "\r\n")
					up := strings.ToUpper(l)
					switch {
					case strings.HasPrefix(up, "EHLO"):
						say("250-echo")
						say("250 AUTH PLAIN LOGIN")
					case strings.HasPrefix(up, "AUTH PLAIN"):
						cred := strings.TrimSpace(l[len("AUTH PLAIN"):])
						if cred == "" {
							say("334 ")
							cred, _ = br.ReadString('\n')
							cred = strings.TrimSpace(cred)
						}
						dec, _ := base64.StdEncoding.DecodeString(cred)
						say("535-5.7.8 rejected: AUTH PLAIN " + cred)
						say("535 5.7.8 decoded " + strings.ReplaceAll(string(dec), "\x00", " "))
					case strings.HasPrefix(up, "QUIT"):
						say("221 bye")
						return
					default:
						say("250 ok")
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
