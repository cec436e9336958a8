//go:build linux

package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

// smtpSecret is the SMTP password of the watch tests; it must never show.
const smtpSecret = "Sm7p-w4tch-s3cret"

// mailServer is a real mailpit SMTP server on loopback with STARTTLS
// required and authentication on.
type mailServer struct {
	smtpPort, httpPort int
	caFile             string
	cmd                *exec.Cmd
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	certFile, keyFile = filepath.Join(dir, "smtp.crt"), filepath.Join(dir, "smtp.key")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

func newMailServer(t *testing.T) *mailServer {
	t.Helper()
	have(t, "mailpit")
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	ms := &mailServer{smtpPort: freePort(t), httpPort: freePort(t), caFile: cert}
	ms.start(t, cert, key, dir)
	return ms
}

func (ms *mailServer) start(t *testing.T, cert, key, dir string) {
	t.Helper()
	ms.cmd = exec.Command("mailpit",
		"--smtp", fmt.Sprintf("127.0.0.1:%d", ms.smtpPort),
		"--listen", fmt.Sprintf("127.0.0.1:%d", ms.httpPort),
		"--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls",
		"--smtp-auth-accept-any", "--smtp-disable-rdns",
		"--database", filepath.Join(dir, "mailpit.db"))
	var logs bytes.Buffer
	ms.cmd.Stdout, ms.cmd.Stderr = &logs, &logs
	must(t, ms.cmd.Start())
	t.Cleanup(ms.stop)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ms.smtpPort)); err == nil {
			c.Close()
			if _, err := http.Get(ms.api("/api/v1/messages")); err == nil {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("mailpit did not start: %s", logs.String())
}

func (ms *mailServer) stop() {
	if ms.cmd != nil && ms.cmd.Process != nil {
		ms.cmd.Process.Kill()
		ms.cmd.Wait()
		ms.cmd = nil
	}
}

func (ms *mailServer) api(p string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", ms.httpPort, p)
}

// mail is one message as mailpit's API returns it.
type mail struct {
	ID      string
	Subject string
	Text    string
	HTML    string
	To      []struct{ Address string }
	From    struct{ Address string }
}

func (ms *mailServer) messages(t *testing.T) []mail {
	t.Helper()
	resp, err := http.Get(ms.api("/api/v1/messages"))
	must(t, err)
	defer resp.Body.Close()
	var list struct{ Messages []mail }
	must(t, json.NewDecoder(resp.Body).Decode(&list))
	out := make([]mail, 0, len(list.Messages))
	for _, m := range list.Messages {
		r, err := http.Get(ms.api("/api/v1/message/" + m.ID))
		must(t, err)
		var full mail
		must(t, json.NewDecoder(r.Body).Decode(&full))
		r.Body.Close()
		out = append(out, full)
	}
	return out
}

// waitMail waits for a message whose subject contains all of want.
func (ms *mailServer) waitMail(t *testing.T, timeout time.Duration, want ...string) mail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range ms.messages(t) {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(m.Subject, w)
			}
			if ok {
				return m
			}
		}
		if time.Now().After(deadline) {
			var subjects []string
			for _, m := range ms.messages(t) {
				subjects = append(subjects, m.Subject)
			}
			t.Fatalf("no mail with %q within %s; got %q", want, timeout, subjects)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// tmpfsFixture is a fake PortSIP data folder on a small real filesystem.
func tmpfsFixture(t *testing.T, size string) (data string) {
	t.Helper()
	needRoot(t)
	mnt := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", mnt).CombinedOutput()
	testutil.Need(t, err == nil, fmt.Sprintf("cannot mount tmpfs: %v %s", err, out))
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	data = filepath.Join(mnt, "portsip", "pbx")
	write(t, filepath.Join(data, "log", "callmanager.log"), "2026-11-27 10:00:00 [INFO] started\n")
	write(t, filepath.Join(data, "VERSION"), "22.3.1\n")
	return data
}

// fill writes a file so that the filesystem of dir is about pct% used.
func fill(t *testing.T, dir string, pct int) string {
	t.Helper()
	var st syscall.Statfs_t
	must(t, syscall.Statfs(dir, &st))
	total := int64(st.Blocks) * st.Bsize
	used := total - int64(st.Bavail)*st.Bsize
	need := total*int64(pct)/100 - used
	p := filepath.Join(dir, "filler.bin")
	if need > 0 {
		must(t, os.WriteFile(p, make([]byte, need), 0o644))
	}
	return p
}

func watchConfig(t *testing.T, data, state string, ms *mailServer, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pbxagent.yaml")
	smtp := ""
	if ms != nil {
		smtp = fmt.Sprintf(`smtp:
  host: 127.0.0.1
  port: %d
  tls: starttls
  ca_file: %s
  username: alerts@example.com
  password: %s
  from: pbxagent@example.com
  to: [admin@example.com, oncall@example.com]
  timeout: 10s
`, ms.smtpPort, ms.caFile, smtpSecret)
	}
	write(t, p, fmt.Sprintf(`pbx:
  data_dir: %s
  docker_socket: ""
agent:
  state_dir: %s
checks:
  interval: 10s
  disk:
    min_free: 1MiB
  gateway:
    enabled: false
  blocked_ips:
    enabled: false
  certificates:
    enabled: false
alerts:
  consecutive: 1
  digest: 0s
  reminder: 0s
%s%s`, data, state, smtp, extra))
	return p
}

// TestRunMailsDiskAlertAndRecovery: a filling PBX disk gets one CRITICAL
// mail with the numbers and the guide's fix, then one recovery mail when
// space is freed; SIGTERM stops the service promptly.
func TestRunMailsDiskAlertAndRecovery(t *testing.T) {
	ms := newMailServer(t)
	data := tmpfsFixture(t, "16m")
	filler := fill(t, data, 97)
	state := t.TempDir()
	cfg := watchConfig(t, data, state, ms, "")

	cmd := exec.Command(bin, "run", "--config", cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	defer cmd.Process.Kill()

	m := ms.waitMail(t, 30*time.Second, "CRITICAL", "disk")
	host, _ := os.Hostname()
	if !strings.Contains(m.Subject, host) && !strings.Contains(m.Subject, strings.Split(host, ".")[0]) {
		t.Errorf("subject does not name the host %s: %q", host, m.Subject)
	}
	for _, want := range []string{"% used", "pbxagent logs prune --dry-run", ".gz"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("alert text lacks %q:\n%s", want, m.Text)
		}
	}
	if m.HTML == "" {
		t.Errorf("alert has no HTML part")
	}
	if len(m.To) != 2 {
		t.Errorf("alert went to %v, want both recipients", m.To)
	}

	must(t, os.Remove(filler))
	r := ms.waitMail(t, 40*time.Second, "recovered")
	if !strings.Contains(r.Subject, "disk") {
		t.Errorf("recovery subject does not name the check: %q", r.Subject)
	}

	start := time.Now()
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run exited with %v after SIGTERM\n%s", err, logs.String())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("run took %s to stop", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after SIGTERM")
	}
	if n := len(ms.messages(t)); n != 2 {
		t.Errorf("%d mails sent, want exactly 2 (alert and recovery)", n)
	}
	if strings.Contains(logs.String(), smtpSecret) {
		t.Errorf("the SMTP password appears in the service log")
	}
}

