// Package config defines the agent's configuration: one YAML file whose every
// setting has a default that fits a stock PortSIP install, so the agent runs
// with no file at all. It has its own package because the CLI, the service and
// every collector read it, and validation must be the same for all of them.
package config

import (
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/pbxagent/pbxagent/platform/linux"
	"github.com/pbxagent/pbxagent/platform/windows"
	"github.com/pbxagent/pbxagent/redact"
)

// Config is the whole configuration file.
type Config struct {
	PBX     PBX     `yaml:"pbx"`
	Agent   Agent   `yaml:"agent"`
	Bundle  Bundle  `yaml:"bundle"`
	Signing Signing `yaml:"signing"`
	API     API     `yaml:"api"`
	SMTP    SMTP    `yaml:"smtp"`
	Checks  Checks  `yaml:"checks"`
	Alerts  Alerts  `yaml:"alerts"`
	Metrics Metrics `yaml:"metrics"`

	Delivery Delivery `yaml:"delivery"`
	// Recorder is the flight recorder of `pbxagent run`.
	Recorder Recorder `yaml:"recorder"`
	Analyze  Analyze  `yaml:"analyze"`
}

// Metrics configures the Prometheus /metrics endpoint of `pbxagent run`.
type Metrics struct {
	// Enabled turns the endpoint on; it is off by default.
	Enabled bool `yaml:"enabled"`
	// Listen is the address to listen on; the default binds to loopback.
	Listen string `yaml:"listen"`
	// WebConfig is an optional Prometheus exporter-toolkit web
	// configuration file (TLS, basic auth).
	WebConfig string `yaml:"web_config"`
}

// DefaultMetricsListen is the default metrics address: loopback only.
const DefaultMetricsListen = "127.0.0.1:9798"

// Alertmanager sends alert events to a Prometheus Alertmanager.
type Alertmanager struct {
	// URL is the Alertmanager base URL, e.g. http://127.0.0.1:9093; empty
	// disables this receiver.
	URL string `yaml:"url"`
	// Username and Password are optional HTTP basic auth credentials.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	// Timeout bounds one delivery attempt.
	Timeout Duration `yaml:"timeout"`
}

// Webhook sends alert events as signed JSON to any HTTP endpoint.
type Webhook struct {
	// URL receives POSTed events; empty disables this receiver.
	URL string `yaml:"url"`
	// Secret keys the HMAC-SHA256 signature of each body
	// (X-Pbxagent-Signature: sha256=<hex>); empty sends unsigned bodies.
	Secret Secret `yaml:"secret"`
	// Timeout bounds one delivery attempt.
	Timeout Duration `yaml:"timeout"`
}

// PBX locates the PortSIP installation.
type PBX struct {
	// DataDir is PortSIP's data folder (system.ini, VERSION, log/).
	DataDir string `yaml:"data_dir"`
	// LogDir is the PBX log folder; empty means <data_dir>/log.
	LogDir string `yaml:"log_dir"`
	// InstallDir holds pbx/.configure_pbx on Linux.
	InstallDir string `yaml:"install_dir"`
	// DockerSocket is the Docker Engine API socket ("" disables container checks).
	DockerSocket string `yaml:"docker_socket"`
	// SIPPorts are the PBX's SIP listening ports (UDP 5060, TLS 5061, TCP 5063,
	// WSS 5065, SBC 5066/5067).
	SIPPorts []int `yaml:"sip_ports"`
	// WebPorts are the web portal / REST API / provisioning ports.
	WebPorts []int `yaml:"web_ports"`
	// RTPRange is the PBX's RTP port range, e.g. "45000-65000".
	RTPRange string `yaml:"rtp_range"`
	// RecordingsDir holds call recordings; empty means <data_dir>/recordings
	// when that folder exists.
	RecordingsDir string `yaml:"recordings_dir"`
}

