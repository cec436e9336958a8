//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const (
	s3Access = "pbxagent-test-access"
	s3Secret = "pbxagent-test-secret-key-0123456789"
	s3Bucket = "support"
)

// s3Server is a versitygw (POSIX back end) on loopback, behind a proxy
// that counts the bytes the agent sends, so a resumed upload can be shown
// to send only what was missing. The server can be killed and restarted
// on the same port and folder.
type s3Server struct {
	t       *testing.T
	tlsArgs []string
	dir     string
	addr    string // the server's own address
	proxy   string // what the agent talks to
	proc    *bgProc
	upBytes atomic.Int64
	// conns is the number of open client connections, maxConns the most
	// at once: an HTTP/1.1 client opens a second one only for a second
	// request in flight.
	conns, maxConns atomic.Int64
}

func startS3(t *testing.T) *s3Server {
	t.Helper()
	have(t, "versitygw")
	s := &s3Server{t: t, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	s.start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	s.proxy = ln.Addr().String()
	go s.serveProxy(ln)
	c := s.client(t)
	must(t, c.MakeBucket(context.Background(), s3Bucket, minio.MakeBucketOptions{}))
	return s
}

func (s *s3Server) start() {
	args := append([]string{"--access", s3Access, "--secret", s3Secret, "--port", s.addr, "--quiet"}, s.tlsArgs...)
	cmd := exec.Command("versitygw", append(args, "posix", s.dir)...)
	s.proc = startProc(s.t, "versitygw", cmd, "")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("versitygw did not listen on %s: %s", s.addr, s.proc.errText())
}

func (s *s3Server) serveProxy(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			n := s.conns.Add(1)
			defer s.conns.Add(-1)
			for m := s.maxConns.Load(); n > m && !s.maxConns.CompareAndSwap(m, n); m = s.maxConns.Load() {
			}
			up, err := net.Dial("tcp", s.addr)
			if err != nil {
				return
			}
			defer up.Close()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(up, io.TeeReader(c, countingWriter{&s.upBytes}))
				up.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(c, up)
			c.(*net.TCPConn).CloseWrite()
			wg.Wait()
		}()
	}
}

type countingWriter struct{ n *atomic.Int64 }

