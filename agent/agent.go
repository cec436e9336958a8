// Package agent turns the configuration into collectors, log followers and
// packet captures and drives them. The command line and the long-running
// service use the same Agent, so a bundle taken by hand and one taken when an
// alert fires are built by the same code.
package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/portsip"
	"github.com/pbxagent/pbxagent/redact"
)

// Agent holds what every job of the agent needs.
type Agent struct {
	cfg        *config.Config
	configPath string
	version    string
	log        *slog.Logger
	redactor   *redact.Redactor
	watch      watchers

	// Service state (Serve): who hears about the life cycle, which
	// configuration is in force, and the latest round for `status`.
	notify   Notifier
	cfgState ConfigState
	lastOuts []collectors.Outcome
	// auto takes the bundles of alerts (nil when off).
	auto *autoBundler
	// api, when set, is the service's REST API client, which the snapshot
	// of a bundle the service takes shares (one token, no second login).
	api *portsip.Client
}

// New returns an Agent for cfg, loaded from configPath (which may not exist
// when the defaults are in use).
func New(cfg *config.Config, configPath, version string, log *slog.Logger) *Agent {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{cfg: cfg, configPath: configPath, version: version, log: log, redactor: redact.New().WithValues(cfg.Secrets()...)}
}

// Config returns the agent's configuration.
func (a *Agent) Config() *config.Config { return a.cfg }

// PBXMissing returns "PortSIP not found at <data_dir>" (with how to fix it)
// when the configured PBX data folder does not exist, else "". It is the
// first thing a user who mistyped pbx.data_dir needs to read.
func (a *Agent) PBXMissing() string {
	dir := a.cfg.PBX.DataDir
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return ""
	case err == nil:
		return fmt.Sprintf("PortSIP not found at %s: it is not a folder (check pbx.data_dir in %s)", dir, a.configPathOrDefault())
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("PortSIP not found at %s: the folder does not exist; set pbx.data_dir in %s if PortSIP is installed elsewhere", dir, a.configPathOrDefault())
	default:
		return fmt.Sprintf("PortSIP not found at %s: %v", dir, err)
	}
}

// Snapshot returns the collectors of the host snapshot, with process
// command lines passed through the redactor.
func (a *Agent) Snapshot() []collectors.Named {
	return collectors.Build(collectors.Env{Config: a.cfg, Sanitize: a.sanitizeArgs, Log: a.log, API: a.api}, collectors.TagSnapshot)
}

func (a *Agent) sanitizeArgs(args []string) []string {
	out, _ := a.redactor.Args(args)
	return out
}

var unsafeHost = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// Hostname returns the host name made safe for a file name.
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown-host"
	}
	h = unsafeHost.ReplaceAllString(h, "_")
	return strings.Trim(h, "._-")
}
