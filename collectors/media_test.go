package collectors

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/portsiptest"
)

func TestMediaServersAndTransports(t *testing.T) {
	f := portsiptest.New(t)
	f.Set(func(st *portsiptest.State) {
		st.Media = []portsiptest.MediaServer{{ID: "m1", Name: "ms-1", Status: "ONLINE", MaxConcurrency: 100, Concurrency: 10, CPU: 20, Memory: 30}}
		st.Transports = []portsiptest.Transport{{ID: "UDP", Protocol: "UDP", Port: 5060, Status: "ACTIVATED"}, {ID: "TLS", Protocol: "TLS", Port: 5061, Status: "ACTIVATED"}}
	})
	m := NewMedia(fastClient(t, f, apiPass, ""), config.Default().Checks.Media)
	if rep := collectReport(t, m); rep.State != StateOK || rep.Summary != "1 media server online, 2 SIP transports active" {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	f.Set(func(st *portsiptest.State) { st.Media[0].CPU, st.Media[0].Concurrency = 95, 92 })
	rep := collectReport(t, m)
	if rep.State != StateWarning || !strings.Contains(rep.Summary, `"ms-1" overloaded: CPU 95%, 92 of 100 sessions`) {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	f.Set(func(st *portsiptest.State) { st.Media[0].Status = "OFFLINE"; st.Transports[1].Status = "DEACTIVATED" })
	rep = collectReport(t, m)
	if rep.State != StateCritical || !strings.Contains(rep.Summary, `media server "ms-1" is OFFLINE`) || !strings.Contains(rep.Summary, "TLS port 5061 DEACTIVATED") {
		t.Fatalf("%v %q", rep.State, rep.Summary)
	}
	var got []string
	for _, it := range rep.Items {
		got = append(got, fmt.Sprintf("%s|%s|%v|%s", it.ID, it.Label, it.State, it.Status))
	}
	if want := []string{"server:ms-1|Media server ms-1|CRITICAL|OFFLINE", "transport:UDP/5060|SIP transport UDP/5060|OK|ACTIVATED",
		"transport:TLS/5061|SIP transport TLS/5061|WARNING|DEACTIVATED"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("items %q, want %q", got, want)
	}
	// A PBX without /transports still has its media servers checked.
	f.Set(func(st *portsiptest.State) { st.Missing = map[string]bool{portsiptest.RouteTransports: true} })
	rep = collectReport(t, m)
	if d := rep.Data.(MediaData); len(d.NotSupported) != 1 || rep.State != StateCritical || !strings.Contains(rep.Text, "/transports") {
		t.Fatalf("%+v", d)
	}
}