func (c countingWriter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

func (s *s3Server) client(t *testing.T) *minio.Client {
	c, err := minio.New(s.addr, &minio.Options{Creds: credentials.NewStaticV4(s3Access, s3Secret, ""), Region: "us-east-1"})
	must(t, err)
	return c
}

// objectSHA256 downloads an object and hashes it.
func (s *s3Server) objectSHA256(t *testing.T, key string) string {
	t.Helper()
	o, err := s.client(t).GetObject(context.Background(), s3Bucket, key, minio.GetObjectOptions{})
	must(t, err)
	defer o.Close()
	h := sha256.New()
	if _, err := io.Copy(h, o); err != nil {
		t.Fatalf("download %s: %v", key, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// deliveryConfig appends a delivery section to the fixture's config.
func deliveryConfig(t *testing.T, f *pbxFixture, section string) {
	t.Helper()
	data, err := os.ReadFile(f.config)
	must(t, err)
	write(t, f.config, string(data)+section)
}

func uploadSection(endpoint string, extra string) string {
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	return fmt.Sprintf(`delivery:
  upload:
    endpoint: %s
    bucket: %s
    region: us-east-1
    part_size: 8MiB
    retries: 2
%s`, endpoint, s3Bucket, extra)
}

// s3Env gives the agent the credentials through the environment.
func s3Env(secret string) []string {
	return append(os.Environ(), "PBXAGENT_S3_ACCESS_KEY="+s3Access, "PBXAGENT_S3_SECRET_KEY="+secret)
}

func runAgentEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run pbxagent %v: %v", args, err)
	}
	return r
}

type receiptJSON struct {
	Object    string `json:"object"`
	ETag      string `json:"etag"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	Parts     int    `json:"parts"`
	PartsSent int    `json:"parts_sent"`
	BytesSent int64  `json:"bytes_sent"`
	Resumed   bool   `json:"resumed"`
	Signature string `json:"signature_object"`
}

func parseReceipt(t *testing.T, r result) receiptJSON {
	t.Helper()
	var rc receiptJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rc) != nil {
		t.Fatalf("upload: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return rc
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	must(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

// bigBundle writes a real, signed bundle of about size bytes (an
// incompressible callmanager.log).
func bigBundle(t *testing.T, f *pbxFixture, size int) string {
	t.Helper()
	writeRandom(t, filepath.Join(f.logs, "callmanager.log"), size)
	r := runAgent(t, "bundle", "--config", f.config, "--max-size", "1GiB", "--max-file-size", "1GiB", "--format", "tar.zst", "--json")
	if r.code != 0 {
		t.Fatalf("bundle: exit %d: %s", r.code, r.stderr)
	}
	return parseBundleJSON(t, r).Path
}

// startUpload runs pbxagent upload in the background, paced so the test
// can interrupt it midway.
func startUpload(t *testing.T, env []string, args ...string) *bgProc {
	cmd := exec.Command(bin, append([]string{"upload", "--json"}, args...)...)
	cmd.Env = env
	return startProc(t, "pbxagent upload", cmd, "")
}

func awaitBytes(t *testing.T, s *s3Server, want int64, p *bgProc) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for s.upBytes.Load() < want {
		select {
		case <-p.done:
			t.Fatalf("upload ended before %d bytes were sent: exit %d %s", want, p.code, p.errText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d bytes sent in 2 minutes", s.upBytes.Load(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUploadResume: a 300 MiB bundle upload, 4 parts at a time, is
// interrupted once by killing the agent and once by killing the server;
// each time the next `upload` sends only the parts the server had not
// confirmed (plus, at most, the parts that were in flight), and the
// object's SHA-256 equals the local file's.
func TestUploadResume(t *testing.T) {
	f := newFixture(t)
	s := startS3(t)
	deliveryConfig(t, f, uploadSection(s.proxy, ""))
	path := bigBundle(t, f, 300<<20)
	fi, err := os.Stat(path)
	must(t, err)
	local := fileSHA256(t, path)
	env := s3Env(s3Secret)
	const parts = 8 << 20
	const parallel = 4

	for _, kill := range []string{"agent", "server"} {
		t.Run("kill "+kill, func(t *testing.T) {
			caseID := "case-kill-" + kill
			s.upBytes.Store(0)
			s.maxConns.Store(s.conns.Load())
			p := startUpload(t, env, "--config", f.config, "--case", caseID, "--limit-rate", "40MiB", "--parallel", fmt.Sprint(parallel), path)
			awaitBytes(t, s, 100<<20, p)
			if got := s.maxConns.Load(); got < parallel {
				t.Errorf("at most %d connections at once while uploading with --parallel %d: the parts did not go in parallel", got, parallel)
			}
			switch kill {
			case "agent":
				p.kill()
			case "server":
				s.proc.kill()
				r := p.wait(t)
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				last := lines[len(lines)-1]
				if r.code != 1 || !strings.Contains(last, "cannot reach the server") || !strings.Contains(last, "run the upload again to resume") {
					t.Fatalf("server killed: exit %d, last line %q\n%s", r.code, last, r.stderr)
				}
				s.start()
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("the bundle was removed after the interruption: %v", err)
			}
			before := s.upBytes.Load()
			s.upBytes.Store(0)
			rc := parseReceipt(t, runAgentEnv(t, env, "upload", "--config", f.config, "--case", caseID, "--json", path))
			sent := s.upBytes.Load()
			total := int((fi.Size() + parts - 1) / parts)
			if !rc.Resumed || rc.Parts != total || rc.PartsSent >= total || rc.PartsSent == 0 {
				t.Fatalf("resume: %+v (want resumed, %d parts, fewer sent)", rc, total)
			}
			// The second run skips every part the server confirmed and sends
			// the rest: on the wire, the missing bytes plus headers (and at
			// most one part again, should a request be retried). What the
			// first run lost is at most the parts it had in flight.
			skipped := int64(total-rc.PartsSent) * parts
			missing := fi.Size() - skipped
			if skipped < before-(parallel+1)*parts || rc.BytesSent != missing || sent < missing || sent > missing+parts+1<<20 {
				t.Fatalf("first run sent %d bytes; resumed run skipped %d, sent %d in parts and %d on the wire (file %d)",
					before, skipped, rc.BytesSent, sent, fi.Size())
			}
			t.Logf("kill %s: first run %d MiB, resumed run %d MiB in %d of %d parts", kill, before>>20, sent>>20, rc.PartsSent, total)
			if got := s.objectSHA256(t, rc.Object); got != local || rc.SHA256 != local {
				t.Fatalf("object SHA-256 %s, receipt %s, local %s", got, rc.SHA256, local)
			}
			if rc.Object != caseID+"/"+f.hostName(t)+"/"+filepath.Base(path) || rc.ETag == "" {
				t.Fatalf("receipt: %+v", rc)
			}
			for _, side := range []string{".minisig", ".receipt.json"} {
				if _, err := s.client(t).StatObject(context.Background(), s3Bucket, rc.Object+side, minio.StatObjectOptions{}); err != nil {
					t.Errorf("%s not uploaded next to the bundle: %v", side, err)
				}
			}
			if _, err := os.Stat(path + ".upload.json"); err != nil {
				t.Errorf("no local receipt: %v", err)
			}
		})
	}
}

func (f *pbxFixture) hostName(t *testing.T) string {
	r := runAgent(t, "bundles", "list", "--config", f.config, "--json")
	var bs []struct{ Name string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &bs) != nil || len(bs) == 0 {
		t.Fatalf("bundles list: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	n := strings.TrimPrefix(bs[0].Name, "pbx-support-")
	return n[:strings.LastIndex(n, "-")]
}

// TestUploadErrors: wrong secret, missing bucket and a server that is down
// each give one clear line and exit 1, and leave the bundle in place.
func TestUploadErrors(t *testing.T) {
	f := newFixture(t)
	s := startS3(t)
	r := runAgent(t, "bundle", "--config", f.config, "--json")
	if r.code != 0 {
		t.Fatalf("bundle: %s", r.stderr)
	}
	path := parseBundleJSON(t, r).Path
	cases := []struct {
		name, endpoint, bucket, secret, want string
	}{
		{"wrong secret", s.addr, s3Bucket, "not-the-secret", "the secret key is wrong"},
		{"missing bucket", s.addr, "no-such-bucket", s3Secret, "the bucket does not exist"},
		{"server down", fmt.Sprintf("127.0.0.1:%d", freePort(t)), s3Bucket, s3Secret, "cannot reach the server"},
		{"TLS to a plain-HTTP server", "https://" + s.addr, s3Bucket, s3Secret, "TLS error: the server does not speak TLS"},
	}
	for _, bad := range []string{"0", "17"} {
		r := runAgentEnv(t, s3Env(s3Secret), "upload", "--config", f.config, "--parallel", bad, path)
		if r.code != 2 || !strings.Contains(r.stderr, "--parallel "+bad+": use 1 to 16") {
			t.Errorf("--parallel %s: exit %d, stderr %q (want a usage error)", bad, r.code, r.stderr)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "c.yaml")
			data, err := os.ReadFile(f.config)
			must(t, err)
			write(t, cfg, strings.Replace(string(data)+uploadSection(c.endpoint, ""), "bucket: "+s3Bucket, "bucket: "+c.bucket, 1))
			r := runAgentEnv(t, s3Env(c.secret), "upload", "--config", cfg, path)
			// Retries are logged as they happen; the error is one line.
			var errs []string
			for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				if !strings.Contains(l, "upload request failed; retrying") {
					errs = append(errs, l)
				}
			}
			msg := strings.Join(errs, "\n")
			if r.code != 1 || len(errs) != 1 || !strings.Contains(msg, c.want) {
				t.Fatalf("exit %d, stderr %q (want one line with %q)", r.code, r.stderr, c.want)
			}
			if strings.Contains(msg, c.secret) || strings.Contains(r.stdout, c.secret) {
				t.Fatalf("the secret key was printed: %s", msg)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("bundle removed after a failed upload: %v", err)
			}
		})
	}
}

// TestUploadPresigned: support hands out a pre-signed PUT URL (made here
// with minio-go against the same server); the agent uploads with no
// credentials at all.
func TestUploadPresigned(t *testing.T) {
	f := newFixture(t)
	s := startS3(t)
	r := runAgent(t, "bundle", "--config", f.config, "--json")
	if r.code != 0 {
		t.Fatalf("bundle: %s", r.stderr)
	}
	path := parseBundleJSON(t, r).Path
	key := "case-77/" + filepath.Base(path)
	u, err := s.client(t).PresignedPutObject(context.Background(), s3Bucket, key, time.Hour)
	must(t, err)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "AWS_") && !strings.HasPrefix(e, "PBXAGENT_S3_") {
			env = append(env, e)
		}
	}
	rc := parseReceipt(t, runAgentEnv(t, env, "upload", "--config", f.config, "--url", u.String(), "--json", path))
	if got := s.objectSHA256(t, key); got != fileSHA256(t, path) || rc.SHA256 != got {
		t.Fatalf("object SHA-256 %s, receipt %s", got, rc.SHA256)
	}
	data, err := os.ReadFile(path + ".upload.json")
	must(t, err)
	if strings.Contains(string(data), "X-Amz-Signature") {
		t.Fatalf("the pre-signed URL's signature was stored in the receipt: %s", data)
	}
}

// TestBundleUpload: bundle --encrypt-to --upload writes the encrypted
// bundle and uploads it with its signature and receipt in one command.
func TestBundleUpload(t *testing.T) {
	have(t, "age-keygen")
	f := newFixture(t)
	s := startS3(t)
	deliveryConfig(t, f, uploadSection(s.proxy, ""))
	_, rcpt := ageKey(t)
	r := runAgentEnv(t, s3Env(s3Secret), "bundle", "--config", f.config, "--encrypt-to", rcpt, "--upload", "--case", "c-42", "--json")
	var out struct {
		Path     string `json:"path"`
		Delivery struct {
			Upload receiptJSON `json:"upload"`
		} `json:"delivery"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil {
		t.Fatalf("bundle --upload: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rc := out.Delivery.Upload
	if !strings.HasSuffix(out.Path, ".age") || !strings.HasPrefix(rc.Object, "c-42/") || rc.Signature == "" {
		t.Fatalf("bundle --upload: %s", r.stdout)
	}
	if got := s.objectSHA256(t, rc.Object); got != fileSHA256(t, out.Path) {
		t.Fatalf("object SHA-256 %s differs from the bundle's", got)
	}
	l := runAgent(t, "bundles", "list", "--config", f.config)
	if !strings.Contains(l.stdout, rc.Object) {
		t.Fatalf("bundles list does not show the upload:\n%s", l.stdout)
	}
}

// TestUploadTLS: a server whose certificate the system does not trust is
// refused with a one-line TLS error; with its CA in
// delivery.upload.ca_file the upload goes through.
func TestUploadTLS(t *testing.T) {
	have(t, "versitygw")
	f := newFixture(t)
	r := runAgent(t, "bundle", "--config", f.config, "--json")
	if r.code != 0 {
		t.Fatalf("bundle: %s", r.stderr)
	}
	path := parseBundleJSON(t, r).Path
	cert, key := writeCert(t, t.TempDir())
	s := &s3Server{t: t, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), tlsArgs: []string{"--cert", cert, "--key", key}}
	s.start()
	base, err := os.ReadFile(f.config)
	must(t, err)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	write(t, cfg, string(base)+uploadSection("https://"+s.addr, ""))
	r = runAgentEnv(t, s3Env(s3Secret), "upload", "--config", cfg, path)
	if msg := strings.TrimSpace(r.stderr); r.code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, "unknown authority") || !strings.Contains(msg, "ca_file") {
		t.Fatalf("untrusted certificate: exit %d %q", r.code, msg)
	}
	// Trusted through ca_file, the bucket is missing: the TLS part works.
	write(t, cfg, string(base)+uploadSection("https://"+s.addr, "    ca_file: "+cert+"\n"))
	r = runAgentEnv(t, s3Env(s3Secret), "upload", "--config", cfg, path)
	if r.code != 1 || !strings.Contains(r.stderr, "the bucket does not exist") {
		t.Fatalf("with ca_file: exit %d %s", r.code, r.stderr)
	}
}
