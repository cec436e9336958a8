package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/alert"
	"github.com/pbxagent/pbxagent/collectors"
)

// recorder is a receiver that keeps what it is sent.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []Item
}

func (r *recorder) Name() string { return r.name }
func (r *recorder) Send(_ context.Context, it Item) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, it)
	return nil
}

// TestFanoutScrubsAndPicks: a batch is scrubbed before any queue file
// holds it, and reaches exactly the receivers picked.
func TestFanoutScrubsAndPicks(t *testing.T) {
	dir := t.TempDir()
	mail, hook := &recorder{name: ReceiverEmail}, &recorder{name: "webhook"}
	var qs []*Queue
	for _, r := range []Receiver{mail, hook} {
		q, err := NewQueue(r, dir, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	f := NewFanout(func(s string) string { return strings.ReplaceAll(s, "s3cret", "REDACTED") }, nil, qs...)
	b := batch()
	b.Events[0].Summary = "token s3cret leaked"
	b.Events[0].Metrics = []collectors.Metric{{Name: "x", Value: 1, Label: map[string]string{"k": "s3cret"}}}
	b.Notes = []string{"bundle s3cret"}
	if n := f.Enqueue(b, Except(ReceiverEmail)); n != 1 {
		t.Fatalf("queued for %d receivers, want 1", n)
	}
	if n := f.Enqueue(b, nil); n != 2 {
		t.Fatalf("queued for %d receivers, want 2", n)
	}
	if b.Events[0].Metrics[0].Label["k"] != "s3cret" {
		t.Error("the caller's batch was modified")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"+queueExt))
	if len(files) != 3 {
		t.Fatalf("%d queued files, want 3", len(files))
	}
	for _, p := range files {
		data, _ := os.ReadFile(p)
		if strings.Contains(string(data), "s3cret") {
			t.Errorf("%s holds the secret: %s", p, data)
		}
	}
	for _, q := range qs {
		if err := q.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(mail.got) != 1 || len(hook.got) != 2 {
		t.Fatalf("email got %d, webhook %d; want 1 and 2", len(mail.got), len(hook.got))
	}
	if it := mail.got[0]; it.ID == "" || it.Queued.IsZero() || it.Events[0].Summary != "token REDACTED leaked" {
		t.Errorf("email item %+v", it)
	}
}

// TestBareBatchStillDelivered: an item queued as a bare batch (before
// items had an ID) is delivered, with an ID that does not change between
// attempts and its batch's time as queueing time.
func TestBareBatchStillDelivered(t *testing.T) {
	data := []byte(`{"host":"pbx1","time":"2026-01-02T03:04:05Z","events":[{"check":"disk","kind":"problem","state":"CRITICAL","previous":"OK","since":"2026-01-02T03:04:05Z"}]}`)
	a, err := decode(data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := decode(data)
	if a.ID == "" || a.ID != b.ID || !a.Queued.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || len(a.Events) != 1 {
		t.Errorf("decoded %+v", a)
	}
}

// TestDigestRoundTrip: a digest queued as a batch renders the same mail
// after the round trip, so receivers that render for people need nothing
// but the batch.
func TestDigestRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local)
	d := &alert.Digest{Host: "pbx1", Time: t0, Notes: []string{"Support bundle: /x.tar.zst"}, Items: []alert.Item{
		{Check: "trunks/carrier-a", Kind: alert.KindProblem, From: collectors.StateOK, To: collectors.StateCritical,
			Since: t0.Add(-time.Minute), FromStatus: "ONLINE", ToStatus: "OFFLINE", Label: "Trunk carrier-a",
			Summary: "offline", Advice: "call the carrier", Lasted: 90 * time.Second},
		{Check: "disk", Kind: alert.KindRecovery, From: collectors.StateWarning, To: collectors.StateOK,
			Since: t0, Lasted: 3 * time.Hour, Summary: "40% used",
			Metrics: []collectors.Metric{{Name: "disk_used_ratio", Value: 0.4, Label: map[string]string{"path": "/var"}}}},
	}}
	back := FromDigest(d).Digest()
	if back.Subject() != d.Subject() || back.Text() != d.Text() || back.HTML() != d.HTML() {
		t.Errorf("round trip changed the mail:\n%s\n---\n%s", d.Text(), back.Text())
	}
}
