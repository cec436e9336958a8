package config

import (
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Log levels, bundle formats and SMTP TLS modes the agent accepts.
var (
	LogLevels     = []string{"debug", "info", "warn", "error"}
	BundleFormats = []string{"tar.gz", "tar.zst", "zip"}
	SMTPTLSModes  = []string{"starttls", "tls", "none"}
)

// Validate checks the values' meaning and returns every problem found, with
// Key set and no position; Load adds the position from the file.
func (c *Config) Validate() []Problem { return c.validate(runtime.GOOS) }

func (c *Config) validate(goos string) []Problem {
	var ps []Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	example := "/var/lib/portsip/pbx"
	if goos == "windows" {
		example = `C:\ProgramData\PortSIP\pbx`
	}
	absPath := func(key, p string, required bool) {
		switch {
		case p == "" && required:
			add(key, "must be set to an absolute path such as %s", example)
		case p != "" && !isAbs(goos, p):
			add(key, "must be an absolute path such as %s, not %q", example, p)
		}
	}

	// pbx
	absPath("pbx.data_dir", c.PBX.DataDir, true)
	absPath("pbx.log_dir", c.PBX.LogDir, false)
	absPath("pbx.install_dir", c.PBX.InstallDir, false)
	ps = append(ps, c.pbxDirProblems(goos)...)
	ports := func(key string, list []int) {
		for i, p := range list {
			if p < 1 || p > 65535 {
				add(fmt.Sprintf("%s[%d]", key, i), "port %d is out of range; use 1 to 65535", p)
			}
		}
	}
	ports("pbx.sip_ports", c.PBX.SIPPorts)
	ports("pbx.web_ports", c.PBX.WebPorts)
	if _, _, err := ParsePortRange(c.PBX.RTPRange); err != nil {
		add("pbx.rtp_range", "%v", err)
	}

	// agent
	absPath("agent.state_dir", c.Agent.StateDir, true)
	if !slices.Contains(LogLevels, c.Agent.LogLevel) {
		add("agent.log_level", "must be one of %s, not %q", strings.Join(LogLevels, ", "), c.Agent.LogLevel)
	}

	// bundle
	absPath("bundle.output_dir", c.Bundle.OutputDir, false)
	if c.Bundle.Format != "" && !slices.Contains(BundleFormats, c.Bundle.Format) {
		add("bundle.format", "must be one of %s, not %q", strings.Join(BundleFormats, ", "), c.Bundle.Format)
	}
	if c.Bundle.MaxSize <= 0 {
		add("bundle.max_size", "must be greater than 0; use a size such as 500MiB")
	}
	switch {
	case c.Bundle.MaxFileSize <= 0:
		add("bundle.max_file_size", "must be greater than 0; use a size such as 200MiB")
	case c.Bundle.MaxSize > 0 && c.Bundle.MaxFileSize > c.Bundle.MaxSize:
		add("bundle.max_file_size", "%s is larger than bundle.max_size (%s); lower it or raise bundle.max_size", c.Bundle.MaxFileSize, c.Bundle.MaxSize)
	}
	if rp := c.Bundle.ReservePercent; math.IsNaN(rp) || rp < 0 || rp > 50 {
		add("bundle.reserve_percent", "must be between 0 and 50 (percent of the output filesystem kept free), not %v", rp)
	}
	if c.Bundle.ReserveMin < 0 {
		add("bundle.reserve_min", "must not be negative; use a size such as 256MiB")
	}
	if c.Bundle.Since < 0 {
		add("bundle.since", "must not be negative; use a duration such as 24h or 7d")
	}

	// signing
	absPath("signing.secret_key", c.Signing.SecretKey, false)
	absPath("signing.public_key", c.Signing.PublicKey, false)

	// api
	if msg := checkAPIURL(c.API.URL); msg != "" {
		add("api.url", "%s", msg)
	}

	// smtp
	if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
		add("smtp.port", "port %d is out of range; use 1 to 65535 (usually 587 for starttls, 465 for tls)", c.SMTP.Port)
	}
	switch {
	case !slices.Contains(SMTPTLSModes, c.SMTP.TLS):
		add("smtp.tls", "must be one of %s, not %q", strings.Join(SMTPTLSModes, ", "), c.SMTP.TLS)
	case c.SMTP.TLS == "none" && !c.SMTP.AllowPlain:
		add("smtp.tls", `"none" sends mail and the password unencrypted; use starttls or tls, or set smtp.allow_plain: true if the server is local`)
	}
	if c.SMTP.From != "" {
		if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
			add("smtp.from", "%q is not an email address; use a form such as pbxagent@example.com", c.SMTP.From)
		}
	}
	for i, to := range c.SMTP.To {
		if !isBareAddress(to) {
			add(fmt.Sprintf("smtp.to[%d]", i), "%q is not an email address; use a form such as ops@example.com", to)
		}
	}
	if !slices.Contains(SMTPAuthModes, c.SMTP.Auth) {
		add("smtp.auth", "must be one of %s, not %q", strings.Join(SMTPAuthModes, ", "), c.SMTP.Auth)
	}
	absPath("smtp.ca_file", c.SMTP.CAFile, false)
	if c.SMTP.Timeout <= 0 {
		add("smtp.timeout", "must be longer than 0; use a duration such as 30s")
	}
	if c.SMTP.Host != "" && len(c.SMTP.To) == 0 {
		add("smtp.to", "smtp.host is set but no recipient is; add at least one address")
	}
	if c.SMTP.Host != "" && c.SMTP.From == "" {
		add("smtp.from", "smtp.host is set but the sender is not; use a form such as pbxagent@example.com")
	}
	if fb := c.SMTP.Fallback; fb.Host != "" {
		if fb.Port < 1 || fb.Port > 65535 {
			add("smtp.fallback.port", "port %d is out of range; use 1 to 65535", fb.Port)
		}
		switch {
		case !slices.Contains(SMTPTLSModes, fb.TLS):
			add("smtp.fallback.tls", "must be one of %s, not %q", strings.Join(SMTPTLSModes, ", "), fb.TLS)
		case fb.TLS == "none" && !fb.AllowPlain:
			add("smtp.fallback.tls", `"none" sends mail and the password unencrypted; use starttls or tls, or set smtp.fallback.allow_plain: true`)
		}
		if fb.Auth != "" && !slices.Contains(SMTPAuthModes, fb.Auth) {
			add("smtp.fallback.auth", "must be one of %s, not %q", strings.Join(SMTPAuthModes, ", "), fb.Auth)
		}
	}

	// checks
	ck := c.Checks
	if ck.Interval.D() < 10*time.Second {
		add("checks.interval", "must be at least 10s, not %s", ck.Interval)
	}
	d := ck.Disk
	if d.WarningPercent <= 0 || d.WarningPercent > 100 {
		add("checks.disk.warning_percent", "must be between 0 and 100, not %v", d.WarningPercent)
	}
	if d.CriticalPercent <= 0 || d.CriticalPercent > 100 {
		add("checks.disk.critical_percent", "must be between 0 and 100, not %v", d.CriticalPercent)
	} else if d.CriticalPercent < d.WarningPercent {
		add("checks.disk.critical_percent", "%v is below warning_percent (%v); critical must be the higher level", d.CriticalPercent, d.WarningPercent)
	}
	if d.ClearMargin < 0 || d.ClearMargin >= d.WarningPercent {
		add("checks.disk.clear_margin", "must be from 0 to below warning_percent, not %v", d.ClearMargin)
	}
	if d.MinFree < 0 {
		add("checks.disk.min_free", "must not be negative; use a size such as 1GiB")
	}
	if d.ForecastWindow.D() < 10*time.Minute {
		add("checks.disk.forecast_window", "must be at least 10m to fit a growth rate, not %s", d.ForecastWindow)
	}
	if d.ForecastHorizon < 0 {
		add("checks.disk.forecast_horizon", "must not be negative; 0 disables the forecast")
	}
	for i, p := range d.Paths {
		absPath(fmt.Sprintf("checks.disk.paths[%d]", i), p, true)
	}
	l := ck.Logs
	if l.MaxActiveSize <= 0 {
		add("checks.logs.max_active_size", "must be larger than 0; use a size such as 1GiB")
	}
	if l.StaleAfter.D() < time.Minute {
		add("checks.logs.stale_after", "must be at least 1m, not %s", l.StaleAfter)
	}
	if l.PruneMaxAge.D() < 24*time.Hour {
		add("checks.logs.prune_max_age", "must be at least 1d so that recent logs are never pruned, not %s", l.PruneMaxAge)
	}
	if l.PruneMaxTotal <= 0 {
		add("checks.logs.prune_max_total", "must be larger than 0; use a size such as 10GiB")
	}
	if ck.Gateway.Timeout.D() <= 0 {
		add("checks.gateway.timeout", "must be longer than 0; use a duration such as 10s")
	}
	for i, n := range ck.BlockedIPs.AdminNetworks {
		if _, err := ParseNetwork(n); err != nil {
			add(fmt.Sprintf("checks.blocked_ips.admin_networks[%d]", i), "%v", err)
		}
	}
	validateHealth(ck, add)
	validateAnalyze(c.Analyze, add)

	// alerts
	a := c.Alerts
	if a.Consecutive < 1 || a.Consecutive > 100 {
		add("alerts.consecutive", "must be from 1 to 100, not %d", a.Consecutive)
	}
	if a.Reminder < 0 {
		add("alerts.reminder", "must not be negative; 0 disables reminders")
	} else if a.Reminder > 0 && a.Reminder.D() < 10*time.Minute {
		add("alerts.reminder", "must be 0 (off) or at least 10m, not %s", a.Reminder)
	}
	if a.Digest < 0 || a.Digest.D() > 10*time.Minute {
		add("alerts.digest", "must be from 0 to 10m, not %s", a.Digest)
	}
	if a.QueueMax < 1 || a.QueueMax > 100000 {
		add("alerts.queue_max", "must be from 1 to 100000, not %d", a.QueueMax)
	}
	if a.RetryAfter.D() < time.Second || a.RetryAfter.D() > 30*time.Minute {
		add("alerts.retry_after", "must be from 1s to 30m, not %s", a.RetryAfter)
	}
	httpURL := func(key, s string) {
		if s == "" {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(key, "must be an http:// or https:// URL such as http://127.0.0.1:9093, not %q", s)
		}
	}
	httpURL("alerts.alertmanager.url", a.Alertmanager.URL)
	httpURL("alerts.webhook.url", a.Webhook.URL)
	if a.Alertmanager.Timeout < 0 || a.Webhook.Timeout < 0 {
		add("alerts", "receiver timeouts must not be negative")
	}

	// metrics
	if m := c.Metrics; m.Enabled {
		if _, _, err := net.SplitHostPort(m.Listen); err != nil {
			add("metrics.listen", "must be host:port such as %s, not %q", DefaultMetricsListen, m.Listen)
		}
		absPath("metrics.web_config", m.WebConfig, false)
	}
	c.Delivery.validate(add)
	c.validateRecorder(goos, add)
	return ps
}

