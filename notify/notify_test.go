package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

func batch() Batch {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return Batch{Host: "pbx1", Time: t0, Events: []Event{
		{Check: "disk", Kind: "problem", State: "CRITICAL", Previous: "WARNING", Since: t0, Summary: "97% used", Advice: "prune"},
		{Check: "gateway", Kind: "recovery", State: "OK", Previous: "CRITICAL", Since: t0, Summary: "up"},
	}}
}

// flaky answers 500 n times, then 200, checking the signature of every
// body and recording the accepted ones.
type flaky struct {
	mu       sync.Mutex
	fail     int
	secret   []byte
	badSig   int
	accepted []Batch
	ids      []string // X-Pbxagent-Delivery of every request
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, r.Header.Get(DeliveryHeader))
	if !Verify(f.secret, body, r.Header.Get(SignatureHeader)) {
		f.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if f.fail > 0 {
		f.fail--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	var b Batch
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.accepted = append(f.accepted, b)
}

func TestWebhookRetriesUntilAcceptedOnce(t *testing.T) {
	srv := &flaky{fail: 3, secret: []byte("k3y")}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	q, err := NewQueue(NewWebhook(config.Webhook{URL: ts.URL, Secret: "k3y"}, "pbxagent/test"), dir, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	q.SetBackoff(time.Millisecond, 5*time.Millisecond)
	var attempts, ok int
	q.OnAttempt(func(good bool) {
		attempts++
		if good {
			ok++
		}
	})
	if err := q.Enqueue(batch()); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(q.Dir()); st.Mode().Perm() != 0o700 {
		t.Errorf("queue folder mode %v", st.Mode().Perm())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	for q.Len() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	// A further pass must not deliver again.
	if err := q.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.accepted) != 1 || srv.badSig != 0 || attempts != 4 || ok != 1 {
		t.Fatalf("accepted %d, bad signatures %d, attempts %d (ok %d); want 1, 0, 4 (1)", len(srv.accepted), srv.badSig, attempts, ok)
	}
	for _, id := range srv.ids {
		if id == "" || id != srv.ids[0] {
			t.Errorf("delivery IDs %q: want one, the same in every attempt", srv.ids)
		}
	}
	if got := srv.accepted[0]; got.Host != "pbx1" || len(got.Events) != 2 || got.Events[0].Summary != "97% used" {
		t.Errorf("received %+v", got)
	}
}

func TestWebhookWrongSecretIsPermanentAndKept(t *testing.T) {
	srv := &flaky{secret: []byte("right")}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	q, err := NewQueue(NewWebhook(config.Webhook{URL: ts.URL, Secret: "wrong"}, "t"), t.TempDir(), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		q.Enqueue(batch())
	}
	if q.Len() != 2 {
		t.Errorf("queue bound: %d batches kept, want 2", q.Len())
	}
	err = q.Flush(context.Background())
	if err == nil || q.Len() != 2 || srv.badSig != 2 {
		t.Errorf("err %v, queued %d, bad signatures %d", err, q.Len(), srv.badSig)
	}
}

func TestSignVerify(t *testing.T) {
	// Known value: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
	got := Sign([]byte("key"), []byte("The quick brown fox jumps over the lazy dog"))
	if got != "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8" {
		t.Errorf("Sign = %s", got)
	}
	if Verify([]byte("key"), []byte("x"), got) {
		t.Error("Verify accepted a wrong body")
	}
}

func TestAlerts(t *testing.T) {
	as := Alerts(batch())
	if len(as) != 3 {
		t.Fatalf("%d alerts: %+v", len(as), as)
	}
	// disk WARNING resolved, disk CRITICAL firing, gateway CRITICAL resolved.
	want := []struct {
		check, sev string
		firing     bool
	}{{"disk", "warning", false}, {"disk", "critical", true}, {"gateway", "critical", false}}
	for i, w := range want {
		a := as[i]
		if a.Labels["check"] != w.check || a.Labels["severity"] != w.sev || a.Labels["instance"] != "pbx1" ||
			a.Labels["alertname"] != AlertName || a.EndsAt.IsZero() == !w.firing {
			t.Errorf("alert %d: %+v", i, a)
		}
	}
	if as[1].Annotations["summary"] != "97% used" || as[1].Annotations["description"] != "prune" {
		t.Errorf("annotations %v", as[1].Annotations)
	}
}

func TestPermanent(t *testing.T) {
	for code, want := range map[int]bool{400: true, 401: true, 404: true, 408: false, 429: false, 500: false, 503: false} {
		if Permanent(code) != want {
			t.Errorf("Permanent(%d) = %v", code, !want)
		}
	}
}