// Agent holds the agent's own settings.
type Agent struct {
	// StateDir holds keys, the alert queue and bundles.
	StateDir string `yaml:"state_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
}

// Bundle holds the defaults of `pbxagent bundle`.
type Bundle struct {
	// OutputDir is where archives are written; empty means <state_dir>/bundles.
	OutputDir string `yaml:"output_dir"`
	// Format is tar.gz, tar.zst or zip; empty means the platform default.
	Format string `yaml:"format"`
	// Since selects archived *.gz logs modified within this window.
	Since Duration `yaml:"since"`
	// MaxSize caps the total bytes of files put into the bundle.
	MaxSize ByteSize `yaml:"max_size"`
	// MaxFileSize caps one file; logs keep their newest bytes.
	MaxFileSize ByteSize `yaml:"max_file_size"`
	// ReservePercent of the output filesystem is kept free.
	ReservePercent float64 `yaml:"reserve_percent"`
	// ReserveMin bytes are kept free on the output filesystem at least.
	ReserveMin ByteSize `yaml:"reserve_min"`
}

// Signing locates the host's minisign key pair.
type Signing struct {
	// SecretKey is the Ed25519 secret key file; empty means <state_dir>/pbxagent.key.
	SecretKey string `yaml:"secret_key"`
	// PublicKey is the public key file; empty means <state_dir>/pbxagent.pub.
	PublicKey string `yaml:"public_key"`
}

// API is the PortSIP REST API the agent talks to.
type API struct {
	URL                string `yaml:"url"`
	Username           string `yaml:"username"`
	Password           Secret `yaml:"password"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SMTP is the mail server alerts go through.
type SMTP struct {
	Host     string   `yaml:"host"`
	Port     int      `yaml:"port"`
	Username string   `yaml:"username"`
	Password Secret   `yaml:"password"`
	From     string   `yaml:"from"`
	To       []string `yaml:"to"`
	// TLS is "starttls", "tls" (implicit) or "none" (only when AllowPlain).
	TLS        string `yaml:"tls"`
	AllowPlain bool   `yaml:"allow_plain"`
	// Auth is "auto", "plain" or "login"; used when Username is set.
	Auth string `yaml:"auth"`
	// Timeout bounds one delivery attempt.
	Timeout Duration `yaml:"timeout"`
	// CAFile is a PEM file of certificate authorities trusted in addition
	// to the system's, for a mail server with a private certificate.
	CAFile string `yaml:"ca_file"`
	// Fallback is tried when the main server cannot take the mail.
	Fallback SMTPServer `yaml:"fallback"`
}

// SMTPServer is a second mail server; empty Host means none.
type SMTPServer struct {
	Host       string `yaml:"host"`
	Port       int    `yaml:"port"`
	Username   string `yaml:"username"`
	Password   Secret `yaml:"password"`
	TLS        string `yaml:"tls"`
	AllowPlain bool   `yaml:"allow_plain"`
	Auth       string `yaml:"auth"`
}

// Checks configures the watchers of `pbxagent run` and `pbxagent status`.
type Checks struct {
	// Interval is the time between two rounds of checks.
	Interval   Duration        `yaml:"interval"`
	Disk       DiskCheck       `yaml:"disk"`
	Logs       LogsCheck       `yaml:"logs"`
	Gateway    GatewayCheck    `yaml:"gateway"`
	BlockedIPs BlockedIPsCheck `yaml:"blocked_ips"`
	Services   ServicesCheck   `yaml:"services"`
	// The PBX's own health (config/health.go).
	Trunks       TrunksCheck       `yaml:"trunks"`
	Licence      LicenceCheck      `yaml:"licence"`
	Certificates CertificatesCheck `yaml:"certificates"`
	Media        MediaCheck        `yaml:"media"`
	CallFailures CallFailuresCheck `yaml:"call_failures"`
}

// DiskCheck watches space and inodes of the filesystems holding the PBX
// data, logs and recordings, plus Paths.
type DiskCheck struct {
	// Paths are more folders whose filesystems are watched.
	Paths []string `yaml:"paths"`
	// WarningPercent and CriticalPercent of space or inodes used.
	WarningPercent  float64 `yaml:"warning_percent"`
	CriticalPercent float64 `yaml:"critical_percent"`
	// ClearMargin is how many points below a trigger level the use must
	// fall before the state clears (hysteresis).
	ClearMargin float64 `yaml:"clear_margin"`
	// MinFree is an absolute floor: less free space is critical.
	MinFree ByteSize `yaml:"min_free"`
	// ForecastWindow is the history the growth rate is fitted over.
	ForecastWindow Duration `yaml:"forecast_window"`
	// ForecastHorizon warns when the disk is forecast to fill within it.
	ForecastHorizon Duration `yaml:"forecast_horizon"`
}

// LogsCheck watches the PBX log folder and, when Prune is set, removes old
// archived logs.
type LogsCheck struct {
	// MaxActiveSize: an active log larger than this means rotation is stuck.
	MaxActiveSize ByteSize `yaml:"max_active_size"`
	// StaleAfter: callmanager.log not written for this long means a dead
	// callmanager.
	StaleAfter Duration `yaml:"stale_after"`
	// Prune enables deleting archived *.gz logs beyond the budget below.
	Prune bool `yaml:"prune"`
	// PruneMaxAge: archived logs older than this are deleted.
	PruneMaxAge Duration `yaml:"prune_max_age"`
	// PruneMaxTotal: oldest archived logs are deleted until the archives
	// take no more than this.
	PruneMaxTotal ByteSize `yaml:"prune_max_total"`
}

// GatewayCheck probes the REST API gateway (GET <api.url>/info).
type GatewayCheck struct {
	Enabled bool     `yaml:"enabled"`
	Timeout Duration `yaml:"timeout"`
}

// BlockedIPsCheck reads the IP blacklist through the REST API; it needs
// api.username and api.password.
type BlockedIPsCheck struct {
	Enabled bool `yaml:"enabled"`
	// AdminNetworks are the administrators' addresses or CIDR ranges; one
	// of them being blocked is critical.
	AdminNetworks []string `yaml:"admin_networks"`
}

// ServicesCheck watches the portsip.* containers (Linux) or the PortSIP
// services (Windows).
type ServicesCheck struct {
	Enabled bool `yaml:"enabled"`
}

// Alerts configures the rule engine and the mail queue.
type Alerts struct {
	// Consecutive checks a new state must persist before it is mailed.
	Consecutive int `yaml:"consecutive"`
	// Reminder is the interval of reminder mails while a check still fails;
	// 0 disables reminders.
	Reminder Duration `yaml:"reminder"`
	// Digest is how long to wait for more changes before sending, so that
	// changes close together go into one mail.
	Digest Duration `yaml:"digest"`
	// QueueMax bounds the mails (and the events of each other receiver)
	// kept on disk while the receiver is unreachable.
	QueueMax int `yaml:"queue_max"`
	// RetryAfter is the first delay before a failed delivery (mail,
	// Alertmanager, webhook) is tried again; it doubles after each failure
	// up to 30 minutes.
	RetryAfter Duration `yaml:"retry_after"`
	// Alertmanager and Webhook are receivers besides email.
	Alertmanager Alertmanager `yaml:"alertmanager"`
	Webhook      Webhook      `yaml:"webhook"`
}

// Secret is a string that never prints: fmt, JSON and YAML show it masked.
type Secret string

// Mask is what a set secret prints as: the one marker of redacted text
// everywhere (bundle, logs, mails, terminal).
const Mask = redact.Marker

// String masks the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Mask
}

