package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/alert"
	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
)

func testTrigger() *autoTrigger {
	c := config.Default().Recorder.AutoBundle
	return newAutoTrigger(c)
}

func TestAutoTriggerMatch(t *testing.T) {
	tr := testTrigger()
	items := []alert.Item{
		{Check: "gateway", Kind: alert.KindProblem, To: collectors.StateCritical},
		{Check: "gateway", Kind: alert.KindRecovery, To: collectors.StateOK},
		{Check: "disk", Kind: alert.KindProblem, To: collectors.StateWarning},
		{Check: "disk", Kind: alert.KindReminder, To: collectors.StateCritical},
		{Check: "call_failures/trunk:carrier-a", Kind: alert.KindProblem, To: collectors.StateWarning},
		{Check: "memory", Kind: alert.KindProblem, To: collectors.StateCritical},
	}
	got := tr.match(items)
	var names []string
	for _, it := range got {
		names = append(names, it.Check)
	}
	if strings.Join(names, ",") != "gateway,call_failures/trunk:carrier-a" {
		t.Fatalf("matched %v, want the gateway problem and the call-failure burst", names)
	}
	crit := tr.match([]alert.Item{{Check: "disk", Kind: alert.KindProblem, To: collectors.StateCritical}})
	if len(crit) != 1 {
		t.Fatalf("disk:critical did not match a critical disk: %v", crit)
	}
}

func TestAutoTriggerCooldownAndDailyMax(t *testing.T) {
	c := config.Default().Recorder.AutoBundle
	c.Cooldown = config.Duration(30 * time.Minute)
	c.MaxPerDay = 3
	tr := newAutoTrigger(c)
	now := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	step := func(d time.Duration, want bool, why string) {
		t.Helper()
		now = now.Add(d)
		ok, reason := tr.take(now)
		if ok != want || !strings.Contains(reason, why) {
			t.Fatalf("at %s: take = %v %q, want %v %q", now, ok, reason, want, why)
		}
	}
	step(0, true, "")
	step(10*time.Minute, false, "cool-down")
	step(19*time.Minute, false, "cool-down") // 29m after the first
	step(time.Minute, true, "")              // 30m: cool-down over
	step(30*time.Minute, true, "")           // third of the day
	step(30*time.Minute, false, "3 bundles taken today")
	step(3*time.Hour, true, "") // 21:30 + 3h: the next UTC day
}

func TestAutoTriggerSeed(t *testing.T) {
	tr := testTrigger()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var taken []time.Time
	for i := range 6 {
		taken = append(taken, now.Add(-time.Duration(i+1)*time.Hour))
	}
	taken = append(taken, now.Add(-13*time.Hour)) // yesterday
	tr.seed(now, taken)
	if ok, why := tr.take(now); ok || !strings.Contains(why, "6 bundles taken today") {
		t.Fatalf("after six bundles today, take = %v %q", ok, why)
	}
	tr = testTrigger()
	tr.seed(now, []time.Time{now.Add(-10 * time.Minute)})
	if ok, why := tr.take(now); ok || !strings.Contains(why, "cool-down") {
		t.Fatalf("a bundle 10m ago must hold the cool-down, take = %v %q", ok, why)
	}
}

func TestAutoNote(t *testing.T) {
	var analysis []string
	for i := range 9 {
		analysis = append(analysis, "finding "+string(rune('a'+i)))
	}
	got := autoNote("10m", "/state/auto-bundles/b.tar.gz", 3<<20, "Uploaded as case/b.tar.gz", strings.Join(analysis, "\n")+"\n")
	for _, want := range []string{"last 10m", "\n  /state/auto-bundles/b.tar.gz\n", "\n  3.0 MiB\n", "Uploaded as case/b.tar.gz",
		"Top findings of its analysis:\n  finding a\n", "finding f\n  …", "pbxagent verify /state/auto-bundles/b.tar.gz"} {
		if !strings.Contains(got, want) {
			t.Errorf("note lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "finding g") {
		t.Errorf("note quotes more than %d findings:\n%s", autoFindings, got)
	}
	if got := autoNote("10m", "/b", 1, "", ""); strings.Contains(got, "Top findings") {
		t.Errorf("a note without analysis names findings:\n%s", got)
	}
}

func TestAutoTriggerReconfigureKeepsMemory(t *testing.T) {
	tr := testTrigger()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	if ok, _ := tr.take(now); !ok {
		t.Fatal("first bundle refused")
	}
	c := config.Default().Recorder.AutoBundle
	c.Checks = []string{"memory"}
	c.Cooldown = config.Duration(time.Hour)
	tr.reconfigure(c)
	if len(tr.match([]alert.Item{{Check: "memory", Kind: alert.KindProblem, To: collectors.StateWarning}})) != 1 {
		t.Error("the reloaded checks are not in force")
	}
	if ok, why := tr.take(now.Add(45 * time.Minute)); ok || !strings.Contains(why, "cool-down") {
		t.Errorf("after a reload the new 1h cool-down from the earlier bundle must hold: %v %q", ok, why)
	}
}
