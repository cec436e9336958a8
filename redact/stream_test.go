package redact

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

const logSecret = "Log-Secret-77x"

// secretLog is a log with the forms of the issue, one per line.
var secretLog = strings.Join([]string{
	"2026-12-04 10:00:00.001 [INFO] start",
	"2026-12-04 10:00:00.002 [DEBUG] Authorization: Bearer " + logSecret,
	"2026-12-04 10:00:00.003 [WARN] login password=" + logSecret + " user=admin",
	"2026-12-04 10:00:00.004 [INFO] db postgres://portsip:" + logSecret + "@127.0.0.1:5432/pbx",
	`2026-12-04 10:00:00.005 [DEBUG] body {"username":"admin","password":"` + logSecret + `"}`,
	"2026-12-04 10:00:00.006 [INFO] env DB_PASSWORD=" + logSecret,
	"2026-12-04 10:00:00.007 [INFO] smtp AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00u\x00"+logSecret)),
	"",
}, "\n")

func TestCopyLongLines(t *testing.T) {
	r := New().WithValues(logSecret)
	long := strings.Repeat("abcdefg ", MaxLine/8+1000) + logSecret + " " + strings.Repeat("z", MaxLine+5) + "\nnext password=x\n"
	var out bytes.Buffer
	n, err := r.Copy(&out, strings.NewReader(long))
	if err != nil || n != 2 {
		t.Fatalf("Copy = %d, %v", n, err)
	}
	if strings.Contains(out.String(), logSecret) || !strings.HasSuffix(out.String(), "\nnext password="+M+"\n") {
		t.Errorf("long line not redacted: ...%q", out.String()[out.Len()-40:])
	}
	if got, want := out.Len(), len(long)-len(logSecret)+len(M)-1+len(M); got != want {
		t.Errorf("output %d bytes, want %d (every byte but the secrets kept)", got, want)
	}
}

func TestCopyGzip(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(secretLog[:100]))
	zw.Close()
	zw = gzip.NewWriter(&gz) // a second member, as `cat a.gz b.gz` makes
	zw.Write([]byte(secretLog[100:]))
	zw.Close()

	r := New().WithValues(logSecret)
	var out bytes.Buffer
	n, err := r.CopyGzip(&out, bytes.NewReader(gz.Bytes()), 0)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	want, wantN := r.String(secretLog)
	if string(plain) != want || n != wantN || n < 6 {
		t.Errorf("CopyGzip = %d\n%s\nwant %d\n%s", n, plain, wantN, want)
	}
	if strings.Contains(string(plain), logSecret) {
		t.Error("secret left in the archive")
	}
	if !strings.Contains(string(plain), "[WARN] login password="+M+" user=admin") {
		t.Error("line lost its shape")
	}

	_, err = r.CopyGzip(io.Discard, bytes.NewReader(gz.Bytes()), 50)
	if !errors.Is(err, ErrExpandsTooMuch) {
		t.Errorf("limit 50: err = %v, want ErrExpandsTooMuch", err)
	}
	if _, err := r.CopyGzip(io.Discard, strings.NewReader("not gzip"), 0); err == nil {
		t.Error("no error for a file that is not gzip")
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	r := New().WithValues(logSecret)
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil), r))
	log = log.With("api_password", "x1y2z3", "host", "pbx")
	log.WithGroup("smtp").Info("login failed: password="+logSecret,
		"err", errors.New("535 AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00u\x00"+logSecret))),
		"reply", "echo "+logSecret,
		slog.Group("auth", "token", "tok-123456", "user", "bob"),
		"args", []string{"--db-password", logSecret},
		"port", 25)
	out := buf.String()
	for _, bad := range []string{logSecret, "x1y2z3", "tok-123456", base64.StdEncoding.EncodeToString([]byte(logSecret))} {
		if strings.Contains(out, bad) {
			t.Errorf("log holds %q: %s", bad, out)
		}
	}
	for _, good := range []string{`"host":"pbx"`, `"user":"bob"`, `"port":25`, `"api_password":"REDACTED"`, `"msg":"login failed: password=REDACTED"`} {
		if !strings.Contains(out, good) {
			t.Errorf("log lacks %s: %s", good, out)
		}
	}
	if !NewHandler(slog.NewTextHandler(io.Discard, nil), r).Enabled(context.Background(), slog.LevelError) {
		t.Error("Enabled not passed on")
	}
}
