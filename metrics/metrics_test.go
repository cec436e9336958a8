package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	checks "github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/testutil"
)

func round() []checks.Outcome {
	mp := map[string]string{"mountpoint": "/var/lib/portsip"}
	return []checks.Outcome{
		{Name: "disk", Duration: 3 * time.Millisecond, Report: &checks.Report{State: checks.StateCritical, Metrics: []checks.Metric{
			{Name: "disk_used_ratio", Value: 0.97, Label: mp},
			{Name: "disk_free_bytes", Value: 1 << 30, Unit: "B", Label: mp},
			{Name: "disk_free_bytes", Value: 1 << 30, Unit: "B", Label: mp}, // repeated: kept once
		}}},
		{Name: "gateway", Err: errors.New("refused"), Error: "refused"},
		{Name: "containers", NoData: true, Err: checks.ErrNoData},
		{Name: "logs", Report: &checks.Report{State: checks.StateOK, Metrics: []checks.Metric{
			{Name: "log_folder_bytes", Value: 42, Label: map[string]string{"dir": "/x", "bad-key": "v"}}}}},
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: HTTP %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestRoundSamples(t *testing.T) {
	m := New("1.2.3")
	m.QueueLength("email", func() float64 { return 2 })
	m.Delivered("email", true)
	m.Delivered("webhook", false)
	m.Captured("recorder", 10, 1)
	start := time.Unix(1700000000, 0)
	m.ObserveRound(start, start.Add(2*time.Second), round())
	body := scrape(t, m.Handler())
	for _, want := range []string{
		`pbx_check_state{check="disk"} 2`,
		`pbx_check_state{check="gateway"} 3`,
		`pbx_check_state{check="logs"} 0`,
		`pbx_disk_used_ratio{mountpoint="/var/lib/portsip"} 0.97`,
		`pbx_disk_free_bytes{mountpoint="/var/lib/portsip"} 1.073741824e+09`,
		`pbx_log_folder_bytes{bad_key="v",dir="/x"} 42`,
		`pbx_agent_check_failures_total{check="gateway"} 1`,
		`pbx_agent_check_failures_total{check="disk"} 0`,
		`pbx_agent_last_round_timestamp_seconds 1.700000002e+09`,
		`pbx_agent_round_duration_seconds 2`,
		`pbx_agent_alert_queue_length{receiver="email"} 2`,
		`pbx_agent_notifications_sent_total{receiver="email"} 1`,
		`pbx_agent_notifications_failed_total{receiver="webhook"} 1`,
		`pbx_agent_capture_dropped_packets_total{source="recorder"} 1`,
		`pbx_agent_build_info{goversion="`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(body, `check="containers"`) {
		t.Error("a check without data is exported")
	}
	if n := strings.Count(body, "pbx_disk_free_bytes{"); n != 1 {
		t.Errorf("pbx_disk_free_bytes appears %d times", n)
	}
	promtool := testutil.NeedTool(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ObserveRound(time.Now(), time.Now(), round())
	m.Delivered("email", true)
	m.QueueLength("email", nil)
	m.Captured("capture", 1, 1)
	if err := m.Register(nil); err != nil {
		t.Error(err)
	}
}

func TestMetricName(t *testing.T) {
	for in, want := range map[string]string{"disk_free_bytes": "pbx_disk_free_bytes", "pbx_port_listening": "pbx_port_listening", "a-b.c": "pbx_a_b_c"} {
		if got := MetricName(in); got != want {
			t.Errorf("MetricName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestServeBasicAuth serves through an exporter-toolkit web configuration
// with basic auth: without the password the scrape is refused.
func TestServeBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	wc := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(wc, []byte("basic_auth_users:\n  prom: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := New("test")
	m.ObserveRound(time.Now(), time.Now(), round())
	l, err := Listen(configMetrics("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, l, wc, nil) }()
	url := "http://" + l.Addr().String() + "/metrics"
	get := func(user, pass string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("", ""); c != http.StatusUnauthorized {
		t.Errorf("without credentials: HTTP %d", c)
	}
	if c := get("prom", "wrong"); c != http.StatusUnauthorized {
		t.Errorf("wrong password: HTTP %d", c)
	}
	if c := get("prom", "s3cret"); c != 200 {
		t.Errorf("right password: HTTP %d", c)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("tls_server_config: {cert_file: /nonexistent}\n"), 0o600)
	l2, _ := Listen(configMetrics("127.0.0.1:0"))
	if err := m.Serve(context.Background(), l2, bad, nil); err == nil || !strings.Contains(err.Error(), "metrics.web_config") {
		t.Errorf("bad web config: %v", err)
	}
}

func BenchmarkScrape(b *testing.B) {
	m := New("bench")
	m.ObserveRound(time.Now(), time.Now(), round())
	h := m.Handler()
	req := httptest.NewRequest("GET", "/metrics", nil)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
	}
}

func configMetrics(listen string) config.Metrics {
	return config.Metrics{Enabled: true, Listen: listen}
}

// TestItemSamples: one pbx_check_item_state series per item, capped at
// MaxItemSeries with the failing items kept; unchecked items left out.
func TestItemSamples(t *testing.T) {
	rep := &checks.Report{State: checks.StateCritical}
	for i := range 2000 {
		it := checks.Item{ID: fmt.Sprintf("trunk-%04d", i), State: checks.StateOK}
		if i%400 == 7 {
			it.State = checks.StateCritical
		}
		if i == 1 {
			it.Unchecked = true
		}
		rep.Items = append(rep.Items, it)
	}
	m := New("1")
	m.ObserveRound(time.Now(), time.Now(), []checks.Outcome{{Name: "trunks", Report: rep}})
	body := scrape(t, m.Handler())
	if n := strings.Count(body, "pbx_check_item_state{"); n != MaxItemSeries {
		t.Errorf("%d item series, want the cap %d", n, MaxItemSeries)
	}
	for _, want := range []string{`pbx_check_item_state{check="trunks",item="trunk-0007"} 2`, `pbx_check_item_state{check="trunks",item="trunk-1607"} 2`,
		`pbx_check_item_state{check="trunks",item="trunk-0000"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	if strings.Contains(body, `item="trunk-0001"`) {
		t.Error("an unchecked item is exported")
	}
	cmd := exec.Command(testutil.NeedTool(t, "promtool"), "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
