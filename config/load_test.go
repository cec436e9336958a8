package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func writeFile(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pbxagent.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	return ve.Problems
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	c, err := Load(missing, false)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("got %+v, want defaults", c)
	}
	if ps := c.Validate(); len(ps) != 0 {
		t.Fatalf("defaults do not validate: %v", ps)
	}
}

func TestLoadExplicitMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.yaml")
	_, err := Load(missing, true)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{missing, "create it", "--config"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLoadEmptyAndComments(t *testing.T) {
	for _, content := range []string{"", "\n\n", "# only a comment\n  # another\n", "---\n", "pbx:\n  # data_dir: /x\nsmtp:\n"} {
		c, err := Load(writeFile(t, content), true)
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Fatalf("%q: got %+v, want defaults", content, c)
		}
	}
}

func TestLoadOverrides(t *testing.T) {
	c, err := Load(writeFile(t, `
pbx:
  data_dir: /srv/portsip/pbx
  sip_ports: [5070]
bundle:
  since: 7d
  max_size: 1GiB
  reserve_percent: 10
smtp:
  to: [a@example.com, b@example.com]
  password: "s3cr:et"
analyze:
  pbx_addresses: [203.0.113.10]
  trunk_addresses: [198.51.100.7, "2001:db8::7"]
  quality:
    mos_warn: 3.1
`), true)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.PBX.DataDir = "/srv/portsip/pbx"
	want.PBX.SIPPorts = []int{5070}
	want.Bundle.Since = Duration(7 * 24 * time.Hour)
	want.Bundle.MaxSize = GiB
	want.Bundle.ReservePercent = 10
	want.SMTP.To = []string{"a@example.com", "b@example.com"}
	want.SMTP.Password = "s3cr:et"
	want.Analyze.PBXAddresses = []string{"203.0.113.10"}
	want.Analyze.TrunkAddresses = []string{"198.51.100.7", "2001:db8::7"}
	want.Analyze.Quality.MOSWarn = 3.1
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", c, want)
	}
}

func TestLoadThreeProblems(t *testing.T) {
	p := writeFile(t, `pbx:
  data_dir: /var/lib/portsip/pbx
  colour: blue
agent:
  log_level: loud
bundle:
  max_size:
    value: 1
`)
	_, err := Load(p, true)
	ps := problemsOf(t, err)
	want := []struct {
		line int
		key  string
		msg  string
	}{
		{3, "pbx.colour", "unknown key"},
		{5, "agent.log_level", "must be one of debug, info, warn, error"},
		{8, "bundle.max_size", "must be a size such as 500MiB, not a mapping"},
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		if ps[i].Line != w.line || ps[i].Key != w.key || !strings.Contains(ps[i].Message, w.msg) || ps[i].File != p {
			t.Errorf("problem %d = %+v, want line %d key %s message containing %q", i, ps[i], w.line, w.key, w.msg)
		}
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("Error() has %d lines, want 3:\n%s", len(lines), err)
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(p) + `:\d+:\d+: [a-z_.]+: .+$`)
	for _, l := range lines {
		if !re.MatchString(l) {
			t.Errorf("line %q is not FILE:LINE:COL: KEY: MESSAGE", l)
		}
	}
	if !strings.HasPrefix(lines[0], p+":3:3: pbx.colour: ") {
		t.Errorf("first line %q", lines[0])
	}
}

func TestLoadSuggestion(t *testing.T) {
	_, err := Load(writeFile(t, "bundle:\n  max_sise: 1GiB\n"), true)
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Key != "bundle.max_sise" || !strings.Contains(ps[0].Message, "did you mean max_size?") || ps[0].Line != 2 {
		t.Fatalf("got %+v", ps)
	}
	// A key at the wrong level points to where it belongs.
	_, err = Load(writeFile(t, "max_size: 1GiB\n"), true)
	ps = problemsOf(t, err)
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "bundle.max_size") {
		t.Fatalf("got %+v", ps)
	}
	// Nothing close: list the valid keys.
	_, err = Load(writeFile(t, "agent:\n  zzzzzzzz: 1\n"), true)
	ps = problemsOf(t, err)
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "state_dir, log_level") {
		t.Fatalf("got %+v", ps)
	}
}

