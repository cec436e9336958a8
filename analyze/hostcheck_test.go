package analyze

import (
	"strings"
	"testing"
)

// A host without Docker and a bundle without the blocked-IP check: both
// are "not checked", with why (report/html_test.go checks the page).
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
}
