package collectors

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

func TestOutcomeVocabulary(t *testing.T) {
	rep := &Report{State: StateCritical, Summary: "disk 97% used", Advice: "prune logs", Sticky: StateWarning,
		Metrics: []Metric{{Name: "disk_used_ratio", Value: 0.97}}, Text: "table"}
	cases := []struct {
		name                string
		o                   Outcome
		state               State
		label, line, advice string
		applicable, failed  bool
		metrics             int
	}{
		{"report", Outcome{Name: "disk", Report: rep}, StateCritical, "CRITICAL", "disk 97% used", "prune logs", true, false, 1},
		{"ok report hides advice", Outcome{Name: "disk", Report: &Report{State: StateOK, Summary: "fine", Advice: "x"}},
			StateOK, "OK", "fine", "", true, false, 0},
		{"failed", Outcome{Name: "gateway", Err: errors.New("timeout"), Error: "timeout"}, StateUnknown, "UNKNOWN",
			"check failed: timeout", "", true, true, 0},
		{"nil report", Outcome{Name: "gateway"}, StateUnknown, "UNKNOWN", "check failed: no report", "", true, true, 0},
		{"decoded failure", Outcome{Name: "gateway", Error: "refused"}, StateUnknown, "UNKNOWN", "check failed: refused", "", true, true, 0},
		{"no data", Outcome{Name: "containers", NoData: true, Err: fmt.Errorf("no docker: %w", ErrNoData), Error: "no docker: no data"},
			StateOK, "-", "not applicable: no docker", "", false, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			if o.State() != c.state || o.Label() != c.label || o.Line() != c.line || o.Advice() != c.advice ||
				o.Applicable() != c.applicable || o.Failed() != c.failed || len(o.Metrics()) != c.metrics {
				t.Errorf("got state %v label %q line %q advice %q applicable %v failed %v metrics %d",
					o.State(), o.Label(), o.Line(), o.Advice(), o.Applicable(), o.Failed(), len(o.Metrics()))
			}
		})
	}
	if s := (Outcome{Report: rep}).Sticky(); s != StateWarning {
		t.Errorf("sticky = %v", s)
	}
	if s := (Outcome{Report: &Report{Sticky: 9}}).Sticky(); s != StateOK {
		t.Errorf("out-of-range sticky = %v", s)
	}
}

func TestWorstCriticalOutranksUnknown(t *testing.T) {
	mk := func(s State) Outcome { return Outcome{Name: "x", Report: &Report{State: s}} }
	failed := Outcome{Name: "f", Err: errors.New("boom")}
	noData := Outcome{Name: "n", NoData: true, Err: ErrNoData}
	cases := []struct {
		outs []Outcome
		want State
	}{
		{nil, StateOK},
		{[]Outcome{noData}, StateOK},
		{[]Outcome{mk(StateOK), mk(StateWarning)}, StateWarning},
		{[]Outcome{mk(StateWarning), failed}, StateUnknown},
		{[]Outcome{mk(StateCritical), failed}, StateCritical},
		{[]Outcome{failed, mk(StateCritical), noData}, StateCritical},
		{[]Outcome{mk(StateUnknown), mk(StateWarning)}, StateUnknown},
	}
	for i, c := range cases {
		if got := Worst(c.outs); got != c.want {
			t.Errorf("case %d: Worst = %v, want %v", i, got, c.want)
		}
	}
}

func TestSpecsOneList(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Specs() {
		if s.Name == "" || seen[s.Name] || s.Tags == 0 || s.Build == nil {
			t.Errorf("bad spec %+v", s)
		}
		seen[s.Name] = true
	}
	cfg := config.Default()
	cfg.PBX.DataDir = filepath.Join(t.TempDir(), "no-portsip")
	cfg.PBX.DockerSocket = filepath.Join(t.TempDir(), "docker.sock")
	for _, goos := range []string{"linux", "windows"} {
		list := Build(Env{Config: cfg, GOOS: goos}, TagWatch)
		var names []string
		for _, n := range list {
			names = append(names, n.Name)
		}
		health := "trunks licence certificates media call_failures"
		want := "[disk logs gateway blocked_ips " + health + " containers]"
		if goos == "windows" {
			want = "[disk logs gateway blocked_ips " + health + " services]"
		}
		if fmt.Sprint(names) != want {
			t.Errorf("%s watch list %v, want %s", goos, names, want)
		}
	}
	list := Build(Env{Config: cfg, GOOS: "linux"}, TagWatch)
	if _, ok := Find(list, "logs").(*LogCheck); !ok {
		t.Errorf("Find(logs) = %T", Find(list, "logs"))
	}
	outs := Run(context.Background(), list, 10*time.Second)
	for _, o := range outs {
		if o.Name == "gateway" && !o.NoData {
			t.Errorf("gateway without PortSIP: %s, want not applicable", o.Line())
		}
	}
}

// TestOutcomeItems: a report's items are the alert keys of the things it
// watches; the check's own state is what they do not explain.
func TestOutcomeItems(t *testing.T) {
	items := []Item{{ID: "a", State: StateCritical}, {ID: "b", State: StateOK}, {ID: "c", State: StateUnknown, Unchecked: true}}
	cases := []struct {
		name  string
		o     Outcome
		own   State
		items int
	}{
		{"no items", Outcome{Name: "disk", Report: &Report{State: StateWarning}}, StateWarning, 0},
		{"items explain it", Outcome{Name: "trunks", Report: &Report{State: StateCritical, Items: items}}, StateOK, 3},
		{"worse than the items", Outcome{Name: "media", Report: &Report{State: StateCritical, Items: items[1:]}}, StateCritical, 2},
		{"failed", Outcome{Name: "trunks", Err: errors.New("timeout")}, StateUnknown, 0},
		{"no data", Outcome{Name: "trunks", NoData: true, Err: ErrNoData, Report: &Report{Items: items}}, StateOK, 0},
	}
	for _, c := range cases {
		if got := c.o.OwnState(); got != c.own {
			t.Errorf("%s: OwnState %v, want %v", c.name, got, c.own)
		}
		if got := len(c.o.Items()); got != c.items {
			t.Errorf("%s: %d items, want %d", c.name, got, c.items)
		}
	}
	if got := ItemKey("trunks", "carrier-a"); got != "trunks/carrier-a" {
		t.Errorf("ItemKey = %q", got)
	}
}