// TestRunQueueSurvivesOutageAndRestart: an alert raised while the mail
// server is down is kept on disk and sent after the agent restarts, once.
func TestRunQueueSurvivesOutageAndRestart(t *testing.T) {
	have(t, "mailpit")
	data := tmpfsFixture(t, "16m")
	fill(t, data, 97)
	state := t.TempDir()
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	ms := &mailServer{smtpPort: freePort(t), httpPort: freePort(t), caFile: cert} // not started yet
	cfg := watchConfig(t, data, state, ms, "")

	cmd := exec.Command(bin, "run", "--config", cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	queue := filepath.Join(state, "queue", "email")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ents, _ := filepath.Glob(filepath.Join(queue, "*.event.json")); len(ents) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no alert queued while the mail server was down\n%s", logs.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	cmd.Wait()
	if strings.Contains(logs.String(), smtpSecret) {
		t.Errorf("the SMTP password appears in the service log")
	}

	ms.start(t, cert, key, dir)
	cmd = exec.Command(bin, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	ms.waitMail(t, 30*time.Second, "CRITICAL", "disk")
	// The restarted agent remembers the disk is already reported: after
	// another round there is still exactly one mail.
	time.Sleep(12 * time.Second)
	if n := len(ms.messages(t)); n != 1 {
		t.Errorf("%d mails after restart, want 1", n)
	}
}

// TestStatusAndAlertTest: status exits by the worst state with a table or
// JSON; alert test reports the SMTP dialogue and delivers a mail.
func TestStatusAndAlertTest(t *testing.T) {
	ms := newMailServer(t)
	data := tmpfsFixture(t, "16m")
	state := t.TempDir()
	cfg := watchConfig(t, data, state, ms, "")

	r := runAgent(t, "status", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "disk") || !strings.Contains(r.stdout, "overall: OK") {
		t.Fatalf("status on a healthy host: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	filler := fill(t, data, 97)
	r = runAgent(t, "status", "--config", cfg)
	if r.code != 3 || !strings.Contains(r.stdout, "CRITICAL") || !strings.Contains(r.stdout, "logs prune") {
		t.Fatalf("status on a full disk: exit %d, want 3\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runAgent(t, "status", "--config", cfg, "--json")
	var st struct {
		State  string
		Checks []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.State != "CRITICAL" || len(st.Checks) == 0 {
		t.Fatalf("status --json: %v %+v\n%s", err, st, r.stdout)
	}
	must(t, os.Remove(filler))

	r = runAgent(t, "alert", "test", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "connected: true") || !strings.Contains(r.stdout, "TLS") {
		t.Fatalf("alert test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, smtpSecret) {
		t.Errorf("alert test printed the SMTP password")
	}
	ms.waitMail(t, 10*time.Second, "test")

	// Without a mail server configured: a configuration error.
	r = runAgent(t, "alert", "test", "--config", watchConfig(t, data, state, nil, ""))
	if r.code != 2 || !strings.Contains(r.stderr, "smtp.host") {
		t.Errorf("alert test without smtp: exit %d\n%s", r.code, r.stderr)
	}
}

// TestLogsPrune: the dry run lists the archives beyond the budget and
// deletes nothing; the real run deletes only those, never active logs,
// subfolders or symlink targets.
func TestLogsPrune(t *testing.T) {
	f := newFixture(t)
	old := time.Now().Add(-40 * 24 * time.Hour)
	for _, n := range []string{"cm.1.log.gz", "cm.2.log.gz"} {
		p := filepath.Join(f.logs, n)
		write(t, p, "old archive\n")
		must(t, os.Chtimes(p, old, old))
	}
	outside := filepath.Join(f.root, "precious.gz")
	write(t, outside, "not a PBX log\n")
	must(t, os.Chtimes(outside, old, old))
	must(t, os.Symlink(outside, filepath.Join(f.logs, "link.log.gz")))
	sub := filepath.Join(f.logs, "sub", "deep.log.gz")
	write(t, sub, "in a subfolder\n")
	must(t, os.Chtimes(sub, old, old))
	activeOld := filepath.Join(f.logs, "nats.log")
	must(t, os.Chtimes(activeOld, old, old))

	r := runAgent(t, "logs", "prune", "--dry-run", "--config", f.config)
	if r.code != 0 || !strings.Contains(r.stdout, "would delete cm.1.log.gz") || !strings.Contains(r.stdout, "cm.2.log.gz") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{filepath.Join(f.logs, "cm.1.log.gz"), filepath.Join(f.logs, "cm.2.log.gz")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("dry run deleted %s", p)
		}
	}
	r = runAgent(t, "logs", "prune", "--config", f.config)
	if r.code != 0 {
		t.Fatalf("prune: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, gone := range []string{"cm.1.log.gz", "cm.2.log.gz"} {
		if _, err := os.Stat(filepath.Join(f.logs, gone)); err == nil {
			t.Errorf("%s not deleted", gone)
		}
	}
	for _, kept := range []string{outside, sub, activeOld, filepath.Join(f.logs, "callmanager.log"),
		filepath.Join(f.logs, "callmanager.2026-11-26.log.gz"), filepath.Join(f.logs, "link.log.gz")} {
		if _, err := os.Lstat(kept); err != nil {
			t.Errorf("%s was deleted", kept)
		}
	}
}
