package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/pbxagent/pbxagent/config"
)

// SignatureHeader carries the body's HMAC-SHA256 under the webhook secret,
// as "sha256=<hex>".
const SignatureHeader = "X-Pbxagent-Signature"

// Webhook posts each batch as JSON to a URL.
type Webhook struct {
	url    string
	secret []byte
	c      *http.Client
	ua     string
}

// NewWebhook returns the webhook receiver of cfg; userAgent names the
// agent ("pbxagent/1.2.0").
func NewWebhook(cfg config.Webhook, userAgent string) *Webhook {
	return &Webhook{url: cfg.URL, secret: []byte(cfg.Secret.Reveal()), c: client(cfg.Timeout.D()), ua: userAgent}
}

// Name is "webhook".
func (w *Webhook) Name() string { return "webhook" }

// DeliveryHeader carries the queued item's ID, the same in every attempt.
const DeliveryHeader = "X-Pbxagent-Delivery"

// Send posts the item's batch; the body is the Batch as JSON.
func (w *Webhook) Send(ctx context.Context, it Item) error {
	body, err := json.Marshal(it.Batch)
	if err != nil {
		return fmt.Errorf("encode webhook body: %w", err)
	}
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {w.ua}}
	if len(w.secret) > 0 {
		h.Set(SignatureHeader, Sign(w.secret, body))
	}
	h.Set("X-Pbxagent-Events", strconv.Itoa(len(it.Events)))
	if it.ID != "" {
		h.Set(DeliveryHeader, it.ID)
	}
	return post(ctx, w.c, w.url, body, h)
}

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under secret, in constant
// time; for receivers written in Go and for tests.
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, body)))
}
