package alert

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
)

const (
	ok   = collectors.StateOK
	warn = collectors.StateWarning
	crit = collectors.StateCritical
	unkn = collectors.StateUnknown
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func newEngine(t testing.TB, dir string, consecutive int, reminder, digest time.Duration) *Engine {
	t.Helper()
	e, err := New(Options{
		Host:     "pbx1",
		Alerts:   config.Alerts{Consecutive: consecutive, Reminder: config.Duration(reminder), Digest: config.Duration(digest)},
		StateDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func out(name string, s, sticky collectors.State, summary string) collectors.Outcome {
	return collectors.Outcome{Name: name, Report: &collectors.Report{State: s, Sticky: sticky, Summary: summary}}
}

// sim drives an engine one round a minute and collects the digests, calling
// Due every 10 seconds like the service does.
type sim struct {
	t       testing.TB
	e       *Engine
	now     time.Time
	digests []*Digest
}

func (s *sim) round(outs ...collectors.Outcome) {
	s.t.Helper()
	if err := s.e.Observe(s.now, outs); err != nil {
		s.t.Fatal(err)
	}
	for range 6 {
		if d := s.e.Due(s.now); d != nil {
			s.digests = append(s.digests, d)
		}
		s.now = s.now.Add(10 * time.Second)
	}
}

func (s *sim) take() []*Digest {
	d := s.digests
	s.digests = nil
	return d
}

func TestFirstRoundAllOKSendsNothing(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, t.TempDir(), 2, 6*time.Hour, 30*time.Second), now: t0}
	for range 10 {
		s.round(out("disk", ok, ok, "fine"), out("memory", ok, ok, "fine"))
	}
	if d := s.take(); len(d) != 0 {
		t.Fatalf("got %d digests, want none", len(d))
	}
}

func TestConsecutiveAndDigestDelay(t *testing.T) {
	e := newEngine(t, t.TempDir(), 3, 0, 30*time.Second)
	disk := out("disk", crit, crit, "/var/lib/portsip 96% used")
	for i := range 2 {
		if err := e.Observe(t0.Add(time.Duration(i)*time.Minute), []collectors.Outcome{disk}); err != nil {
			t.Fatal(err)
		}
		if d := e.Due(t0.Add(time.Duration(i)*time.Minute + 59*time.Second)); d != nil {
			t.Fatalf("round %d: digest before 3 consecutive rounds: %s", i, d.Subject())
		}
	}
	commit := t0.Add(2 * time.Minute)
	if err := e.Observe(commit, []collectors.Outcome{disk}); err != nil {
		t.Fatal(err)
	}
	if d := e.Due(commit.Add(29 * time.Second)); d != nil {
		t.Fatal("digest sent before the digest window closed")
	}
	d := e.Due(commit.Add(30 * time.Second))
	if d == nil {
		t.Fatal("no digest after the window")
	}
	if got, want := d.Subject(), "[pbxagent] pbx1: CRITICAL disk — /var/lib/portsip 96% used"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	it := d.Items[0]
	if it.From != ok || it.To != crit || !it.Since.Equal(t0) {
		t.Errorf("item %+v: want OK → CRITICAL since the first round", it)
	}
	if e.Due(commit.Add(time.Hour)) != nil {
		t.Error("second digest for the same change")
	}
}

func TestRecoveryNeedsConsecutiveToo(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 2, 0, 0), now: t0}
	s.round(out("disk", crit, crit, "full"))
	s.round(out("disk", crit, crit, "full"))
	if len(s.take()) != 1 {
		t.Fatal("want one problem mail")
	}
	s.round(out("disk", ok, ok, "fine"))
	s.round(out("disk", crit, crit, "full"))
	s.round(out("disk", ok, ok, "fine"))
	if d := s.take(); len(d) != 0 {
		t.Fatalf("single OK rounds produced %d mails", len(d))
	}
	s.round(out("disk", ok, ok, "fine"))
	d := s.take()
	if len(d) != 1 || d[0].Items[0].Kind != KindRecovery {
		t.Fatalf("want one recovery mail, got %d", len(d))
	}
}

