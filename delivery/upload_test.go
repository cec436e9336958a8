package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err       error
		kind      string
		retryable bool
		says      string
	}{
		{minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: 403}, "credentials", false, "secret key is wrong"},
		{minio.ErrorResponse{Code: "InvalidAccessKeyId", StatusCode: 403}, "credentials", false, "access key"},
		{minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, "bucket", false, "bucket does not exist"},
		{minio.ErrorResponse{Code: "RequestTimeTooSkewed", StatusCode: 403}, "clock", false, "clock"},
		{minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, "busy", true, "slow down"},
		{minio.ErrorResponse{Code: "Weird", Message: "odd", StatusCode: 502}, "other", true, "odd"},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, "network", true, "cannot reach"},
		{fmt.Errorf("x: %w", errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority")), "tls", false, "TLS"},
		{errors.New("http: server gave HTTP response to HTTPS client"), "tls", false, "does not speak TLS"},
		{context.Canceled, "cancelled", false, "interrupted"},
	}
	for _, c := range cases {
		got := classify(c.err, "target")
		if got.Kind != c.kind || got.Retryable != c.retryable || !strings.Contains(got.Message, c.says) || strings.Contains(got.Message, "\n") {
			t.Errorf("%v: %+v, want kind %s retryable %v saying %q", c.err, got, c.kind, c.retryable, c.says)
		}
	}
}

func TestRedactQuery(t *testing.T) {
	in := `Put "https://s3.example.com/b/k?X-Amz-Signature=abc&X-Amz-Credential=AKIA": EOF`
	out := redactQuery(in)
	if strings.Contains(out, "abc") || strings.Contains(out, "AKIA") || !strings.Contains(out, "https://s3.example.com/b/k?REDACTED") {
		t.Fatalf("%s", out)
	}
}

func TestObjectName(t *testing.T) {
	if n, err := ObjectName("", "pbx1", "/x/pbx-support-a.tar.gz"); err != nil || n != "no-case/pbx1/pbx-support-a.tar.gz" {
		t.Fatalf("%s %v", n, err)
	}
	for _, bad := range []string{"../x", "a/b", "a b", strings.Repeat("a", 200), strings.Repeat("a", 129), ".x", "-x", "_x", "é", "a\x00"} {
		if _, err := ObjectName(bad, "pbx1", "b"); err == nil {
			t.Errorf("case %q accepted", bad)
		}
	}
	for _, good := range []string{"a", "Z9", "case-12.3_x", strings.Repeat("a", 128)} {
		if _, err := ObjectName(good, "pbx1", "b"); err != nil {
			t.Errorf("case %q refused: %v", good, err)
		}
	}
	if _, err := ObjectName("c", "", "b"); err == nil {
		t.Error("empty host accepted")
	}
}

func TestRetryBacksOffAndStops(t *testing.T) {
	calls := 0
	start := time.Now()
	err := retry(context.Background(), UploadOptions{Retries: 2, Backoff: time.Millisecond, Log: nil}.withLog(), "x", "t", func() error {
		calls++
		return &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	})
	if calls != 3 || err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("calls %d err %v", calls, err)
	}
	_ = start
	calls = 0
	err = retry(context.Background(), UploadOptions{Retries: 5, Backoff: time.Millisecond}.withLog(), "x", "t", func() error {
		calls++
		return minio.ErrorResponse{Code: "NoSuchBucket"}
	})
	if calls != 1 || err == nil {
		t.Fatalf("a permanent error was retried: calls %d", calls)
	}
}

func TestLimiterPaces(t *testing.T) {
	l := newLimiter(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	// The burst passes at once; beyond it the wait is cancellable.
	if err := l.wait(ctx, 1<<20); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := l.wait(ctx, 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait beyond the rate returned %v, want it to block until cancelled", err)
	}
	var nilL *limiter
	if nilL.wait(context.Background(), 1<<30) != nil {
		t.Fatal("no limit must not wait")
	}
}
