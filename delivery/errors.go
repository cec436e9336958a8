package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"
)

// UploadError is an upload failure in one sentence: what went wrong and
// what to do. Retryable failures (network, server busy) have Retryable set.
type UploadError struct {
	Kind      string // one of the kinds in s3Kinds or "network", "tls", "other"
	Message   string
	Retryable bool
	Err       error
}

func (e *UploadError) Error() string { return e.Message }
func (e *UploadError) Unwrap() error { return e.Err }

// s3Kind explains one S3 error code.
type s3Kind struct {
	kind      string
	advice    string
	retryable bool
}

// s3Kinds maps S3 error codes to a kind and advice; codes not listed are
// reported with the server's own message.
var s3Kinds = map[string]s3Kind{
	"InvalidAccessKeyId":           {"credentials", "the access key is not known to the server: check delivery.upload.access_key", false},
	"SignatureDoesNotMatch":        {"credentials", "the secret key is wrong: check delivery.upload.secret_key", false},
	"AccessDenied":                 {"credentials", "access denied: the key may not write to this bucket", false},
	"InvalidToken":                 {"credentials", "the session token is not valid", false},
	"ExpiredToken":                 {"credentials", "the credentials have expired", false},
	"NoSuchBucket":                 {"bucket", "the bucket does not exist: check delivery.upload.bucket or ask support for the right one", false},
	"AuthorizationHeaderMalformed": {"region", "the region does not match the bucket's: check delivery.upload.region", false},
	"RequestTimeTooSkewed":         {"clock", "this host's clock differs too much from the server's: set the time (e.g. enable NTP with timedatectl set-ntp true) and retry", false},
	"RequestExpired":               {"clock", "the request expired: the pre-signed URL is too old or this host's clock is wrong", false},
	"SlowDown":                     {"busy", "the server asks to slow down", true},
	"ServiceUnavailable":           {"busy", "the server is unavailable", true},
	"InternalError":                {"busy", "the server had an internal error", true},
	"RequestTimeout":               {"busy", "the server timed out waiting for data", true},
	"NoSuchUpload":                 {"upload", "the server no longer knows the interrupted upload", false},
	"BadDigest":                    {"corrupt", "a part arrived damaged (checksum mismatch)", true},
	"XAmzContentSHA256Mismatch":    {"corrupt", "a part arrived damaged (SHA-256 mismatch)", true},
	"EntityTooSmall":               {"config", "parts are too small for this server: raise delivery.upload.part_size", false},
}

// classify turns an error from the S3 client or the HTTP transport into
// an UploadError naming what failed; target names the server or bucket.
func classify(err error, target string) *UploadError {
	if err == nil {
		return nil
	}
	var ue *UploadError
	if errors.As(err, &ue) {
		return ue
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &UploadError{Kind: "cancelled", Message: "upload interrupted: " + err.Error(), Err: err}
	}
	if resp := minio.ToErrorResponse(err); resp.Code != "" {
		if k, ok := s3Kinds[resp.Code]; ok {
			return &UploadError{Kind: k.kind, Message: fmt.Sprintf("%s: %s (S3 %s)", target, k.advice, resp.Code), Retryable: k.retryable, Err: err}
		}
		retry := resp.StatusCode >= 500
		return &UploadError{Kind: "other", Message: fmt.Sprintf("%s: %s (S3 %s, HTTP %d)", target, resp.Message, resp.Code, resp.StatusCode), Retryable: retry, Err: err}
	}
	if k, ok := tlsKind(err); ok {
		return &UploadError{Kind: "tls", Message: fmt.Sprintf("%s: TLS error: %s", target, k), Err: err}
	}
	var ne net.Error
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne) || strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF") {
		return &UploadError{Kind: "network", Message: fmt.Sprintf("%s: cannot reach the server: %s", target, oneLine(err)), Retryable: true, Err: err}
	}
	return &UploadError{Kind: "other", Message: fmt.Sprintf("%s: %s", target, oneLine(err)), Retryable: false, Err: err}
}

// tlsKind recognises certificate and handshake failures, which no retry
// fixes.
func tlsKind(err error) (string, bool) {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return "the server's certificate is signed by an unknown authority: add its CA with delivery.upload.ca_file", true
	case errors.As(err, &host):
		return "the server's certificate does not match its name: " + host.Error(), true
	case errors.As(err, &invalid):
		return "the server's certificate is not valid: " + invalid.Error(), true
	case errors.As(err, &rec):
		return "the server does not speak TLS on this port: use an http:// endpoint or the right port", true
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "the server does not speak TLS on this port: use an http:// endpoint or the right port", true
	case strings.Contains(err.Error(), "tls: "):
		return oneLine(err), true
	}
	return "", false
}

// oneLine keeps the last line of an error and strips URLs with query
// strings, which may carry a pre-signed URL's signature.
func oneLine(err error) string {
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	return redactQuery(s)
}

// redactQuery removes the query of every URL in s.
func redactQuery(s string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		trimmed := strings.Trim(f, `"':`)
		if (strings.HasPrefix(trimmed, "http://") || strings.HasPrefix(trimmed, "https://")) && strings.Contains(trimmed, "?") {
			fields[i] = strings.Replace(f, trimmed, trimmed[:strings.Index(trimmed, "?")]+"?REDACTED", 1)
		}
	}
	return strings.Join(fields, " ")
}
