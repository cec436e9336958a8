package guide

import (
	"strconv"
	"strings"
	"testing"
)

func TestForStatusKnownCodes(t *testing.T) {
	for _, code := range []int{402, 403, 404, 407, 408, 480, 503} {
		e := ForStatus(code)
		if e.Status != code || !e.Known() || e.Section == "" {
			t.Errorf("ForStatus(%d) = %+v, want a known entry from the guide", code, e)
		}
		if len(e.Causes) == 0 || len(e.Remedies) == 0 || e.NextCheck == "" {
			t.Errorf("ForStatus(%d): causes, remedies and next check must all be filled", code)
		}
	}
}

func TestForStatusFallsBackToClass(t *testing.T) {
	e := ForStatus(420)
	if e.Status != 420 || e.Key != "sip-4xx" || e.Known() {
		t.Fatalf("ForStatus(420) = %+v, want the 4xx class entry marked unknown", e)
	}
	if e := ForStatus(599); e.Key != "sip-5xx" {
		t.Fatalf("ForStatus(599).Key = %q", e.Key)
	}
	for _, c := range []int{0, 180, 200, 700} {
		if e := ForStatus(c); e.Key != "" {
			t.Errorf("ForStatus(%d) = %+v, want empty", c, e)
		}
	}
}

func TestBenign(t *testing.T) {
	for code, want := range map[int]bool{486: true, 487: true, 600: true, 603: true, 403: false, 503: false, 488: false} {
		if got := ForStatus(code).Benign; got != want {
			t.Errorf("ForStatus(%d).Benign = %v, want %v", code, got, want)
		}
	}
}

func TestCausesFromSide(t *testing.T) {
	e := ForStatus(403)
	trunk := e.CausesFrom(Trunk)
	if len(trunk) != 1 || !strings.Contains(trunk[0], "trunk") {
		t.Fatalf("403 trunk causes = %q", trunk)
	}
	pbx := e.CausesFrom(PBX)
	if len(pbx) != 6 || !strings.Contains(pbx[0], "licence") {
		t.Fatalf("403 PBX causes = %q", pbx)
	}
	// No cause on the side: all causes.
	if got := ForStatus(480).CausesFrom(Trunk); len(got) != 1 {
		t.Fatalf("480 trunk causes = %q, want all (1)", got)
	}
}

func TestSituations(t *testing.T) {
	for _, s := range []Situation{NoAnswer, OneWayAudio, NoAudio, PrivateSDP, LicenceExceeded, NoCDR,
		PortUnreachable, PoorQuality, PortalLogin500, PortalLogin502, PortalBadLogin, PortalNoTenant, PortalBlockedIP} {
		e, ok := ForSituation(s)
		if !ok || e.Status != 0 || e.Title == "" || len(e.Causes) == 0 {
			t.Errorf("ForSituation(%q) = %+v, %v", s, e, ok)
		}
	}
	if _, ok := ForSituation("no-such"); ok {
		t.Error("unknown situation found")
	}
	e, _ := ForSituation(NoAnswer)
	if !strings.Contains(strings.Join(e.Remedies, " "), "User-Agent") {
		t.Error("no-answer must carry the guide's User-Agent remedy")
	}
}

func TestTableIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Entries() {
		if seen[e.Key] {
			t.Errorf("duplicate key %q", e.Key)
		}
		seen[e.Key] = true
		if e.Title == "" || e.Meaning == "" || e.UsualSender == "" {
			t.Errorf("%s: title, meaning and usual sender are required", e.Key)
		}
		if e.Status != 0 && e.Key != "sip-"+strconv.Itoa(e.Status) {
			t.Errorf("%s: key does not match status %d", e.Key, e.Status)
		}
		if !e.Benign && len(e.Remedies) == 0 && e.Key != "sip-3xx" && e.Key != "sip-6xx" {
			t.Errorf("%s: a fault needs at least one remedy", e.Key)
		}
	}
}

func TestEntriesIsACopy(t *testing.T) {
	es := Entries()
	es[0].Causes[0].Text = "changed"
	es[0].Remedies[0] = "changed"
	if Entries()[0].Causes[0].Text == "changed" || ForStatus(es[0].Status).Remedies[0] == "changed" {
		t.Fatal("callers can change the table")
	}
}
