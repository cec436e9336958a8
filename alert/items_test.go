package alert

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/collectors"
)

// trunks is a round of the trunks check: status by trunk name, in order.
func trunks(status ...string) collectors.Outcome {
	rep := &collectors.Report{State: ok}
	var offline []string
	for i := 0; i+1 < len(status); i += 2 {
		name, st := status[i], status[i+1]
		it := collectors.Item{ID: name, Label: "Trunk " + name, State: ok, Status: st, Summary: fmt.Sprintf("trunk %q is %s", name, st)}
		switch st {
		case "ONLINE", "DISABLED":
		case "UNCHECKED":
			it.Unchecked = true
		default:
			it.State = crit
			offline = append(offline, name)
		}
		rep.Items = append(rep.Items, it)
	}
	rep.Summary = fmt.Sprintf("%d offline", len(offline))
	if len(offline) > 0 {
		rep.State, rep.Advice = crit, "check the trunk's registration"
	}
	return collectors.Outcome{Name: "trunks", Report: rep}
}

// items lists the digest's items as "key kind from→to".
func items(d *Digest) []string {
	var out []string
	for _, it := range d.Items {
		out = append(out, fmt.Sprintf("%s %s %s→%s", it.Check, it.Kind, it.From, it.To))
	}
	return out
}

func expectDigests(t *testing.T, s *sim, want ...[]string) []*Digest {
	t.Helper()
	got := s.take()
	if len(got) != len(want) {
		var subj []string
		for _, d := range got {
			subj = append(subj, d.Subject())
		}
		t.Fatalf("%d digests %q, want %d %q", len(got), subj, len(want), want)
	}
	for i, d := range got {
		if g := items(d); !slices.Equal(g, want[i]) {
			t.Fatalf("digest %d: %q, want %q", i, g, want[i])
		}
	}
	return got
}

// TestItemsMailEachTrunk: a second trunk going offline while the first is
// still offline is a mail of its own, and so is one trunk's recovery while
// the other stays down; the check's own key never mails for them.
func TestItemsMailEachTrunk(t *testing.T) {
	dir := t.TempDir()
	s := &sim{t: t, e: newEngine(t, dir, 2, 0, 30*time.Second), now: t0}
	s.round(trunks("carrier-a", "ONLINE", "carrier-b", "ONLINE"))
	s.round(trunks("carrier-a", "OFFLINE", "carrier-b", "ONLINE"))
	expectDigests(t, s)
	s.round(trunks("carrier-a", "OFFLINE", "carrier-b", "ONLINE"))
	d := expectDigests(t, s, []string{"trunks/carrier-a problem OK→CRITICAL"})
	if got, want := d[0].Subject(), "[pbxagent] pbx1: CRITICAL Trunk carrier-a: ONLINE → OFFLINE"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	text := d[0].Text()
	for _, want := range []string{"CRITICAL Trunk carrier-a: ONLINE → OFFLINE", `trunk "carrier-a" is OFFLINE`, "check the trunk's registration"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "carrier-b") {
		t.Errorf("the mail names the trunk that did not change:\n%s", text)
	}

	// A restart in between: the state of each trunk is kept.
	s.e = newEngine(t, dir, 2, 0, 30*time.Second)
	s.round(trunks("carrier-a", "OFFLINE", "carrier-b", "OFFLINE"))
	s.round(trunks("carrier-a", "OFFLINE", "carrier-b", "OFFLINE"))
	d = expectDigests(t, s, []string{"trunks/carrier-b problem OK→CRITICAL"})
	if got := d[0].Subject(); !strings.HasSuffix(got, "CRITICAL Trunk carrier-b: ONLINE → OFFLINE") {
		t.Errorf("subject %q", got)
	}

	s.round(trunks("carrier-a", "ONLINE", "carrier-b", "OFFLINE"))
	s.round(trunks("carrier-a", "ONLINE", "carrier-b", "OFFLINE"))
	d = expectDigests(t, s, []string{"trunks/carrier-a recovery CRITICAL→OK"})
	if got := d[0].Subject(); !strings.HasSuffix(got, "Trunk carrier-a: OFFLINE → ONLINE, recovered after 4m") {
		t.Errorf("subject %q", got)
	}
	if text := d[0].Text(); !strings.Contains(text, "Trunk carrier-a: OFFLINE → ONLINE") || !strings.Contains(text, "the problem lasted") {
		t.Errorf("recovery text:\n%s", text)
	}
	for range 5 {
		s.round(trunks("carrier-a", "ONLINE", "carrier-b", "OFFLINE"))
	}
	expectDigests(t, s)
	for _, st := range s.e.Status() {
		if st.Check == "trunks" && st.State != ok {
			t.Errorf("the check's own key is %s: the items carry the problem", st.State)
		}
	}
}