// GoString masks the secret in %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalText masks the secret in JSON and YAML output.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the secret's value, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// DefaultPath returns the platform's configuration file path.
func DefaultPath() string {
	if runtime.GOOS == "windows" {
		return windows.DefaultPaths(os.Getenv).ConfigFile
	}
	return linux.ConfigFile
}

// Default returns the configuration of a stock PortSIP install on this OS.
func Default() *Config { return defaultFor(runtime.GOOS, os.Getenv) }

func defaultFor(goos string, getenv func(string) string) *Config {
	c := &Config{
		PBX: PBX{
			SIPPorts: []int{5060, 5061, 5063, 5065, 5066, 5067},
			WebPorts: []int{8885, 8887, 8888, 10443},
			RTPRange: "45000-65000",
		},
		Agent: Agent{LogLevel: "info"},
		Bundle: Bundle{
			Format:         "tar.gz",
			Since:          Duration(24 * time.Hour),
			MaxSize:        500 * MiB,
			MaxFileSize:    200 * MiB,
			ReservePercent: 5,
			ReserveMin:     256 * MiB,
		},
		API: API{URL: "https://127.0.0.1:8887/api", InsecureSkipVerify: true},
		SMTP: SMTP{Port: 587, TLS: "starttls", Auth: "auto", Timeout: Duration(30 * time.Second),
			Fallback: SMTPServer{Port: 587, TLS: "starttls", Auth: "auto"}},
		Checks: defaultChecks(),
		Alerts: Alerts{
			Consecutive:  2,
			Reminder:     Duration(6 * time.Hour),
			Digest:       Duration(30 * time.Second),
			QueueMax:     500,
			RetryAfter:   Duration(30 * time.Second),
			Alertmanager: Alertmanager{Timeout: Duration(10 * time.Second)},
			Webhook:      Webhook{Timeout: Duration(10 * time.Second)},
		},
		Metrics:  Metrics{Listen: DefaultMetricsListen},
		Delivery: defaultDelivery(),
		Recorder: defaultRecorder(),
		Analyze:  defaultAnalyze,
	}
	setPlatformDefaults(c, goos, getenv)
	return c
}