func TestHysteresis(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 2, 0, 0), now: t0}
	// Above the warning level once, then in the band between the clear
	// level and the trigger: the check stays WARNING.
	s.round(out("disk", warn, warn, "86%"))
	s.round(out("disk", ok, warn, "84%"))
	d := s.take()
	if len(d) != 1 || d[0].Items[0].To != warn {
		t.Fatalf("want WARNING committed through the sticky band, got %d digests", len(d))
	}
	for range 20 {
		s.round(out("disk", ok, warn, "84%"))
	}
	if d := s.take(); len(d) != 0 {
		t.Fatalf("value above the clear level recovered: %s", d[0].Subject())
	}
	s.round(out("disk", ok, ok, "82%"))
	s.round(out("disk", ok, ok, "82%"))
	d = s.take()
	if len(d) != 1 || d[0].Items[0].Kind != KindRecovery {
		t.Fatalf("want recovery below the clear level, got %d", len(d))
	}
	// Sticky alone never raises the state from OK.
	for range 5 {
		s.round(out("disk", ok, crit, "82%"))
	}
	if d := s.take(); len(d) != 0 {
		t.Fatal("sticky raised an OK check")
	}
}

func TestDigestGroupsChanges(t *testing.T) {
	e := newEngine(t, "", 1, 0, 30*time.Second)
	// memory was failing and got mailed.
	must(t, e.Observe(t0, []collectors.Outcome{out("memory", crit, crit, "97% used")}))
	if e.Due(t0.Add(30*time.Second)) == nil {
		t.Fatal("no memory mail")
	}
	now := t0.Add(3*time.Hour + 12*time.Minute)
	must(t, e.Observe(now, []collectors.Outcome{
		out("disk", crit, crit, "/var/lib/portsip 96% used"),
		out("memory", ok, ok, "40% used"),
	}))
	must(t, e.Observe(now.Add(20*time.Second), []collectors.Outcome{out("logs", warn, warn, "callmanager.log 1.2 GiB")}))
	if e.Due(now.Add(29*time.Second)) != nil {
		t.Fatal("digest before the window closed")
	}
	d := e.Due(now.Add(30 * time.Second))
	if d == nil {
		t.Fatal("no digest")
	}
	if got, want := d.Subject(), "[pbxagent] pbx1: 2 problems (CRITICAL disk, WARNING logs), 1 recovered"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	text := d.Text()
	for _, want := range []string{"memory recovered after 3h12m", "OK → CRITICAL", "callmanager.log 1.2 GiB"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if e.Due(now.Add(time.Hour)) != nil {
		t.Error("more than one digest for one window")
	}
}

func TestChangesInOneWindowMerge(t *testing.T) {
	e := newEngine(t, "", 1, 0, 30*time.Second)
	must(t, e.Observe(t0, []collectors.Outcome{out("disk", warn, warn, "86%")}))
	must(t, e.Observe(t0.Add(10*time.Second), []collectors.Outcome{out("disk", crit, crit, "96%")}))
	d := e.Due(t0.Add(30 * time.Second))
	if d == nil || len(d.Items) != 1 || d.Items[0].From != ok || d.Items[0].To != crit {
		t.Fatalf("want one OK → CRITICAL item, got %+v", d)
	}
	// A problem that clears before anyone was told is dropped.
	must(t, e.Observe(t0.Add(time.Minute), []collectors.Outcome{out("logs", warn, warn, "big")}))
	must(t, e.Observe(t0.Add(time.Minute+10*time.Second), []collectors.Outcome{out("logs", ok, ok, "fine")}))
	if d := e.Due(t0.Add(time.Hour)); d != nil {
		t.Fatalf("cleared problem mailed: %s", d.Subject())
	}
}

func TestRecoveryDuration(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 2, 0, 30*time.Second), now: t0}
	start := s.now
	for s.now.Sub(start) < 3*time.Hour+12*time.Minute {
		s.round(out("disk", crit, crit, "full"))
	}
	for range 3 {
		s.round(out("disk", ok, ok, "/var/lib/portsip 70% used"))
	}
	d := s.take()
	if len(d) != 2 {
		t.Fatalf("want problem and recovery mails, got %d", len(d))
	}
	if got, want := d[1].Subject(), "[pbxagent] pbx1: disk recovered after 3h12m"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if !strings.Contains(d[1].HTML(), "3h12m") {
		t.Error("HTML lacks the duration")
	}
}

