package collectors

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/portsiptest"
)

// testGuide stands in for the troubleshooting guide.
func testGuide(code int) CodeAdvice {
	switch code {
	case 403:
		return CodeAdvice{Title: "403 Forbidden", Causes: []string{"the trunk rejects the caller ID or the account"},
			Remedies: []string{"check the trunk's credentials and allowed caller IDs"}, NextCheck: "the trunk's REGISTER answers"}
	case 486:
		return CodeAdvice{Title: "486 Busy Here", Benign: true}
	}
	return CodeAdvice{}
}

// testClock is an adjustable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// addCalls appends n CDRs ending at at on trunk with code.
func addCalls(f *portsiptest.Server, at time.Time, trunk string, code, n int) {
	f.Set(func(st *portsiptest.State) {
		for i := range n {
			id := len(st.CDRs) + 1
			st.CDRs = append(st.CDRs, portsiptest.CDR{ID: fmt.Sprint(id), Caller: "101", Callee: fmt.Sprintf("+49301234%04d", id),
				StartedAt: at.Add(-time.Minute), EndedAt: at.Add(time.Duration(i) * time.Millisecond), CallID: fmt.Sprintf("c%d@pbx", id),
				Direction: "OUTBOUND_CALL", StatusCode: code, Trunk: trunk})
		}
	})
}