// defaultChecks are the checks' default settings.
func defaultChecks() Checks {
	return Checks{
		Interval: Duration(time.Minute),
		Disk: DiskCheck{
			WarningPercent:  85,
			CriticalPercent: 95,
			ClearMargin:     2,
			MinFree:         1 * GiB,
			ForecastWindow:  Duration(6 * time.Hour),
			ForecastHorizon: Duration(24 * time.Hour),
		},
		Logs: LogsCheck{
			MaxActiveSize: 1 * GiB,
			StaleAfter:    Duration(time.Hour),
			PruneMaxAge:   Duration(30 * 24 * time.Hour),
			PruneMaxTotal: 10 * GiB,
		},
		Gateway:      GatewayCheck{Enabled: true, Timeout: Duration(10 * time.Second)},
		BlockedIPs:   BlockedIPsCheck{Enabled: true},
		Services:     ServicesCheck{Enabled: true},
		Trunks:       defaultTrunks,
		Licence:      defaultLicence,
		Certificates: defaultCertificates(),
		Media:        defaultMedia,
		CallFailures: defaultCallFailures,
	}
}

// setPlatformDefaults sets the folders and archive format that differ
// between Linux and Windows.
func setPlatformDefaults(c *Config, goos string, getenv func(string) string) {
	if goos == "windows" {
		p := windows.DefaultPaths(getenv)
		c.PBX.DataDir = p.PBXDataDir
		c.PBX.InstallDir = p.PBXInstallDir
		c.Agent.StateDir = p.StateDir
		c.Bundle.Format = "zip"
	} else {
		c.PBX.DataDir = linux.PBXDataDir
		c.PBX.InstallDir = linux.PBXInstallDir
		c.PBX.DockerSocket = linux.DockerSocket
		c.Agent.StateDir = linux.StateDir
	}
}

// LogDir returns the effective PBX log folder.
func (c *Config) LogDir() string {
	if c.PBX.LogDir != "" {
		return c.PBX.LogDir
	}
	return filepath.Join(c.PBX.DataDir, "log")
}

// OutputDir returns the effective bundle output folder.
func (c *Config) OutputDir() string {
	if c.Bundle.OutputDir != "" {
		return c.Bundle.OutputDir
	}
	return filepath.Join(c.Agent.StateDir, "bundles")
}

// SecretKeyPath returns the effective signing secret key path.
func (c *Config) SecretKeyPath() string {
	if c.Signing.SecretKey != "" {
		return c.Signing.SecretKey
	}
	return filepath.Join(c.Agent.StateDir, "pbxagent.key")
}

// PublicKeyPath returns the effective signing public key path.
func (c *Config) PublicKeyPath() string {
	if c.Signing.PublicKey != "" {
		return c.Signing.PublicKey
	}
	return filepath.Join(c.Agent.StateDir, "pbxagent.pub")
}

// RecordingsDir returns the effective recordings folder ("" if unknown).
func (c *Config) RecordingsDir() string {
	if c.PBX.RecordingsDir != "" {
		return c.PBX.RecordingsDir
	}
	d := filepath.Join(c.PBX.DataDir, "recordings")
	if fi, err := os.Stat(d); err == nil && fi.IsDir() {
		return d
	}
	return ""
}

// QueueDir returns the folder of the on-disk alert mail queue.
func (c *Config) QueueDir() string { return filepath.Join(c.Agent.StateDir, "queue") }

// ConfigurePBXPath returns the path of PortSIP's deploy settings file.
func (c *Config) ConfigurePBXPath() string {
	return filepath.Join(c.PBX.InstallDir, "pbx", ".configure_pbx")
}
