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

// sections are the checks of each part of the configuration, in the order
// their problems are reported.
var sections = []func(c *Config, v *validator){
	checkPBX, checkAgent, checkBundle, checkSigning, checkAPI, checkSMTP,
	checkSMTPFallback, checkIntervals, checkDisk, checkLogs, checkGatewayAndBlocks,
	checkHealthAndAnalyze, checkAlerts, checkReceivers, checkMetrics,
	checkDeliveryAndRecorder,
}

func (c *Config) validate(goos string) []Problem {
	v := &validator{goos: goos, example: "/var/lib/portsip/pbx"}
	if goos == "windows" {
		v.example = `C:\ProgramData\PortSIP\pbx`
	}
	for _, check := range sections {
		check(c, v)
	}
	return v.ps
}

// validator collects problems and checks the value shapes many settings
// share, each with the same actionable message.
type validator struct {
	goos    string
	example string // an absolute path on goos
	ps      []Problem
}

func (v *validator) add(key, format string, args ...any) {
	v.ps = append(v.ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) absPath(key, p string, required bool) {
	switch {
	case p == "" && required:
		v.add(key, "must be set to an absolute path such as %s", v.example)
	case p != "" && !isAbs(v.goos, p):
		v.add(key, "must be an absolute path such as %s, not %q", v.example, p)
	}
}

func (v *validator) ports(key string, list []int) {
	for i, p := range list {
		v.port(fmt.Sprintf("%s[%d]", key, i), p, "")
	}
}

// port checks one port number; hint follows the range in the message.
func (v *validator) port(key string, p int, hint string) {
	if p < 1 || p > 65535 {
		v.add(key, "port %d is out of range; use 1 to 65535"+hint, p)
	}
}

func (v *validator) oneOf(key, value string, allowed []string) {
	if !slices.Contains(allowed, value) {
		v.add(key, "must be one of %s, not %q", strings.Join(allowed, ", "), value)
	}
}

// tlsMode checks an SMTP TLS mode; plainHint tells how to allow "none".
func (v *validator) tlsMode(key, mode string, allowPlain bool, plainHint string) {
	switch {
	case !slices.Contains(SMTPTLSModes, mode):
		v.oneOf(key, mode, SMTPTLSModes)
	case mode == "none" && !allowPlain:
		v.add(key, `"none" sends mail and the password unencrypted; use starttls or tls, or set %s`, plainHint)
	}
}

func (v *validator) httpURL(key, s string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "must be an http:// or https:// URL such as http://127.0.0.1:9093, not %q", s)
	}
}

func checkPBX(c *Config, v *validator) {
	v.absPath("pbx.data_dir", c.PBX.DataDir, true)
	v.absPath("pbx.log_dir", c.PBX.LogDir, false)
	v.absPath("pbx.install_dir", c.PBX.InstallDir, false)
	v.ps = append(v.ps, c.pbxDirProblems(v.goos)...)
	v.ports("pbx.sip_ports", c.PBX.SIPPorts)
	v.ports("pbx.web_ports", c.PBX.WebPorts)
	if _, _, err := ParsePortRange(c.PBX.RTPRange); err != nil {
		v.add("pbx.rtp_range", "%v", err)
	}
}

func checkAgent(c *Config, v *validator) {
	v.absPath("agent.state_dir", c.Agent.StateDir, true)
	v.oneOf("agent.log_level", c.Agent.LogLevel, LogLevels)
}

