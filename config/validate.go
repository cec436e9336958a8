package config

import (
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
	return ps
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