func TestReminderTiming(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 2, 6*time.Hour, 30*time.Second), now: t0}
	var mails []time.Time
	for s.now.Before(t0.Add(13 * time.Hour)) {
		s.round(out("disk", crit, crit, "full"))
		for _, d := range s.take() {
			mails = append(mails, d.Time)
			if len(mails) > 1 && (d.Items[0].Kind != KindReminder || !strings.Contains(d.Subject(), "still CRITICAL disk")) {
				t.Errorf("mail %d is not a reminder: %s", len(mails), d.Subject())
			}
		}
	}
	if len(mails) != 3 {
		t.Fatalf("want first mail and two reminders in 13h, got %v", mails)
	}
	for i := 1; i < len(mails); i++ {
		gap := mails[i].Sub(mails[i-1])
		if gap < 6*time.Hour || gap > 6*time.Hour+2*time.Minute {
			t.Errorf("reminder %d after %s, want about 6h", i, gap)
		}
	}

	// Reminder 0 means none.
	s = &sim{t: t, e: newEngine(t, "", 2, 0, 30*time.Second), now: t0}
	for s.now.Before(t0.Add(24 * time.Hour)) {
		s.round(out("disk", crit, crit, "full"))
	}
	if d := s.take(); len(d) != 1 {
		t.Fatalf("reminder 0: got %d mails, want 1", len(d))
	}
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := &sim{t: t, e: newEngine(t, dir, 2, 6*time.Hour, 30*time.Second), now: t0}
	s.round(out("disk", crit, crit, "full"))
	s.round(out("disk", crit, crit, "full"))
	// logs saw one bad round before the restart.
	s.round(out("disk", crit, crit, "full"), out("logs", warn, warn, "big"))
	first := s.take()
	if len(first) != 1 {
		t.Fatalf("want one mail before restart, got %d", len(first))
	}
	mailed := first[0].Time

	fi, err := os.Stat(filepath.Join(dir, StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}

	// Restart: a new engine on the same folder.
	s.e = newEngine(t, dir, 2, 6*time.Hour, 30*time.Second)
	s.round(out("disk", crit, crit, "full"), out("logs", warn, warn, "big"))
	d := s.take()
	if len(d) != 1 || len(d[0].Items) != 1 || d[0].Items[0].Check != "logs" {
		t.Fatalf("after restart want only the logs change (pending count kept), got %d digests", len(d))
	}
	for s.now.Before(mailed.Add(6*time.Hour + 2*time.Minute)) {
		s.round(out("disk", crit, crit, "full"), out("logs", warn, warn, "big"))
	}
	d = s.take()
	if len(d) != 1 || d[0].Items[0].Kind != KindReminder || d[0].Items[0].Check != "disk" {
		t.Fatalf("want the disk reminder on its original schedule, got %d digests", len(d))
	}
	if gap := d[0].Time.Sub(mailed); gap < 6*time.Hour || gap > 6*time.Hour+2*time.Minute {
		t.Errorf("reminder %s after the first mail, want about 6h", gap)
	}
}

func TestCorruptStateStartsFresh(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, dir, 1, 0, 0)
	must(t, e.Observe(t0, []collectors.Outcome{out("disk", crit, crit, "full")}))
	if e.Due(t0) == nil {
		t.Fatal("engine with a corrupt state file does not alert")
	}
}

func TestFailedCollectorIsUnknown(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 2, 0, 0), now: t0}
	failed := collectors.Outcome{Name: "services", Err: errors.New("docker API: context deadline exceeded")}
	s.round(failed)
	s.round(failed)
	d := s.take()
	if len(d) != 1 || d[0].Items[0].To != unkn {
		t.Fatalf("want one UNKNOWN mail, got %d", len(d))
	}
	if !strings.Contains(d[0].Subject(), "UNKNOWN services — check failed: docker API: context deadline exceeded") {
		t.Errorf("subject %q lacks the error", d[0].Subject())
	}
}

