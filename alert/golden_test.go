package alert

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/collectors"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./alert -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./alert -run Golden -update rewrites it after review):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestGoldenMail renders a digest as the service mails it, from reports
// shaped as the disk and gateway checks make them on a PBX installed under
// /srv/portsip: the measured value, the level that fired, human units and
// the configured paths in the remedy.
func TestGoldenMail(t *testing.T) {
	e := newEngine(t, t.TempDir(), 1, 0, 0)
	disk := collectors.Outcome{Name: "disk", Report: &collectors.Report{
		State:   collectors.StateCritical,
		Summary: "/srv/portsip: 96.3% used, 3.7 GiB free — space 96.3% used, critical at 95%",
		Metrics: []collectors.Metric{
			{Name: "disk_used_ratio", Value: 0.963, Label: map[string]string{"mountpoint": "/srv/portsip"}},
			{Name: "disk_free_bytes", Value: 3.7 * (1 << 30), Unit: "B", Label: map[string]string{"mountpoint": "/srv/portsip"}},
			{Name: "disk_growth_bytes_per_hour", Value: 80874225, Unit: "B/h", Label: map[string]string{"mountpoint": "/srv/portsip"}},
			{Name: "disk_full_eta_seconds", Value: 49 * 3600, Unit: "s", Label: map[string]string{"mountpoint": "/srv/portsip"}},
		},
		Advice: "/srv/portsip holds pbx_data, pbx_log. Free space: pbxagent logs prune --dry-run, then pbxagent logs prune " +
			"(archived *.gz logs in /srv/portsip/pbx/log).",
	}}
	gw := collectors.Outcome{Name: "gateway", Report: &collectors.Report{
		State:   collectors.StateWarning,
		Summary: "REST API answered 502 in 1.2s",
		Metrics: []collectors.Metric{{Name: "gateway_latency_seconds", Value: 1.2, Unit: "s"}, {Name: "gateway_http_status", Value: 502}},
		Advice:  "restart the PBX: cd /srv/portsip && sh pbx_ctl.sh restart",
	}}
	if err := e.Observe(t0, []collectors.Outcome{disk, gw}); err != nil {
		t.Fatal(err)
	}
	d := e.Due(t0.Add(time.Second))
	if d == nil {
		t.Fatal("no digest")
	}
	text, html := d.Text(), d.HTML()
	for _, body := range []string{text, html} {
		for _, want := range []string{"critical at 95%", "96.3%", "3.7 GiB", "77.1 MiB/h", "2d1h", "/srv/portsip/pbx/log", "cd /srv/portsip", "1.2s"} {
			if !strings.Contains(body, want) {
				t.Errorf("mail lacks %q", want)
			}
		}
		for _, bad := range []string{"e+", "/opt/portsip", " B/h"} {
			if strings.Contains(body, bad) {
				t.Errorf("mail holds %q", bad)
			}
		}
	}
	golden(t, "digest.txt", d.Subject()+"\n\n"+text)
	golden(t, "digest.html", html)
}

// TestRestartKeepsPersistedState: after a restart, a check that was
// CRITICAL before it and still is gets no "OK → CRITICAL" mail.
func TestRestartKeepsPersistedState(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, dir, 2, 0, 0)
	s := &sim{t: t, e: e, now: t0}
	s.round(out("disk", crit, crit, "full"))
	s.round(out("disk", crit, crit, "full"))
	if len(s.digests) != 1 {
		t.Fatalf("%d digests before the restart, want 1", len(s.digests))
	}
	s2 := &sim{t: t, e: newEngine(t, dir, 2, 0, 0), now: s.now}
	for range 3 {
		s2.round(out("disk", crit, crit, "full"))
	}
	for _, d := range s2.digests {
		t.Errorf("mail after the restart: %s\n%s", d.Subject(), d.Text())
	}
	if st := s2.e.Status(); len(st) != 1 || st[0].State != crit {
		t.Errorf("state after the restart: %+v", st)
	}
}
