package config

import "time"

// TrunksCheck watches the SIP trunks (GET /providers and their status).
type TrunksCheck struct {
	Enabled bool `yaml:"enabled"`
	// MaxStatusPerRound bounds the /providers/{id}/status requests of one
	// round; a PBX with more trunks has them checked in turn.
	MaxStatusPerRound int `yaml:"max_status_per_round"`
}

// LicenceCheck watches GET /admin/status: calls and users against the
// licence, and the maintenance expiry.
type LicenceCheck struct {
	Enabled bool `yaml:"enabled"`
	// WarningRatio and CriticalRatio of max_concurrent_calls or
	// licensed_users in use (0.8 = 80%).
	WarningRatio  float64 `yaml:"warning_ratio"`
	CriticalRatio float64 `yaml:"critical_ratio"`
	// ExpiryWarning and ExpiryCritical before maintenance_expires_at.
	ExpiryWarning  Duration `yaml:"expiry_warning"`
	ExpiryCritical Duration `yaml:"expiry_critical"`
}

// CertificatesCheck reads the certificates the PBX serves, by a TLS
// handshake to local ports.
type CertificatesCheck struct {
	Enabled bool `yaml:"enabled"`
	// Host is where the handshakes go (the PBX itself).
	Host string `yaml:"host"`
	// Ports are the TLS ports: web portal and API 8887, SIP TLS 5061, WSS 5065.
	Ports []int `yaml:"ports"`
	// ServerName is the name sent as SNI and checked against the
	// certificate: the PBX's web or SIP domain. Empty sends none and skips
	// the name check.
	ServerName string `yaml:"server_name"`
	// Warning and Critical before expiry.
	Warning  Duration `yaml:"warning"`
	Critical Duration `yaml:"critical"`
}

// MediaCheck watches the media servers and the SIP transports.
type MediaCheck struct {
	Enabled bool `yaml:"enabled"`
	// OverloadPercent of CPU, memory or max_concurrency makes a media
	// server overloaded.
	OverloadPercent float64 `yaml:"overload_percent"`
}

// CallFailuresCheck reads new CDRs and alerts on a burst of failed calls
// with one status code on one trunk or tenant.
type CallFailuresCheck struct {
	Enabled bool `yaml:"enabled"`
	// Window is the time the failures are counted over.
	Window Duration `yaml:"window"`
	// MinFailures failed calls with one code on one trunk within Window
	// make a burst...
	MinFailures int `yaml:"min_failures"`
	// ...or MinPercent of the calls of that trunk, once it had MinCalls.
	MinPercent float64 `yaml:"min_percent"`
	MinCalls   int     `yaml:"min_calls"`
	// MaxPagesPerRound bounds the /cdrs pages read in one round.
	MaxPagesPerRound int `yaml:"max_pages_per_round"`
	// UnmaskedDigits of example numbers shown in mails.
	UnmaskedDigits int `yaml:"unmasked_digits"`
}

const day = 24 * time.Hour

// Defaults of the health checks.
var (
	defaultTrunks  = TrunksCheck{Enabled: true, MaxStatusPerRound: 300}
	defaultLicence = LicenceCheck{Enabled: true, WarningRatio: 0.8, CriticalRatio: 0.95,
		ExpiryWarning: Duration(30 * day), ExpiryCritical: Duration(7 * day)}
	defaultMedia        = MediaCheck{Enabled: true, OverloadPercent: 90}
	defaultCallFailures = CallFailuresCheck{Enabled: true, Window: Duration(10 * time.Minute), MinFailures: 10,
		MinPercent: 50, MinCalls: 20, MaxPagesPerRound: 20, UnmaskedDigits: 4}
)

func defaultCertificates() CertificatesCheck {
	return CertificatesCheck{Enabled: true, Host: "127.0.0.1", Ports: []int{8887, 5061, 5065},
		Warning: Duration(21 * day), Critical: Duration(7 * day)}
}

// validateHealth checks the health checks' settings.
func validateHealth(h Checks, add func(key, format string, args ...any)) {
	l := h.Licence
	if l.WarningRatio <= 0 || l.WarningRatio > 1 || l.CriticalRatio < l.WarningRatio || l.CriticalRatio > 1 {
		add("checks.licence.warning_ratio", "warning_ratio and critical_ratio must satisfy 0 < warning <= critical <= 1 (e.g. 0.8 and 0.95), not %v and %v", l.WarningRatio, l.CriticalRatio)
	}
	if l.ExpiryCritical < 0 || l.ExpiryWarning < l.ExpiryCritical {
		add("checks.licence.expiry_warning", "must be at least expiry_critical (%s), not %s", l.ExpiryCritical, l.ExpiryWarning)
	}
	c := h.Certificates
	if c.Critical < 0 || c.Warning < c.Critical {
		add("checks.certificates.warning", "must be at least checks.certificates.critical (%s), not %s", c.Critical, c.Warning)
	}
	for _, p := range c.Ports {
		if p < 1 || p > 65535 {
			add("checks.certificates.ports", "%d is not a TCP port (1-65535)", p)
		}
	}
	if h.Trunks.MaxStatusPerRound < 1 {
		add("checks.trunks.max_status_per_round", "must be at least 1, not %d", h.Trunks.MaxStatusPerRound)
	}
	if p := h.Media.OverloadPercent; p <= 0 || p > 100 {
		add("checks.media.overload_percent", "must be from 1 to 100, not %v", p)
	}
	f := h.CallFailures
	if f.Window.D() < time.Minute || f.Window.D() > 24*time.Hour {
		add("checks.call_failures.window", "must be from 1m to 1d, not %s", f.Window)
	}
	if f.MinFailures < 1 {
		add("checks.call_failures.min_failures", "must be at least 1, not %d", f.MinFailures)
	}
	if f.MinPercent <= 0 || f.MinPercent > 100 {
		add("checks.call_failures.min_percent", "must be from 1 to 100, not %v", f.MinPercent)
	}
	if f.MaxPagesPerRound < 1 || f.MaxPagesPerRound > 1000 {
		add("checks.call_failures.max_pages_per_round", "must be from 1 to 1000, not %d", f.MaxPagesPerRound)
	}
	if f.UnmaskedDigits < 0 || f.UnmaskedDigits > 20 {
		add("checks.call_failures.unmasked_digits", "must be from 0 to 20, not %d", f.UnmaskedDigits)
	}
}
