//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startAgent runs `pbxagent run` with cfg until the test ends.
func startAgent(t *testing.T, cfg string) {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", cfg)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("pbxagent log:\n%s", logs.String())
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the child's two output streams.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon runs a peer (prometheus, alertmanager) until stop or the end
// of the test; its output is shown when the test fails.
func startDaemon(t *testing.T, name string, args ...string) (stop func()) {
	t.Helper()
	have(t, name)
	cmd := exec.Command(name, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return stop
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitFor polls cond every 200ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// promAlertState returns the state of alertname in Prometheus ("" if none).
func promAlertState(t *testing.T, api, alertname string) string {
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := getJSON(api+"/api/v1/alerts", &r); err != nil {
		return ""
	}
	for _, a := range r.Data.Alerts {
		if a.Labels["alertname"] == alertname {
			return a.State
		}
	}
	return ""
}

// metricTypes reads the "# TYPE" lines of a scrape.
func metricTypes(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "pbx_") {
			out[f[2]] = f[3]
		}
	}
	return out
}

// TestPrometheusScrapesDiskRule: a real Prometheus scrapes `pbxagent run`
// on loopback with the shipped rules (for: shortened); filling the PBX disk
// takes PBXDiskCritical pending then firing, emptying it resolves it. The
// metric names and types match testdata/metrics.golden.
func TestPrometheusScrapesDiskRule(t *testing.T) {
	have(t, "prometheus")
	data := tmpfsFixture(t, "16m")
	state := t.TempDir()
	mport, pport := freePort(t), freePort(t)
	cfg := watchConfig(t, data, state, nil, fmt.Sprintf("metrics:\n  enabled: true\n  listen: 127.0.0.1:%d\n", mport))
	startAgent(t, cfg)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	waitFor(t, 20*time.Second, "the metrics endpoint", func() bool {
		resp, err := http.Get(metricsURL)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	// Golden list: every family present must be listed; those not marked
	// optional ("?") must be present.
	golden, err := os.ReadFile(filepath.Join("testdata", "metrics.golden"))
	must(t, err)
	got := metricTypes(t, metricsURL)
	for _, line := range strings.Split(strings.TrimSpace(string(golden)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || strings.HasPrefix(line, "#") {
			continue
		}
		name, optional := strings.CutSuffix(f[0], "?")
		typ, ok := got[name]
		switch {
		case !ok && !optional:
			t.Errorf("metric %s (%s) missing from the scrape", name, f[1])
		case ok && typ != f[1]:
			t.Errorf("metric %s is a %s, golden says %s", name, typ, f[1])
		}
		delete(got, name)
	}
	for name, typ := range got {
		t.Errorf("metric %s %s not in testdata/metrics.golden (a new or renamed metric: add it there)", name, typ)
	}

	rules, err := os.ReadFile(filepath.Join("..", "..", "packaging", "prometheus", "pbxagent-rules.yml"))
	must(t, err)
	dir := t.TempDir()
	short := regexp.MustCompile(`for: \w+`).ReplaceAll(rules, []byte("for: 4s"))
	write(t, filepath.Join(dir, "rules.yml"), string(short))
	write(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: pbxagent
    static_configs:
      - targets: ['127.0.0.1:%d']
`, mport))
	startDaemon(t, "prometheus", "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", pport))
	api := fmt.Sprintf("http://127.0.0.1:%d", pport)
	waitFor(t, 30*time.Second, "Prometheus to scrape the agent", func() bool {
		var r struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		return getJSON(api+`/api/v1/query?query=pbx_check_state{check="disk"}==0`, &r) == nil && len(r.Data.Result) == 1
	})
	if s := promAlertState(t, api, "PBXDiskCritical"); s != "" {
		t.Fatalf("PBXDiskCritical is %s before the disk fills", s)
	}

	filler := fill(t, data, 97)
	var seen []string
	waitFor(t, 60*time.Second, "PBXDiskCritical pending then firing", func() bool {
		s := promAlertState(t, api, "PBXDiskCritical")
		if s != "" && (len(seen) == 0 || seen[len(seen)-1] != s) {
			seen = append(seen, s)
		}
		return s == "firing"
	})
	if !slices.Equal(seen, []string{"pending", "firing"}) {
		t.Errorf("PBXDiskCritical went through %v, want [pending firing]", seen)
	}
	must(t, os.Remove(filler))
	waitFor(t, 60*time.Second, "PBXDiskCritical to resolve", func() bool { return promAlertState(t, api, "PBXDiskCritical") == "" })
}

// amNotification is one webhook call of Alertmanager.
type amNotification struct {
	Status string `json:"status"`
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

// amSink is the webhook receiver of Alertmanager in the tests.
type amSink struct {
	mu  sync.Mutex
	got []amNotification
}

func (s *amSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var n amNotification
	if json.Unmarshal(body, &n) == nil {
		s.mu.Lock()
		s.got = append(s.got, n)
		s.mu.Unlock()
	}
}

// count returns how many notified alerts match check and status.
func (s *amSink) count(check, status string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, no := range s.got {
		for _, a := range no.Alerts {
			if a.Labels["check"] == check && a.Status == status && a.Labels["severity"] == "critical" {
				n++
			}
		}
	}
	return n
}

// TestAlertmanagerReceivesAlertOnce: the agent posts to a real
// Alertmanager, whose webhook receiver gets the disk alert with the right
// labels, then its resolution; an alert raised while Alertmanager is
// stopped is delivered once after it starts again.
func TestAlertmanagerReceivesAlertOnce(t *testing.T) {
	have(t, "prometheus-alertmanager")
	sink := &amSink{}
	ts := httptest.NewServer(sink)
	defer ts.Close()
	dir := t.TempDir()
	amPort := freePort(t)
	write(t, filepath.Join(dir, "am.yml"), fmt.Sprintf(`route:
  receiver: test
  group_by: [alertname, instance, check, severity]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: %s
        send_resolved: true
`, ts.URL))
	amArgs := []string{"--config.file=" + filepath.Join(dir, "am.yml"), "--storage.path=" + filepath.Join(dir, "am-data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", amPort), "--cluster.listen-address="}
	stopAM := startDaemon(t, "prometheus-alertmanager", amArgs...)
	amURL := fmt.Sprintf("http://127.0.0.1:%d", amPort)
	waitFor(t, 30*time.Second, "Alertmanager to start", func() bool {
		var s map[string]any
		return getJSON(amURL+"/api/v2/status", &s) == nil
	})

	data := tmpfsFixture(t, "16m")
	state := t.TempDir()
	cfg := watchConfig(t, data, state, nil, fmt.Sprintf("  alertmanager:\n    url: %s\n", amURL))
	startAgent(t, cfg)
	filler := fill(t, data, 97)
	waitFor(t, 60*time.Second, "the firing disk alert", func() bool { return sink.count("disk", "firing") == 1 })
	host, _ := os.Hostname()
	sink.mu.Lock()
	for _, n := range sink.got {
		for _, a := range n.Alerts {
			if a.Labels["alertname"] != "PBXCheck" || a.Labels["instance"] != host || a.Labels["service"] != "pbxagent" {
				t.Errorf("alert labels %v", a.Labels)
			}
		}
	}
	sink.mu.Unlock()
	must(t, os.Remove(filler))
	waitFor(t, 60*time.Second, "the resolution", func() bool { return sink.count("disk", "resolved") == 1 })

	// Alertmanager down while the disk fills again: the event waits in the
	// agent's queue and arrives once after Alertmanager is back.
	stopAM()
	before := sink.count("disk", "firing")
	filler = fill(t, data, 97)
	queue := filepath.Join(state, "queue", "alertmanager")
	waitFor(t, 60*time.Second, "the event in the agent's queue", func() bool {
		ents, _ := os.ReadDir(queue)
		return len(ents) > 0
	})
	startDaemon(t, "prometheus-alertmanager", amArgs...)
	waitFor(t, 90*time.Second, "the queued alert after the restart", func() bool { return sink.count("disk", "firing") == before+1 })
	waitFor(t, 60*time.Second, "the agent's queue to empty", func() bool {
		ents, _ := os.ReadDir(queue)
		return len(ents) == 0
	})
	time.Sleep(5 * time.Second) // a duplicate would come within group_interval
	if n := sink.count("disk", "firing"); n != before+1 {
		t.Errorf("the alert raised during the outage arrived %d times, want once", n-before)
	}
	_ = filler
}

// TestStatusNagios: `status --nagios` on a full PBX disk is a CRITICAL
// plugin result (exit 2) with one line of performance data, and OK (0)
// once space is freed.
func TestStatusNagios(t *testing.T) {
	data := tmpfsFixture(t, "16m")
	cfg := watchConfig(t, data, t.TempDir(), nil, "")
	filler := fill(t, data, 97)
	r := runAgent(t, "status", "--nagios", "--config", cfg)
	line := regexp.MustCompile(`^PBXAGENT CRITICAL - disk CRITICAL: [^|\n]+ \| 'disk'=2;1;2;0;3 'logs'=0;1;2;0;3\n$`)
	if r.code != 2 || !line.MatchString(r.stdout) {
		t.Errorf("full disk: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	must(t, os.Remove(filler))
	r = runAgent(t, "status", "--nagios", "--config", cfg)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "PBXAGENT OK - all 2 checks OK | 'disk'=0;1;2;0;3 'logs'=0;1;2;0;3") {
		t.Errorf("freed: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
