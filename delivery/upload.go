package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pbxagent/pbxagent/internal/atomicfile"
)

// Target is where bundles are uploaded: an S3-compatible bucket, or a
// pre-signed PUT URL handed out by support (then no credentials at all).
type Target struct {
	Endpoint  string // https://host[:port]
	Bucket    string
	Region    string
	AccessKey string
	SecretKey string
	// CAFile is a PEM file of extra trusted authorities.
	CAFile string
	// PresignedURL, when set, replaces everything above.
	PresignedURL string
}

// UploadOptions configure one upload.
type UploadOptions struct {
	Target
	// Case and Host name the object: <case>/<host>/<bundle name>.
	Case string
	Host string
	// PartSize is the multipart part size (at least 5 MiB).
	PartSize int64
	// LimitRate caps bandwidth in bytes per second; 0 = none. It is one
	// limit shared by all parts in flight.
	LimitRate int64
	// Parallel is how many parts are sent at once (default 4, at most
	// MaxParallel); memory is at most Parallel part-size buffers.
	Parallel int
	// Retries of a failed request; Backoff is the first wait, doubled
	// each time (default 1s).
	Retries int
	Backoff time.Duration
	// StateDir keeps the state of interrupted uploads (0700 folder,
	// 0600 files), so the next run resumes them.
	StateDir string
	// Progress is called with the bytes confirmed so far and the total.
	Progress func(done, total int64)
	Log      *slog.Logger
}