func TestLoadProblems(t *testing.T) {
	cases := []struct {
		name, yaml, key, msg string
	}{
		{"top-level list", "- a\n- b\n", "", "must be a mapping of sections"},
		{"top-level scalar", "hello\n", "", "must be a mapping of sections"},
		{"section scalar", "pbx: yes\n", "pbx", "must be a mapping of settings"},
		{"int from text", "smtp:\n  port: abc\n", "smtp.port", "must be a whole number"},
		{"int from float", "smtp:\n  port: 5.5\n", "smtp.port", "must be a whole number"},
		{"list for scalar", "agent:\n  log_level: [info]\n", "agent.log_level", "must be text, not a list"},
		{"mapping for string", "api:\n  password: {a: b}\n", "api.password", "must be text, not a mapping"},
		{"scalar for list", "pbx:\n  sip_ports: 5060\n", "pbx.sip_ports", "must be a list such as [5060, 5061]"},
		{"bad list entry", "pbx:\n  sip_ports: [5060, x]\n", "pbx.sip_ports[1]", "must be a whole number"},
		{"empty list entry", "smtp:\n  to:\n    -\n", "smtp.to[0]", "empty list entry"},
		{"bool", "api:\n  insecure_skip_verify: maybe\n", "api.insecure_skip_verify", "must be true or false"},
		{"bad size", "bundle:\n  max_size: lots\n", "bundle.max_size", "500MiB"},
		{"bad duration", "bundle:\n  since: 3 weeks\n", "bundle.since", "7d"},
		{"duration without unit", "bundle:\n  since: 30\n", "bundle.since", "add a unit"},
		{"duplicate", "agent:\n  log_level: info\n  log_level: debug\n", "agent.log_level", "duplicate key (first set on line 2)"},
		{"duplicate section", "agent: {}\nagent: {}\n", "agent", "duplicate key"},
		{"relative data_dir", "pbx:\n  data_dir: portsip\n", "pbx.data_dir", "absolute path"},
		{"port range", "pbx:\n  web_ports: [0]\n", "pbx.web_ports[0]", "1 to 65535"},
		{"rtp order", "pbx:\n  rtp_range: 65000-45000\n", "pbx.rtp_range", "45000-65000"},
		{"rtp syntax", "pbx:\n  rtp_range: 45000\n", "pbx.rtp_range", "LOW-HIGH"},
		{"hep listen", "recorder:\n  hep:\n    listen: localhost\n", "recorder.hep.listen", "IP:port"},
		{"hep allow", "recorder:\n  hep:\n    allow: [pbx.example]\n", "recorder.hep.allow", "CIDR"},
		{"hep allow empty", "recorder:\n  hep:\n    enabled: true\n    allow: []\n", "recorder.hep.allow", "every message would be refused"},
		{"hep forward", "recorder:\n  hep:\n    forward_to: homer:9060\n", "recorder.hep.forward_to", "udp://host:port"},
		{"format", "bundle:\n  format: rar\n", "bundle.format", "must be one of tar.gz, tar.zst, zip"},
		{"reserve", "bundle:\n  reserve_percent: 80\n", "bundle.reserve_percent", "between 0 and 50"},
		{"reserve nan", "bundle:\n  reserve_percent: .nan\n", "bundle.reserve_percent", "must be a number"},
		{"reserve NaN", "bundle:\n  reserve_percent: NaN\n", "bundle.reserve_percent", "between 0 and 50"},
		{"file size", "bundle:\n  max_size: 100MiB\n  max_file_size: 200MiB\n", "bundle.max_file_size", "larger than bundle.max_size"},
		{"zero file size", "bundle:\n  max_file_size: 0\n", "bundle.max_file_size", "greater than 0"},
		{"tls", "smtp:\n  tls: ssl\n", "smtp.tls", "must be one of starttls, tls, none"},
		{"plain", "smtp:\n  tls: none\n", "smtp.tls", "allow_plain: true"},
		{"smtp port", "smtp:\n  port: 70000\n", "smtp.port", "1 to 65535"},
		{"email", "smtp:\n  to: [ops@example.com, ops]\n", "smtp.to[1]", "not an email address"},
		{"url scheme", "api:\n  url: ftp://pbx/api\n", "api.url", "https://"},
		{"url credentials", "api:\n  url: https://admin:hunter2@pbx/api\n", "api.url", "api.username and api.password"},
		{"merge key", "base: &b {log_level: info}\nagent:\n  <<: *b\n", "agent", "merge keys"},
		{"two documents", "agent: {}\n---\npbx: {}\n", "", "more than one YAML document"},
		{"syntax", "agent: [\n", "", "invalid YAML"},
		{"tab", "agent:\n\tlog_level: info\n", "", "not tabs"},
		{"retry too short", "alerts:\n  retry_after: 500ms\n", "alerts.retry_after", "from 1s to 30m"},
		{"retry too long", "alerts:\n  retry_after: 1h\n", "alerts.retry_after", "from 1s to 30m"},
		{"pbx address", "analyze:\n  pbx_addresses: [203.0.113.10, pbx.example.com]\n", "analyze.pbx_addresses[1]", "not an IP address"},
		{"trunk address", "analyze:\n  trunk_addresses: [198.51.100.300]\n", "analyze.trunk_addresses[0]", "not an IP address"},
		{"sbc rtp range", "analyze:\n  sbc_rtp_range: 35000-25000\n", "analyze.sbc_rtp_range", "25000-35000"},
		{"loss warn", "analyze:\n  quality:\n    loss_warn_percent: 0\n", "analyze.quality.loss_warn_percent", "above 0"},
		{"loss order", "analyze:\n  quality:\n    loss_info_percent: 5\n", "analyze.quality.loss_info_percent", "must not be above loss_warn_percent (3)"},
		{"jitter", "analyze:\n  quality:\n    jitter_warn_ms: -1\n", "analyze.quality.jitter_warn_ms", "above 0"},
		{"mos", "analyze:\n  quality:\n    mos_warn: 5\n", "analyze.quality.mos_warn", "from 1 to 4.5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.yaml), true)
			ps := problemsOf(t, err)
			for _, p := range ps {
				if p.Key == tc.key && strings.Contains(p.Message, tc.msg) {
					if strings.Contains(err.Error(), "hunter2") {
						t.Fatalf("error leaks the password: %s", err)
					}
					return
				}
			}
			t.Fatalf("no problem %s: ...%s...; got:\n%s", tc.key, tc.msg, err)
		})
	}
}