func TestCallFailuresBurst(t *testing.T) {
	f := portsiptest.New(t)
	clk := &testClock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	cfg := config.Default().Checks.CallFailures
	c := fastClient(t, f, apiPass, dir)
	// Old calls before the first round are history: not examined.
	addCalls(f, clk.now().Add(-time.Hour), "carrier-a", 403, 30)
	licence := func() (State, string) { return StateCritical, "calls 100/100 (100%)" }
	cf := NewCallFailures(c, cfg, dir, testGuide, clk.now).WithLicence(licence)
	rep := collectReport(t, cf)
	if rep.State != StateOK || rep.Data.(CallFailuresData).NewCDRs != 0 {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	// Normal calls, busy callees and a few failures: no burst.
	clk.add(time.Minute)
	addCalls(f, clk.now(), "carrier-a", 200, 40)
	addCalls(f, clk.now(), "carrier-b", 486, 15)
	addCalls(f, clk.now(), "carrier-b", 503, 3)
	if rep = collectReport(t, cf); rep.State != StateOK || rep.Data.(CallFailuresData).NewCDRs != 58 {
		t.Fatalf("%v %q %+v", rep.State, rep.Summary, rep.Data)
	}
	// A 403 burst on carrier-a.
	clk.add(time.Minute)
	addCalls(f, clk.now(), "carrier-a", 403, 12)
	rep = collectReport(t, cf)
	if rep.State != StateCritical {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	for _, want := range []string{`12 calls failed with 403 Forbidden on trunk "carrier-a"`, "in the last 10m", "of 52 calls", "***0089"} {
		if !strings.Contains(rep.Summary, want) {
			t.Errorf("summary lacks %q: %q", want, rep.Summary)
		}
	}
	if strings.Contains(rep.Summary, "carrier-b") || strings.Contains(rep.Summary, "+49301234") {
		t.Errorf("summary names normal calls or unmasked numbers: %q", rep.Summary)
	}
	for _, want := range []string{"the trunk rejects the caller ID", "check the trunk's credentials", "Next check: the trunk's REGISTER answers",
		"The licence check (CRITICAL): calls 100/100 (100%)"} {
		if !strings.Contains(rep.Advice, want) {
			t.Errorf("advice lacks %q: %q", want, rep.Advice)
		}
	}
	// The burst is an alert item of its own, with its guide text.
	if len(rep.Items) != 1 {
		t.Fatalf("items %+v", rep.Items)
	}
	if it := rep.Items[0]; it.ID != `403 trunk "carrier-a"` || it.Label != `Calls failing with 403 Forbidden on trunk "carrier-a"` ||
		it.State != StateCritical || it.Status != "12 of 52 in 10m" || !strings.Contains(it.Advice, "The licence check (CRITICAL)") {
		t.Errorf("burst item %+v", it)
	}
	// The service saves the cursor after its round; the cursor and the
	// window survive a restart: nothing is read twice, the burst is still
	// counted.
	if err := Persist([]Named{{Name: "call_failures", Collector: &Cached{C: NeedsPBX{C: cf}}}}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, CDRCursorFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cursor file: %v %v", fi, err)
	}
	cf2 := NewCallFailures(c, cfg, dir, testGuide, clk.now)
	if rep = collectReport(t, cf2); rep.Data.(CallFailuresData).NewCDRs != 0 || rep.State != StateCritical || !strings.Contains(rep.Summary, "***0089") {
		t.Fatalf("after a restart: %v %q %+v", rep.State, rep.Summary, rep.Data)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, CDRCursorFile)); strings.Contains(string(b), "+49301234") || strings.Contains(string(b), "1234008") {
		t.Errorf("the state file holds unmasked numbers")
	}
	clk.add(time.Second)
	addCalls(f, clk.now(), "carrier-a", 200, 2)
	if rep = collectReport(t, cf2); rep.Data.(CallFailuresData).NewCDRs != 2 {
		t.Fatalf("after a restart, 2 new: %+v", rep.Data)
	}
	// The window passes: the burst is over.
	clk.add(11 * time.Minute)
	if rep = collectReport(t, cf); rep.State != StateOK {
		t.Fatalf("after the window: %v %q", rep.State, rep.Summary)
	}
}

// TestCallFailuresReadOnly: `status` and `bundle` read the CDRs without
// moving the saved cursor, so a service started later still reads the calls
// they saw, and mails their burst.
func TestCallFailuresReadOnly(t *testing.T) {
	f := portsiptest.New(t)
	clk := &testClock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	cfg := config.Default().Checks.CallFailures
	c := fastClient(t, f, apiPass, dir)
	cursor := filepath.Join(dir, CDRCursorFile)
	service := NewCallFailures(c, cfg, dir, testGuide, clk.now)
	collectReport(t, service)
	clk.add(time.Minute)
	addCalls(f, clk.now(), "carrier-a", 200, 5)
	collectReport(t, service)
	if err := service.Persist(); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(cursor)
	if err != nil {
		t.Fatal(err)
	}
	// The service stops; a burst comes; `status` runs twice and shows it.
	clk.add(time.Minute)
	addCalls(f, clk.now(), "carrier-a", 403, 12)
	for range 2 {
		status := NewCallFailures(c, cfg, dir, testGuide, clk.now)
		if rep := collectReport(t, status); rep.State != StateCritical || rep.Data.(CallFailuresData).NewCDRs != 12 || rep.Data.(CallFailuresData).Calls != 17 {
			t.Fatalf("status: %v %q %+v", rep.State, rep.Summary, rep.Data)
		}
	}
	if now, err := os.ReadFile(cursor); err != nil || string(now) != string(saved) {
		t.Fatalf("status moved the saved cursor (%v)", err)
	}
	// The service starts again: it reads the 12 calls status saw.
	clk.add(time.Second)
	restarted := NewCallFailures(c, cfg, dir, testGuide, clk.now)
	rep := collectReport(t, restarted)
	if d := rep.Data.(CallFailuresData); d.NewCDRs != 12 || rep.State != StateCritical {
		t.Fatalf("the restarted service skipped calls: %v %q %+v", rep.State, rep.Summary, d)
	}
	if err := restarted.Persist(); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(cursor); string(now) == string(saved) {
		t.Fatal("the service did not move the cursor")
	}
}

// TestCallFailuresShare: 60% of a trunk's calls failing is a burst even
// below min_failures.
func TestCallFailuresShare(t *testing.T) {
	f := portsiptest.New(t)
	clk := &testClock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	cf := NewCallFailures(fastClient(t, f, apiPass, ""), config.Default().Checks.CallFailures, "", nil, clk.now)
	collectReport(t, cf)
	clk.add(time.Minute)
	addCalls(f, clk.now(), "tiny", 200, 8)
	addCalls(f, clk.now(), "tiny", 503, 9)
	if rep := collectReport(t, cf); rep.State != StateOK {
		t.Fatalf("17 calls: %v %q", rep.State, rep.Summary)
	}
	clk.add(time.Second)
	addCalls(f, clk.now(), "tiny", 503, 3)
	// Without a guide given, the troubleshooting guide's table names the code.
	if rep := collectReport(t, cf); rep.State != StateCritical || !strings.Contains(rep.Summary, "12 calls failed with 503 Service Unavailable") ||
		!strings.Contains(rep.Advice, GuideAdvice(503).Causes[0]) {
		t.Fatalf("20 calls: %v %q", rep.State, rep.Summary)
	}
}

// TestCallFailures50000CDRs: a PBX with 50,000 CDRs costs a bounded number
// of requests a round and bounded memory.
func TestCallFailures50000CDRs(t *testing.T) {
	f := portsiptest.New(t)
	clk := &testClock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	start := clk.now().Add(-50000 * 100 * time.Millisecond)
	f.Set(func(st *portsiptest.State) {
		st.CDRs = make([]portsiptest.CDR, 0, 60000)
		for i := range 50000 {
			at := start.Add(time.Duration(i) * 100 * time.Millisecond)
			st.CDRs = append(st.CDRs, portsiptest.CDR{ID: fmt.Sprint(i), Callee: "+4930123456", EndedAt: at, StatusCode: 200, Trunk: "carrier-a"})
		}
	})
	cfg := config.Default().Checks.CallFailures
	c := fastClient(t, f, apiPass, "")
	cf := NewCallFailures(c, cfg, "", nil, clk.now)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rep := collectReport(t, cf)
	n := f.Count()
	t.Logf("first round over 50,000 CDRs: %d requests, %d CDR pages", n.Auth, n.Routes[portsiptest.RouteCDRs])
	// The last 10 minutes hold 6,000 CDRs: 60 pages, capped at 20.
	if pages := n.Routes[portsiptest.RouteCDRs]; pages != cfg.MaxPagesPerRound {
		t.Fatalf("%d pages", pages)
	}
	if d := rep.Data.(CallFailuresData); !d.Truncated || d.NewCDRs != 2000 {
		t.Fatalf("%+v", d)
	}
	// 20,000 more calls within the window: the events kept stay bounded.
	clk.add(time.Minute)
	f.ResetCounts()
	for range 10 {
		clk.add(5 * time.Second)
		addCalls(f, clk.now(), "carrier-a", 200, 2000)
		collectReport(t, cf)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("10 rounds of 2,000 new CDRs: %d requests; heap %d KiB -> %d KiB", f.Count().Auth, before.HeapAlloc>>10, after.HeapAlloc>>10)
	if pages := f.Count().Routes[portsiptest.RouteCDRs]; pages > 10*cfg.MaxPagesPerRound {
		t.Fatalf("%d pages for 10 rounds", pages)
	}
	cf.mu.Lock()
	kept := len(cf.cur.Events)
	cf.mu.Unlock()
	if kept != maxEvents {
		t.Fatalf("%d events kept, bound %d", kept, maxEvents)
	}
}

// TestCallFailuresOldestFirst: a PBX that lists CDRs oldest first is read
// from the end, incrementally.
func TestCallFailuresOldestFirst(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) { st.CDRsOldestFirst = true })
	clk := &testClock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	addCalls(f, clk.now().Add(-time.Hour), "carrier-a", 200, 1000)
	addCalls(f, clk.now().Add(-5*time.Minute), "carrier-a", 200, 150)
	cf := NewCallFailures(fastClient(t, f, apiPass, ""), config.Default().Checks.CallFailures, "", testGuide, clk.now)
	rep := collectReport(t, cf)
	if d := rep.Data.(CallFailuresData); d.NewCDRs != 150 || d.Truncated {
		t.Fatalf("first round: %+v", d)
	}
	for _, n := range []int{0, 7, 250} {
		clk.add(time.Second)
		addCalls(f, clk.now(), "carrier-a", 403, n)
		f.ResetCounts()
		rep = collectReport(t, cf)
		if d := rep.Data.(CallFailuresData); d.NewCDRs != n || f.Count().Routes[portsiptest.RouteCDRs] > n/100+3 {
			t.Fatalf("%d new: %+v, %d pages", n, d, f.Count().Routes[portsiptest.RouteCDRs])
		}
	}
	if rep.State != StateCritical || !strings.Contains(rep.Summary, "257 calls failed with 403") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
}

// TestCallFailures429: the gateway's 429 is waited out, not an error.
func TestCallFailures429(t *testing.T) {
	f := portsiptest.New(t)
	clk := &testClock{t: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	addCalls(f, clk.now(), "carrier-a", 403, 250)
	f.Set(func(st *portsiptest.State) { st.RateLimit, st.RateWindow, st.RetryAfter = 2, time.Second, time.Second })
	cf := NewCallFailures(fastClient(t, f, apiPass, ""), config.Default().Checks.CallFailures, "", testGuide, clk.now)
	rep := collectReport(t, cf)
	if n := f.Count(); n.RateLimited == 0 || rep.State != StateCritical || rep.Data.(CallFailuresData).NewCDRs != 250 {
		t.Fatalf("%+v %v %q", n, rep.State, rep.Summary)
	}
}

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{"+49 151 1234-5678": "***5678", "101": "***", "": "", "sip:anonymous": ""} {
		if got := maskNumber(in, 4); got != want {
			t.Errorf("maskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}
