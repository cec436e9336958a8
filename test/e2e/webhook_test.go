//go:build linux

package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// flakyWebhook is a webhook receiver that checks every body's
// HMAC-SHA256 signature and refuses the first fail requests with HTTP 500.
type flakyWebhook struct {
	t      *testing.T
	secret []byte
	fail   int

	mu       sync.Mutex
	requests int
	refused  int
	badSig   int
	accepted []webhookEvent
}

type webhookEvent struct {
	Check, Kind, State string
}

func (s *flakyWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	m := hmac.New(sha256.New, s.secret)
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if err != nil || !hmac.Equal([]byte(r.Header.Get("X-Pbxagent-Signature")), []byte(want)) {
		s.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if s.refused < s.fail {
		s.refused++
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	var b struct {
		Host   string         `json:"host"`
		Events []webhookEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		s.t.Errorf("webhook body is not the documented JSON: %v\n%s", err, body)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	s.accepted = append(s.accepted, b.Events...)
}

// count returns how many accepted events match check, kind and state.
func (s *flakyWebhook) count(check, kind, state string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.accepted {
		if e.Check == check && e.Kind == kind && e.State == state {
			n++
		}
	}
	return n
}

// TestWebhookRetriesUntilAccepted: `pbxagent run` posts the disk alert to
// a webhook that verifies the HMAC signature of every request and answers
// 500 three times, then 200; the event is retried with backoff
// (alerts.retry_after: 1s) and arrives exactly once, and the queue empties.
func TestWebhookRetriesUntilAccepted(t *testing.T) {
	const secret = "e2e-webhook-secret"
	hook := &flakyWebhook{t: t, secret: []byte(secret), fail: 3}
	ts := httptest.NewServer(hook)
	defer ts.Close()

	data := tmpfsFixture(t, "16m")
	state := t.TempDir()
	fill(t, data, 97)
	cfg := watchConfig(t, data, state, nil, fmt.Sprintf("  retry_after: 1s\n  webhook:\n    url: %s\n    secret: %s\n", ts.URL, secret))
	startAgent(t, cfg)

	waitFor(t, 60*time.Second, "the disk event to be accepted", func() bool { return hook.count("disk", "problem", "CRITICAL") > 0 })
	queue := filepath.Join(state, "queue", "webhook")
	waitFor(t, 30*time.Second, "the webhook queue to empty", func() bool {
		ents, err := os.ReadDir(queue)
		return err == nil && len(ents) == 0
	})
	// A repeat would come with the next delivery pass (the backoff is
	// at most a few seconds here) or the next round (10 s).
	time.Sleep(12 * time.Second)
	if n := hook.count("disk", "problem", "CRITICAL"); n != 1 {
		t.Errorf("the disk event was accepted %d times, want once", n)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if hook.refused != 3 {
		t.Errorf("the webhook refused %d requests, want 3 (the agent gave up or never retried)", hook.refused)
	}
	if hook.badSig != 0 {
		t.Errorf("%d of %d requests had no valid X-Pbxagent-Signature", hook.badSig, hook.requests)
	}
}