func checkBundle(c *Config, v *validator) {
	b := c.Bundle
	v.absPath("bundle.output_dir", b.OutputDir, false)
	if b.Format != "" {
		v.oneOf("bundle.format", b.Format, BundleFormats)
	}
	if b.MaxSize <= 0 {
		v.add("bundle.max_size", "must be greater than 0; use a size such as 500MiB")
	}
	switch {
	case b.MaxFileSize <= 0:
		v.add("bundle.max_file_size", "must be greater than 0; use a size such as 200MiB")
	case b.MaxSize > 0 && b.MaxFileSize > b.MaxSize:
		v.add("bundle.max_file_size", "%s is larger than bundle.max_size (%s); lower it or raise bundle.max_size", b.MaxFileSize, b.MaxSize)
	}
	if rp := b.ReservePercent; math.IsNaN(rp) || rp < 0 || rp > 50 {
		v.add("bundle.reserve_percent", "must be between 0 and 50 (percent of the output filesystem kept free), not %v", rp)
	}
	if b.ReserveMin < 0 {
		v.add("bundle.reserve_min", "must not be negative; use a size such as 256MiB")
	}
	if b.Since < 0 {
		v.add("bundle.since", "must not be negative; use a duration such as 24h or 7d")
	}
}

func checkSigning(c *Config, v *validator) {
	v.absPath("signing.secret_key", c.Signing.SecretKey, false)
	v.absPath("signing.public_key", c.Signing.PublicKey, false)
}

func checkAPI(c *Config, v *validator) {
	if msg := checkAPIURL(c.API.URL); msg != "" {
		v.add("api.url", "%s", msg)
	}
}

func checkSMTP(c *Config, v *validator) {
	s := c.SMTP
	v.port("smtp.port", s.Port, " (usually 587 for starttls, 465 for tls)")
	v.tlsMode("smtp.tls", s.TLS, s.AllowPlain, "smtp.allow_plain: true if the server is local")
	if s.From != "" {
		if _, err := mail.ParseAddress(s.From); err != nil {
			v.add("smtp.from", "%q is not an email address; use a form such as pbxagent@example.com", s.From)
		}
	}
	for i, to := range s.To {
		if !isBareAddress(to) {
			v.add(fmt.Sprintf("smtp.to[%d]", i), "%q is not an email address; use a form such as ops@example.com", to)
		}
	}
	v.oneOf("smtp.auth", s.Auth, SMTPAuthModes)
	v.absPath("smtp.ca_file", s.CAFile, false)
	if s.Timeout <= 0 {
		v.add("smtp.timeout", "must be longer than 0; use a duration such as 30s")
	}
	if s.Host != "" && len(s.To) == 0 {
		v.add("smtp.to", "smtp.host is set but no recipient is; add at least one address")
	}
	if s.Host != "" && s.From == "" {
		v.add("smtp.from", "smtp.host is set but the sender is not; use a form such as pbxagent@example.com")
	}
}

func checkSMTPFallback(c *Config, v *validator) {
	fb := c.SMTP.Fallback
	if fb.Host == "" {
		return
	}
	v.port("smtp.fallback.port", fb.Port, "")
	v.tlsMode("smtp.fallback.tls", fb.TLS, fb.AllowPlain, "smtp.fallback.allow_plain: true")
	if fb.Auth != "" {
		v.oneOf("smtp.fallback.auth", fb.Auth, SMTPAuthModes)
	}
}

func checkIntervals(c *Config, v *validator) {
	if iv := c.Checks.Interval; iv.D() < 10*time.Second {
		v.add("checks.interval", "must be at least 10s, not %s", iv)
	}
}

func checkDisk(c *Config, v *validator) {
	d := c.Checks.Disk
	if d.WarningPercent <= 0 || d.WarningPercent > 100 {
		v.add("checks.disk.warning_percent", "must be between 0 and 100, not %v", d.WarningPercent)
	}
	if d.CriticalPercent <= 0 || d.CriticalPercent > 100 {
		v.add("checks.disk.critical_percent", "must be between 0 and 100, not %v", d.CriticalPercent)
	} else if d.CriticalPercent < d.WarningPercent {
		v.add("checks.disk.critical_percent", "%v is below warning_percent (%v); critical must be the higher level", d.CriticalPercent, d.WarningPercent)
	}
	if d.ClearMargin < 0 || d.ClearMargin >= d.WarningPercent {
		v.add("checks.disk.clear_margin", "must be from 0 to below warning_percent, not %v", d.ClearMargin)
	}
	if d.MinFree < 0 {
		v.add("checks.disk.min_free", "must not be negative; use a size such as 1GiB")
	}
	if d.ForecastWindow.D() < 10*time.Minute {
		v.add("checks.disk.forecast_window", "must be at least 10m to fit a growth rate, not %s", d.ForecastWindow)
	}
	if d.ForecastHorizon < 0 {
		v.add("checks.disk.forecast_horizon", "must not be negative; 0 disables the forecast")
	}
	for i, p := range d.Paths {
		v.absPath(fmt.Sprintf("checks.disk.paths[%d]", i), p, true)
	}
}