// SMTPAuthModes are the accepted smtp.auth values.
var SMTPAuthModes = []string{"auto", "plain", "login"}

// ParseNetwork parses an address or CIDR range such as 203.0.113.7 or
// 198.51.100.0/24.
func ParseNetwork(s string) (netip.Prefix, error) {
	t := strings.TrimSpace(s)
	if strings.Contains(t, "/") {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network; use an address or a CIDR range such as 198.51.100.0/24", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(t)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address; use an address or a CIDR range such as 198.51.100.0/24", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// ParsePortRange parses a port range "LOW-HIGH" such as "45000-65000".
func ParsePortRange(s string) (low, high int, err error) {
	bad := fmt.Errorf("%q is not a port range; use LOW-HIGH such as 45000-65000", s)
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, bad
	}
	low, err1 := strconv.Atoi(strings.TrimSpace(a))
	high, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return 0, 0, bad
	}
	if low < 1 || low > 65535 || high < 1 || high > 65535 {
		return 0, 0, fmt.Errorf("%q: ports must be between 1 and 65535", s)
	}
	if low > high {
		return 0, 0, fmt.Errorf("%q: the low port is above the high port; write it as %d-%d", s, high, low)
	}
	return low, high, nil
}

// checkAPIURL returns what is wrong with the API URL, or "". It never echoes
// the URL, which may hold a password.
func checkAPIURL(s string) string {
	const example = "use a URL such as https://127.0.0.1:8887/api"
	if s == "" {
		return "must be set; " + example
	}
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL; " + example
	}
	if u.User != nil {
		return "must not contain a user name or password; remove them from the URL and set api.username and api.password instead"
	}
	if sc := strings.ToLower(u.Scheme); sc != "http" && sc != "https" {
		return "must start with https:// or http://; " + example
	}
	if u.Host == "" {
		return "has no host; " + example
	}
	return ""
}

// isBareAddress reports whether s is a plain address such as ops@example.com.
func isBareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// isAbs reports whether p is an absolute path on goos, independent of the OS
// the agent was built for.
func isAbs(goos, p string) bool {
	if goos != "windows" {
		return strings.HasPrefix(p, "/")
	}
	if strings.HasPrefix(p, `\\`) || strings.HasPrefix(p, "//") {
		return true // UNC path
	}
	return len(p) >= 3 && isLetter(p[0]) && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