// Receipt records a finished upload; it is stored next to the object
// (<object>.receipt.json) and next to the bundle (<bundle>.upload.json).
type Receipt struct {
	Bundle     string    `json:"bundle"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	Endpoint   string    `json:"endpoint"`
	Bucket     string    `json:"bucket,omitempty"`
	Object     string    `json:"object"`
	ETag       string    `json:"etag"`
	Case       string    `json:"case,omitempty"`
	Host       string    `json:"host,omitempty"`
	Parts      int       `json:"parts"`
	PartSize   int64     `json:"part_size,omitempty"`
	PartsSent  int       `json:"parts_sent"`
	BytesSent  int64     `json:"bytes_sent"`
	Resumed    bool      `json:"resumed"`
	Signature  string    `json:"signature_object,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// ReceiptSuffix names the local receipt written next to an uploaded bundle.
const ReceiptSuffix = ".upload.json"

// safeCase reports whether s is 1 to 128 letters, digits, '.', '_' and
// '-', starting with a letter or digit. A loop rather than a regular
// expression: the counted repetition {0,127} compiled to a 140 KB program at
// every start-up of the agent, kept for its whole life.
func safeCase(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// ObjectName returns <case>/<host>/<bundle name>; an empty case becomes
// "no-case".
func ObjectName(caseID, host, bundlePath string) (string, error) {
	if caseID == "" {
		caseID = "no-case"
	}
	if !safeCase(caseID) {
		return "", fmt.Errorf("case ID %q: use letters, digits, '.', '_' and '-' only (at most 128)", caseID)
	}
	if host == "" || !safeCase(host) {
		return "", fmt.Errorf("host name %q cannot be part of an object name", host)
	}
	return caseID + "/" + host + "/" + filepath.Base(bundlePath), nil
}

// uploadState is what survives an interrupted multipart upload.
type uploadState struct {
	Endpoint string    `json:"endpoint"`
	Bucket   string    `json:"bucket"`
	Object   string    `json:"object"`
	UploadID string    `json:"upload_id"`
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mod_time"`
	SHA256   string    `json:"sha256"`
	PartSize int64     `json:"part_size"`
	Started  time.Time `json:"started"`
}

// Upload sends the bundle at path, its signature (path.minisig) and a
// receipt. An interrupted multipart upload is resumed from the parts the
// server confirms. The local files are never removed.
func Upload(ctx context.Context, path string, opt UploadOptions) (*Receipt, error) {
	f, fi, err := openBundle(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	opt = opt.withLog()
	sum, err := fileSHA256(ctx, f)
	if err != nil {
		return nil, err
	}
	if opt.PresignedURL != "" {
		return uploadPresigned(ctx, f, fi, sum, opt)
	}
	return uploadS3(ctx, f, fi, sum, opt)
}

// withLog fills the logger and backoff defaults.
func (opt UploadOptions) withLog() UploadOptions {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	return opt
}

func openBundle(path string) (*os.File, os.FileInfo, error) {
	lfi, err := os.Lstat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("bundle %s is not a regular file (%s); refusing to upload it", path, lfi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open bundle: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(fi, lfi) {
		f.Close()
		return nil, nil, fmt.Errorf("bundle %s changed while it was opened", path)
	}
	return f, fi, nil
}

func fileSHA256(ctx context.Context, f *os.File) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, &ctxReader{ctx, f}); err != nil {
		return "", fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// httpTransport trusts the system's authorities plus caFile's.
func httpTransport(secure bool, caFile string) (*http.Transport, error) {
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	tr.ResponseHeaderTimeout = 2 * time.Minute
	if caFile != "" {
		pem, err := readLimited(caFile, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: %w", caFile, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return tr, nil
}

func newCore(t Target) (*minio.Core, string, error) {
	u, err := url.Parse(t.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("upload endpoint %q must be a URL such as https://s3.example.com", t.Endpoint)
	}
	if t.Bucket == "" {
		return nil, "", errors.New("no bucket to upload to is configured")
	}
	if t.AccessKey == "" || t.SecretKey == "" {
		return nil, "", errors.New("no S3 credentials: set the access and secret keys in the configuration or the environment")
	}
	tr, err := httpTransport(u.Scheme == "https", t.CAFile)
	if err != nil {
		return nil, "", err
	}
	c, err := minio.NewCore(u.Host, &minio.Options{
		Creds:      credentials.NewStaticV4(t.AccessKey, t.SecretKey, ""),
		Secure:     u.Scheme == "https",
		Region:     t.Region,
		Transport:  tr,
		MaxRetries: 1, // retries are ours, with backoff and resume
	})
	if err != nil {
		return nil, "", fmt.Errorf("S3 client for %s: %w", u.Host, err)
	}
	return c, u.Scheme + "://" + u.Host, nil
}

// retry runs fn until it succeeds, fails for good, or opt.Retries
// retries have failed, waiting opt.Backoff, then twice as long, and so on.
func retry(ctx context.Context, opt UploadOptions, what, target string, fn func() error) error {
	wait := opt.Backoff
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		ue := classify(err, target)
		if !ue.Retryable || attempt >= opt.Retries || ctx.Err() != nil {
			if ue.Retryable && attempt > 0 {
				ue = &UploadError{Kind: ue.Kind, Message: fmt.Sprintf("%s (gave up after %d attempts; run the upload again to resume)", ue.Message, attempt+1), Err: ue.Err}
			}
			return ue
		}
		opt.Log.Warn("upload request failed; retrying", "what", what, "attempt", attempt+1, "wait", wait, "err", ue.Message)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return classify(ctx.Err(), target)
		}
		wait = min(wait*2, time.Minute)
	}
}

func statePath(dir, endpoint, bucket, object string) string {
	h := sha256.Sum256([]byte(endpoint + "\x00" + bucket + "\x00" + object))
	return filepath.Join(dir, "uploads", hex.EncodeToString(h[:12])+".json")
}

func loadState(p string) *uploadState {
	data, err := readLimited(p, 64<<10)
	if err != nil {
		return nil
	}
	var s uploadState
	if json.Unmarshal(data, &s) != nil {
		return nil
	}
	return &s
}

func saveState(p string, s *uploadState) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("create upload state folder: %w", err)
	}
	data, _ := json.MarshalIndent(s, "", "  ")
	if err := atomicfile.Write(p, data, 0o600); err != nil {
		return fmt.Errorf("save upload state: %w", err)
	}
	return nil
}

func uploadS3(ctx context.Context, f *os.File, fi os.FileInfo, sum string, opt UploadOptions) (*Receipt, error) {
	core, endpoint, err := newCore(opt.Target)
	if err != nil {
		return nil, err
	}
	object, err := ObjectName(opt.Case, opt.Host, f.Name())
	if err != nil {
		return nil, err
	}
	if opt.PartSize < 5<<20 {
		opt.PartSize = 16 << 20
	}
	target := fmt.Sprintf("s3 %s bucket %q", endpoint, opt.Bucket)
	rc := &Receipt{Bundle: filepath.Base(f.Name()), Size: fi.Size(), SHA256: sum, Endpoint: endpoint,
		Bucket: opt.Bucket, Object: object, Case: opt.Case, Host: opt.Host, StartedAt: time.Now().UTC()}
	if err := retry(ctx, opt, "check bucket", target, func() error {
		// A GET, not a HEAD: its error body tells a wrong secret from a
		// missing bucket. A write-only key may not list: that is fine, the
		// upload itself then tells.
		_, err := core.ListObjectsV2(opt.Bucket, "", "", "", "", 1)
		if minio.ToErrorResponse(err).Code == "AccessDenied" {
			return nil
		}
		return err
	}); err != nil {
		return nil, err
	}

	sp := statePath(opt.StateDir, endpoint, opt.Bucket, object)
	st, done := resumeState(ctx, core, sp, fi, sum, opt)
	if st == nil {
		st = &uploadState{Endpoint: endpoint, Bucket: opt.Bucket, Object: object, Size: fi.Size(),
			ModTime: fi.ModTime().UTC(), SHA256: sum, PartSize: opt.PartSize, Started: time.Now().UTC()}
		err := retry(ctx, opt, "start upload", target, func() error {
			var err error
			st.UploadID, err = core.NewMultipartUpload(ctx, opt.Bucket, object,
				minio.PutObjectOptions{UserMetadata: map[string]string{"sha256": sum}, ContentType: "application/octet-stream"})
			return err
		})
		if err != nil {
			return nil, err
		}
		if err := saveState(sp, st); err != nil {
			return nil, err
		}
	} else {
		rc.Resumed = true
		opt.Log.Info("resuming upload", "object", object, "parts_confirmed", len(done))
	}
	rc.PartSize = st.PartSize
	parts, err := sendParts(ctx, core, f, st, done, opt, rc, target)
	if err != nil {
		return nil, err
	}
	var info minio.UploadInfo
	err = retry(ctx, opt, "complete upload", target, func() error {
		var err error
		info, err = core.CompleteMultipartUpload(ctx, opt.Bucket, object, st.UploadID, parts, minio.PutObjectOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	os.Remove(sp)
	rc.ETag = info.ETag
	rc.Parts = len(parts)
	if err := putSidecars(ctx, core, f.Name(), rc, opt, target); err != nil {
		return rc, err
	}
	return rc, writeLocalReceipt(f.Name(), rc)
}

// resumeState returns the saved state of an interrupted upload of the same
// file and the parts the server confirms, or nil to start afresh.
func resumeState(ctx context.Context, core *minio.Core, sp string, fi os.FileInfo, sum string, opt UploadOptions) (*uploadState, map[int]minio.ObjectPart) {
	st := loadState(sp)
	if st == nil {
		return nil, nil
	}
	if st.Size != fi.Size() || st.SHA256 != sum || st.Bucket != opt.Bucket || st.PartSize < 5<<20 {
		opt.Log.Info("the bundle changed since the interrupted upload; starting again", "object", st.Object)
		_ = core.AbortMultipartUpload(ctx, st.Bucket, st.Object, st.UploadID)
		return nil, nil
	}
	done := map[int]minio.ObjectPart{}
	marker := 0
	for {
		res, err := core.ListObjectParts(ctx, st.Bucket, st.Object, st.UploadID, marker, 1000)
		if err != nil {
			opt.Log.Info("the interrupted upload cannot be resumed; starting again", "object", st.Object, "err", classify(err, "server").Message)
			return nil, nil
		}
		for _, p := range res.ObjectParts {
			done[p.PartNumber] = p
		}
		if !res.IsTruncated {
			break
		}
		marker = res.NextPartNumberMarker
	}
	return st, done
}

// putSidecars uploads the bundle's signature, if any, and the receipt next
// to the object.
func putSidecars(ctx context.Context, core *minio.Core, bundlePath string, rc *Receipt, opt UploadOptions, target string) error {
	if sig, err := readLimited(bundlePath+".minisig", maxSignature); err == nil {
		name := rc.Object + ".minisig"
		if err := retry(ctx, opt, "signature", target, func() error {
			_, err := core.PutObject(ctx, opt.Bucket, name, bytes.NewReader(sig), int64(len(sig)), "", "", minio.PutObjectOptions{})
			return err
		}); err != nil {
			return err
		}
		rc.Signature = name
	}
	rc.FinishedAt = time.Now().UTC()
	data, _ := json.MarshalIndent(rc, "", "  ")
	return retry(ctx, opt, "receipt", target, func() error {
		_, err := core.PutObject(ctx, opt.Bucket, rc.Object+".receipt.json", bytes.NewReader(data), int64(len(data)), "", "",
			minio.PutObjectOptions{ContentType: "application/json"})
		return err
	})
}

func writeLocalReceipt(bundlePath string, rc *Receipt) error {
	if rc.FinishedAt.IsZero() {
		rc.FinishedAt = time.Now().UTC()
	}
	data, _ := json.MarshalIndent(rc, "", "  ")
	if err := atomicfile.Write(bundlePath+ReceiptSuffix, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write upload receipt: %w", err)
	}
	return nil
}
