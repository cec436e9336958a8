package analyze

import (
	"strings"
	"testing"
)

// A host without Docker and a bundle without the blocked-IP check: the
// report says both were not checked, never "all running" or "none".
func TestHostStatementsThreeStates(t *testing.T) {
	sys := map[string][]byte{
		"docker":  []byte(`{"name":"docker","no_data":true,"error":"Docker is not installed"}`),
		"gateway": []byte(`{"name":"gateway","report":{"state":"OK","summary":"the REST API gateway answers","data":{"state":"up"}}}`),
		"mounts":  []byte(`{"name":"mounts","report":{"state":"OK","summary":"2 filesystems","data":{"mounts":[]}}}`),
	}
	h := parseHost(&BundleInput{System: sys})
	want := map[string]string{"gateway": CheckFine, "containers": CheckNotChecked, "disks": CheckFine, "blocked_ips": CheckNotChecked}
	for name, state := range want {
		if c := h.state.Check(name); c.State != state {
			t.Errorf("%s: %+v, want %s", name, c, state)
		}
	}
	if c := h.state.Check("containers"); !strings.Contains(c.Detail, "Docker is not installed") {
		t.Errorf("containers: %+v", c)
	}
	r := &Report{Host: &h.state}
	page := render(t, r)
	for _, bad := range []string{"All PortSIP containers running", "None listed"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page says %q although it was not checked", bad)
		}
	}
	for _, s := range []string{"Not checked: not applicable on this host: Docker is not installed.", "Not checked: the bundle holds no system/blocked_ips.json."} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
}
