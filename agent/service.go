package agent

import (
	"fmt"
	"reflect"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

// Notifier hears about the service's life cycle; under systemd it is
// sd_notify. Every method must return quickly.
type Notifier interface {
	// Ready is called once, after the first round of checks.
	Ready()
	// Alive is called from the watch loop itself, so a hung loop stops
	// calling it (the systemd watchdog).
	Alive()
	// Status is one line for the service manager (`systemctl status`).
	Status(line string)
}

// Reload is a request to switch to another configuration: Config when the
// new file is valid, Err (and no Config) when it is not.
type Reload struct {
	Config *config.Config
	Err    error
}

// ServeOptions adapts Serve to the service manager.
type ServeOptions struct {
	// Notify receives READY, heartbeats and status lines; nil ignores them.
	Notify Notifier
	// Heartbeat is how often Notify.Alive is called (half the watchdog
	// interval); zero disables it.
	Heartbeat time.Duration
	// Reloads delivers configuration reloads (SIGHUP, systemctl reload).
	Reloads <-chan Reload
}

// ConfigState says which configuration the service runs on, for `status`.
type ConfigState struct {
	// LoadedAt is when the configuration in force was loaded.
	LoadedAt time.Time `json:"loaded_at"`
	// ReloadFailedAt and ReloadError describe the last reload that was
	// refused because the file was invalid; empty after a good reload.
	ReloadFailedAt time.Time `json:"reload_failed_at,omitzero"`
	ReloadError    string    `json:"reload_error,omitempty"`
}

// Line is one sentence for people.
func (c ConfigState) Line() string {
	if c.ReloadError == "" {
		return "configuration loaded " + c.LoadedAt.Local().Format("2006-01-02 15:04:05")
	}
	return fmt.Sprintf("reload at %s REFUSED, still running on the configuration loaded %s: %s",
		c.ReloadFailedAt.Local().Format("2006-01-02 15:04:05"), c.LoadedAt.Local().Format("2006-01-02 15:04:05"), c.ReloadError)
}

type nopNotifier struct{}

func (nopNotifier) Ready()        {}
func (nopNotifier) Alive()        {}
func (nopNotifier) Status(string) {}

// applyReload switches the watch loop to a new configuration, keeping the
// process, the alert engine's memory and anything else that lives across
// rounds; an invalid file leaves everything as it was.
// New mail settings take effect for the mails already queued too. Settings
// read once at start (the metrics listener, Alertmanager and webhook
// receivers) keep their values until the next restart.
func (a *Agent) applyReload(r Reload, fl *fleet) {
	if r.Err != nil || r.Config == nil {
		a.cfgState.ReloadFailedAt = time.Now()
		a.cfgState.ReloadError = fmt.Sprint(r.Err)
		a.log.Error("configuration reload refused: the file is invalid; still running on the previous configuration", "err", r.Err)
		a.notify.Status("reload refused (invalid configuration); running on the previous one: " + oneLine(a.cfgState.ReloadError))
		a.rewriteRound()
		return
	}
	old := a.cfg
	a.cfg = r.Config
	if !reflect.DeepEqual(old.SMTP, r.Config.SMTP) {
		if err := a.setMail(fl); err != nil {
			a.cfg = old
			a.cfgState.ReloadFailedAt, a.cfgState.ReloadError = time.Now(), err.Error()
			a.log.Error("configuration reload refused: the mail settings cannot be used; still running on the previous configuration", "err", err)
			a.notify.Status("reload refused: " + oneLine(err.Error()))
			a.rewriteRound()
			return
		}
	}
	a.watch = watchers{}
	a.cfgState = ConfigState{LoadedAt: time.Now()}
	a.log.Info("configuration reloaded", "path", a.configPathOrDefault(), "interval", a.cfg.Checks.Interval.String())
}

func oneLine(s string) string {
	out := []rune(s)
	for i, c := range out {
		if c == '\n' || c == '\r' || c == '\t' {
			out[i] = ' '
		}
	}
	return string(out)
}
