package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// post sends body to url and classifies the answer: 2xx is accepted, a
// permanent 4xx wraps ErrPermanent, anything else is worth retrying.
func post(ctx context.Context, c *http.Client, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("POST %s: HTTP %d: %s", req.URL.Redacted(), resp.StatusCode, bytes.TrimSpace(reply))
	if Permanent(resp.StatusCode) {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	return err
}

func client(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &http.Client{Timeout: timeout}
}