func checkLogs(c *Config, v *validator) {
	l := c.Checks.Logs
	if l.MaxActiveSize <= 0 {
		v.add("checks.logs.max_active_size", "must be larger than 0; use a size such as 1GiB")
	}
	if l.StaleAfter.D() < time.Minute {
		v.add("checks.logs.stale_after", "must be at least 1m, not %s", l.StaleAfter)
	}
	if l.PruneMaxAge.D() < 24*time.Hour {
		v.add("checks.logs.prune_max_age", "must be at least 1d so that recent logs are never pruned, not %s", l.PruneMaxAge)
	}
	if l.PruneMaxTotal <= 0 {
		v.add("checks.logs.prune_max_total", "must be larger than 0; use a size such as 10GiB")
	}
}

func checkGatewayAndBlocks(c *Config, v *validator) {
	if c.Checks.Gateway.Timeout.D() <= 0 {
		v.add("checks.gateway.timeout", "must be longer than 0; use a duration such as 10s")
	}
	for i, n := range c.Checks.BlockedIPs.AdminNetworks {
		if _, err := ParseNetwork(n); err != nil {
			v.add(fmt.Sprintf("checks.blocked_ips.admin_networks[%d]", i), "%v", err)
		}
	}
}

func checkHealthAndAnalyze(c *Config, v *validator) {
	validateHealth(c.Checks, v.add)
	validateAnalyze(c.Analyze, v.add)
}

func checkAlerts(c *Config, v *validator) {
	a := c.Alerts
	if a.Consecutive < 1 || a.Consecutive > 100 {
		v.add("alerts.consecutive", "must be from 1 to 100, not %d", a.Consecutive)
	}
	if a.Reminder < 0 {
		v.add("alerts.reminder", "must not be negative; 0 disables reminders")
	} else if a.Reminder > 0 && a.Reminder.D() < 10*time.Minute {
		v.add("alerts.reminder", "must be 0 (off) or at least 10m, not %s", a.Reminder)
	}
	if a.Digest < 0 || a.Digest.D() > 10*time.Minute {
		v.add("alerts.digest", "must be from 0 to 10m, not %s", a.Digest)
	}
	if a.QueueMax < 1 || a.QueueMax > 100000 {
		v.add("alerts.queue_max", "must be from 1 to 100000, not %d", a.QueueMax)
	}
	if a.RetryAfter.D() < time.Second || a.RetryAfter.D() > 30*time.Minute {
		v.add("alerts.retry_after", "must be from 1s to 30m, not %s", a.RetryAfter)
	}
}

func checkReceivers(c *Config, v *validator) {
	a := c.Alerts
	v.httpURL("alerts.alertmanager.url", a.Alertmanager.URL)
	v.httpURL("alerts.webhook.url", a.Webhook.URL)
	if a.Alertmanager.Timeout < 0 || a.Webhook.Timeout < 0 {
		v.add("alerts", "receiver timeouts must not be negative")
	}
}

func checkMetrics(c *Config, v *validator) {
	m := c.Metrics
	if !m.Enabled {
		return
	}
	if _, _, err := net.SplitHostPort(m.Listen); err != nil {
		v.add("metrics.listen", "must be host:port such as %s, not %q", DefaultMetricsListen, m.Listen)
	}
	v.absPath("metrics.web_config", m.WebConfig, false)
}

func checkDeliveryAndRecorder(c *Config, v *validator) {
	c.Delivery.validate(v.add)
	c.validateRecorder(v.goos, v.add)
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
