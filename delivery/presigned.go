package delivery

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// uploadPresigned sends the bundle in one PUT to a pre-signed URL. One URL
// signs one request, so this mode cannot resume part by part: a failed
// attempt is retried from the start. The URL's query (its signature) is
// never logged or stored.
func uploadPresigned(ctx context.Context, f *os.File, fi os.FileInfo, sum string, opt UploadOptions) (*Receipt, error) {
	u, err := url.Parse(opt.PresignedURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("pre-signed URL must be an http(s) URL as support handed it out (%s)", redactQuery(opt.PresignedURL))
	}
	tr, err := httpTransport(u.Scheme == "https", opt.CAFile)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: tr}
	target := "pre-signed URL " + u.Scheme + "://" + u.Host + u.Path
	rc := &Receipt{Bundle: filepath.Base(f.Name()), Size: fi.Size(), SHA256: sum, Endpoint: u.Scheme + "://" + u.Host,
		Object: strings.TrimPrefix(u.Path, "/"), Case: opt.Case, Host: opt.Host, Parts: 1, StartedAt: time.Now().UTC()}
	lim := newLimiter(opt.LimitRate)
	err = retry(ctx, opt, "PUT", target, func() error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		var sent int64
		body := &paced{ctx: ctx, r: io.LimitReader(f, fi.Size()), l: lim, progress: func(k int64) {
			sent += k
			if opt.Progress != nil {
				opt.Progress(sent, fi.Size())
			}
		}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, opt.PresignedURL, body)
		if err != nil {
			return fmt.Errorf("request: %s", redactQuery(err.Error()))
		}
		req.ContentLength = fi.Size()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return httpError(resp)
		}
		rc.ETag = resp.Header.Get("ETag")
		return nil
	})
	if err != nil {
		return nil, err
	}
	rc.PartsSent, rc.BytesSent = 1, fi.Size()
	return rc, writeLocalReceipt(f.Name(), rc)
}

// httpError turns an S3 error response into the client's error type, so
// it is classified like any other.
func httpError(resp *http.Response) error {
	var e minio.ErrorResponse
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if xml.Unmarshal(data, &e) != nil || e.Code == "" {
		e.Code = strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "")
		e.Message = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	e.StatusCode = resp.StatusCode
	if e.Message == "" {
		e.Message = e.Code
	}
	return e
}
