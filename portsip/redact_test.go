package portsip

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// TestRedactWith: an error built from a server's answer keeps none of the
// spellings of the password or tokens, and the general rules apply too.
func TestRedactWith(t *testing.T) {
	const pw = "Api-Pa55/w0rd+x"
	c := &Client{password: pw}
	in := strings.Join([]string{
		"echo " + pw,
		"form password=" + url.QueryEscape(pw),
		"b64 " + base64.StdEncoding.EncodeToString([]byte("admin:"+pw)),
		`{"access_token":"eyJ.abc.def","refresh_token":"r-123456","user":"admin"}`,
		"token tok-live-8899",
	}, "\n")
	out := c.redactWith(in, "tok-live-8899")
	for _, bad := range []string{pw, url.QueryEscape(pw), base64.StdEncoding.EncodeToString([]byte("admin:" + pw)), "eyJ.abc.def", "r-123456", "tok-live-8899"} {
		if strings.Contains(out, bad) {
			t.Errorf("redacted text holds %q:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, `"user":"admin"`) {
		t.Errorf("harmless field lost:\n%s", out)
	}
}