func TestLoadPlainAllowed(t *testing.T) {
	_, err := Load(writeFile(t, "smtp:\n  tls: none\n  allow_plain: true\n  port: 25\n"), true)
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadCrossFieldPosition(t *testing.T) {
	// max_file_size is not in the file: the problem points at its section.
	_, err := Load(writeFile(t, "agent: {}\nbundle:\n  max_size: 100MiB\n"), true)
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Key != "bundle.max_file_size" || ps[0].Line != 3 {
		t.Fatalf("got %+v", ps)
	}
}

func TestLoadTooLarge(t *testing.T) {
	p := writeFile(t, "# "+strings.Repeat("x", MaxFileSize)+"\n")
	if _, err := Load(p, true); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}

func TestLoadAliases(t *testing.T) {
	c, err := Load(writeFile(t, "x-ports: &p [5060]\npbx:\n  sip_ports: *p\n"), true)
	// x-ports is unknown: aliases work but unknown keys are still reported.
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Key != "x-ports" {
		t.Fatalf("got %v %+v", c, ps)
	}
	c, err = Load(writeFile(t, "pbx:\n  sip_ports: &p [5070]\n  web_ports: *p\n"), true)
	if err != nil || !reflect.DeepEqual(c.PBX.WebPorts, []int{5070}) {
		t.Fatalf("got %v %v", c, err)
	}
}

func TestMarshalMasksAndRoundTrips(t *testing.T) {
	const apiSecret, smtpSecret = "api-S3cret-value", "smtp-S3cret-value"
	c := Default()
	c.API.Password = apiSecret
	c.API.Username = "admin"
	c.SMTP.Password = smtpSecret
	c.SMTP.Host = "mail.example.com"
	c.SMTP.To = []string{"ops@example.com"}
	c.SMTP.From = "pbxagent@example.com"
	c.Bundle.Since = Duration(36 * time.Hour)
	c.Bundle.MaxSize = 3 * GiB
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, secret := range []string{apiSecret, smtpSecret, "S3cret"} {
		if strings.Contains(s, secret) {
			t.Fatalf("output holds a secret:\n%s", s)
		}
	}
	for _, want := range []string{"max_size: 3GiB", "since: 1d12h", "effective: ", Mask, "sip_ports: [5060, 5061"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	back, err := Load(writeFile(t, s), true)
	if err != nil {
		t.Fatalf("output does not load: %v\n%s", err, s)
	}
	want := *c
	want.API.Password = Mask
	want.SMTP.Password = Mask
	if !reflect.DeepEqual(back, &want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, &want)
	}
	// Unset secrets stay empty.
	out, err = Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	back, err = Load(writeFile(t, string(out)), true)
	if err != nil || !reflect.DeepEqual(back, Default()) {
		t.Fatalf("defaults round trip: %v\n%s", err, out)
	}
}

func TestSecretMasks(t *testing.T) {
	s := Secret("hunter2")
	for _, got := range []string{s.String(), s.GoString(), func() string { b, _ := s.MarshalText(); return string(b) }()} {
		if strings.Contains(got, "hunter2") {
			t.Fatalf("secret shown: %s", got)
		}
	}
	if s.Reveal() != "hunter2" {
		t.Fatal("Reveal")
	}
}

func TestWindowsDefaults(t *testing.T) {
	env := map[string]string{}
	c := defaultFor("windows", func(k string) string { return env[k] })
	if !strings.HasPrefix(c.PBX.DataDir, `C:\ProgramData\`) || !strings.HasPrefix(c.Agent.StateDir, `C:\ProgramData\`) {
		t.Fatalf("paths: %+v", c)
	}
	if c.Bundle.Format != "zip" {
		t.Fatalf("format %q, want zip", c.Bundle.Format)
	}
	if c.PBX.DockerSocket != "" {
		t.Fatalf("docker socket %q on windows", c.PBX.DockerSocket)
	}
	if ps := c.validate("windows"); len(ps) != 0 {
		t.Fatalf("windows defaults do not validate: %v", ps)
	}
	if ps := defaultFor("linux", os.Getenv).validate("linux"); len(ps) != 0 {
		t.Fatalf("linux defaults do not validate: %v", ps)
	}
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, ps := parse("f.yaml", out, defaultFor("windows", func(string) string { return "" }), "windows")
	if len(ps) != 0 || !reflect.DeepEqual(back, c) {
		t.Fatalf("windows round trip: %v\n%s", ps, out)
	}
	// An empty format in the file means the platform default.
	c, ps = parse("f.yaml", []byte("bundle:\n  format: \"\"\n"), defaultFor("windows", func(string) string { return "" }), "windows")
	if len(ps) != 0 || c.Bundle.Format != "zip" {
		t.Fatalf("format %q, problems %v", c.Bundle.Format, ps)
	}
	if !isAbs("windows", `D:\x`) || !isAbs("windows", `\\srv\share`) || isAbs("windows", `/x`) || isAbs("linux", `C:\x`) {
		t.Fatal("isAbs")
	}
}

var commentedKey = regexp.MustCompile(`(?m)^(\s*)# ([a-z_]+:.*)$`)

func TestSampleConfig(t *testing.T) {
	const sample = "../packaging/pbxagent.yaml"
	if _, err := Load(sample, true); err != nil {
		t.Fatalf("sample config: %v", err)
	}
	data, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	// With every value uncommented the sample still loads, equals the
	// defaults and lists every key.
	uncommented := commentedKey.ReplaceAll(data, []byte("$1$2"))
	c, ps := parse(sample, uncommented, defaultFor("linux", os.Getenv), "linux")
	if len(ps) != 0 {
		t.Fatalf("uncommented sample: %v\n%s", &ValidationError{ps}, uncommented)
	}
	if !reflect.DeepEqual(c, defaultFor("linux", os.Getenv)) {
		t.Fatalf("uncommented sample differs from the defaults:\n got %+v\nwant %+v", c, defaultFor("linux", os.Getenv))
	}
	for _, key := range allKeys(reflect.TypeFor[Config](), "") {
		parts := strings.Split(key, ".")
		re := regexp.MustCompile(`(?m)^` + strings.Repeat("  ", len(parts)-1) + `(# )?` + regexp.QuoteMeta(parts[len(parts)-1]) + `:`)
		if !re.Match(data) {
			t.Errorf("sample lacks %s", key)
		}
	}
	if runtime.GOOS != "windows" {
		if _, err := Load(writeFile(t, string(uncommented)), true); err != nil {
			t.Fatal(err)
		}
	}
}