func TestUnknownDoesNotCarryHysteresis(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 2, 0, 0), now: t0}
	failed := collectors.Outcome{Name: "disk", Err: errors.New("statfs: timeout")}
	s.round(failed)
	// The value is in the band between the clear and the trigger level:
	// the check was OK before the failure, so it is OK now.
	for range 5 {
		s.round(out("disk", ok, warn, "84%"))
	}
	if d := s.take(); len(d) != 0 {
		t.Fatalf("an UNKNOWN round made the sticky band stick: %s", d[0].Subject())
	}
}

func TestNoDataIgnored(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 1, time.Hour, 0), now: t0}
	nodata := collectors.Outcome{Name: "containers", Err: fmt.Errorf("docker: %w", collectors.ErrNoData), NoData: true}
	for range 5 {
		s.round(nodata)
	}
	if d := s.take(); len(d) != 0 || len(s.e.Status()) != 0 {
		t.Fatalf("NoData produced %d mails / %d checks", len(d), len(s.e.Status()))
	}
}

func TestFlappingNeverMails(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 2, 6*time.Hour, 30*time.Second), now: t0}
	for i := range 1000 {
		st := ok
		if i%2 == 0 {
			st = crit
		}
		s.round(out("disk", st, st, "flap"))
	}
	if d := s.take(); len(d) != 0 {
		t.Fatalf("flapping check produced %d mails", len(d))
	}
}

func TestMixedWorseningCommitsMildest(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 2, 0, 0), now: t0}
	s.round(out("disk", crit, crit, "96%"))
	s.round(out("disk", warn, warn, "90%"))
	d := s.take()
	if len(d) != 1 || d[0].Items[0].To != warn {
		t.Fatalf("WARNING then CRITICAL should commit WARNING, got %d digests", len(d))
	}
}

func TestBodies(t *testing.T) {
	e := newEngine(t, "", 1, 0, 0)
	o := collectors.Outcome{Name: "disk", Report: &collectors.Report{
		State:   crit,
		Summary: "/var/lib/portsip 96% used <script>alert(1)</script>",
		Metrics: []collectors.Metric{{Name: "disk_used_percent", Value: 96.5, Unit: "%", Label: map[string]string{"mount": "/var/lib/portsip"}}},
		Advice:  "Remove old archived logs (PortSIP troubleshooting guide, Disk full): pbxagent logs prune --dry-run",
		Data:    map[string]string{"token": "DATA-MUST-NOT-LEAK"},
		Text:    "TEXT-MUST-NOT-LEAK",
	}}
	must(t, e.Observe(t0, []collectors.Outcome{o}))
	d := e.Due(t0)
	if d == nil {
		t.Fatal("no digest")
	}
	text, html := d.Text(), d.HTML()
	for _, want := range []string{"disk_used_percent{mount=/var/lib/portsip} = 96.5%", "pbxagent logs prune --dry-run", "OK → CRITICAL since 2026-03-01 10:00:00 UTC"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
		if !strings.Contains(html, strings.ReplaceAll(want, "→", "→")) {
			t.Errorf("HTML lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;") {
		t.Error("summary not escaped in HTML")
	}
	if !strings.Contains(html, "#c82333") {
		t.Error("state colour missing from HTML")
	}
	for _, body := range []string{text, html, d.Subject()} {
		if strings.Contains(body, "MUST-NOT-LEAK") {
			t.Error("raw report data in the mail")
		}
	}
	if strings.ContainsAny(d.Subject(), "\r\n") {
		t.Error("subject spans lines")
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second:                              "45s",
		12 * time.Minute:                              "12m",
		3*time.Hour + 12*time.Minute:                  "3h12m",
		2 * time.Hour:                                 "2h",
		53*time.Hour + 10*time.Minute:                 "2d5h",
		48 * time.Hour:                                "2d",
		3*time.Hour + 11*time.Minute + 40*time.Second: "3h12m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