// TestItemsBlipAndReminder: one offline round mails nothing; a trunk that
// stays offline is reminded of by itself.
func TestItemsBlipAndReminder(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 2, time.Hour, 0), now: t0}
	s.round(trunks("a", "ONLINE", "b", "ONLINE"))
	s.round(trunks("a", "OFFLINE", "b", "ONLINE"))
	s.round(trunks("a", "ONLINE", "b", "ONLINE"))
	expectDigests(t, s)
	s.round(trunks("a", "ONLINE", "b", "OFFLINE"))
	s.round(trunks("a", "ONLINE", "b", "OFFLINE"))
	expectDigests(t, s, []string{"trunks/b problem OK→CRITICAL"})
	for range 60 {
		s.round(trunks("a", "ONLINE", "b", "OFFLINE"))
	}
	d := expectDigests(t, s, []string{"trunks/b reminder CRITICAL→CRITICAL"})
	if got := d[0].Subject(); !strings.HasSuffix(got, "CRITICAL Trunk b: still OFFLINE") {
		t.Errorf("reminder subject %q", got)
	}
}

// TestItemsUncheckedFailedAndGone: a trunk not checked this round and a
// failed round keep the trunks' states (the failure is the check's own
// alert); a trunk deleted while offline recovers and is then forgotten.
func TestItemsUncheckedFailedAndGone(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 1, 0, 0), now: t0}
	s.round(trunks("a", "OFFLINE", "b", "ONLINE"))
	expectDigests(t, s, []string{"trunks/a problem OK→CRITICAL"})
	s.round(trunks("a", "UNCHECKED", "b", "ONLINE"))
	s.round(collectors.Outcome{Name: "trunks", Err: fmt.Errorf("gateway down")})
	expectDigests(t, s, []string{"trunks problem OK→UNKNOWN"})
	s.round(trunks("a", "OFFLINE", "b", "ONLINE"))
	expectDigests(t, s, []string{"trunks recovery UNKNOWN→OK"})
	s.round(trunks("b", "ONLINE"))
	d := expectDigests(t, s, []string{"trunks/a recovery CRITICAL→OK"})
	if text := d[0].Text(); !strings.Contains(text, "Trunk a: OFFLINE → no longer reported") {
		t.Errorf("gone text:\n%s", text)
	}
	s.round(trunks("b", "ONLINE"))
	for _, st := range s.e.Status() {
		if st.Check == "trunks/a" {
			t.Errorf("a deleted trunk is still tracked: %+v", st)
		}
	}
}

// TestItemsWithOwnProblem: a report worse than its items is the check's
// own alert; a trunk first seen offline reads without a "from".
func TestItemsWithOwnProblem(t *testing.T) {
	s := &sim{t: t, e: newEngine(t, "", 1, 0, 0), now: t0}
	o := trunks("a", "OFFLINE")
	s.round(o)
	d := expectDigests(t, s, []string{"trunks/a problem OK→CRITICAL"})
	if got := d[0].Subject(); !strings.HasSuffix(got, "CRITICAL Trunk a: OFFLINE") {
		t.Errorf("subject %q", got)
	}
	o = trunks("a", "ONLINE")
	o.Report.State = warn
	s.round(o)
	expectDigests(t, s, []string{"trunks problem OK→WARNING", "trunks/a recovery CRITICAL→OK"})
}

func TestItemCheckName(t *testing.T) {
	for key, want := range map[string]string{"trunks/carrier-a": "trunks", "disk": "disk", `media/transport:TLS/5061`: "media"} {
		if got := (Item{Check: key}).CheckName(); got != want {
			t.Errorf("CheckName(%q) = %q, want %q", key, got, want)
		}
	}
}
