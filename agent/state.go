package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/alert"
	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/atomicfile"
	"github.com/pbxagent/pbxagent/internal/spool"
	"github.com/pbxagent/pbxagent/mailer"
	"github.com/pbxagent/pbxagent/notify"
	"github.com/pbxagent/pbxagent/portsip"
	"github.com/pbxagent/pbxagent/recorder"
)

// lastRoundFile records the service's latest round of checks for
// `pbxagent status`.
const lastRoundFile = "last-round.json"

// Round is the service's latest round of checks.
type Round struct {
	Time   time.Time        `json:"time"`
	Worst  collectors.State `json:"worst"`
	Checks []RoundCheck     `json:"checks"`
	Queued int              `json:"queued_mails,omitempty"`
	// Config says which configuration the service runs on (and whether
	// the last reload was refused).
	Config *ConfigState `json:"config,omitempty"`
}

// RoundCheck is one check's result in a Round.
type RoundCheck struct {
	Name    string           `json:"name"`
	State   collectors.State `json:"state"`
	Summary string           `json:"summary"`
}

// Summary is one line: the worst state and the checks that are not OK.
func (r *Round) Summary() string {
	var bad []string
	for _, c := range r.Checks {
		if c.State != collectors.StateOK {
			bad = append(bad, fmt.Sprintf("%s %s", c.State, c.Name))
		}
	}
	if len(bad) == 0 {
		return fmt.Sprintf("all %d checks OK", len(r.Checks))
	}
	return fmt.Sprintf("%s (%s)", r.Worst, strings.Join(bad, ", "))
}

// saveRound writes the round for `pbxagent status`.
func (a *Agent) saveRound(outs []collectors.Outcome) {
	r := Round{Time: time.Now().UTC(), Worst: collectors.Worst(outs)}
	if !a.cfgState.LoadedAt.IsZero() {
		cs := a.cfgState
		r.Config = &cs
	}
	for _, o := range outs {
		if o.Applicable() {
			r.Checks = append(r.Checks, RoundCheck{Name: o.Name, State: o.State(), Summary: o.Line()})
		}
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err == nil {
		err = atomicfile.Write(filepath.Join(a.cfg.Agent.StateDir, lastRoundFile), data, 0o600)
	}
	if err != nil {
		a.log.Debug("last round not saved", "err", err)
	}
}

// rewriteRound saves the latest round again, with the current
// configuration state (after a refused reload).
func (a *Agent) rewriteRound() {
	if a.lastOuts != nil {
		a.saveRound(a.lastOuts)
	}
}

// roundLine is the one-line status of a round for the service manager.
func (a *Agent) roundLine(outs []collectors.Outcome) string {
	r := Round{Worst: collectors.Worst(outs)}
	for _, o := range outs {
		switch {
		case o.NoData:
		case o.Err != nil:
			r.Checks = append(r.Checks, RoundCheck{Name: o.Name, State: collectors.StateUnknown})
		default:
			r.Checks = append(r.Checks, RoundCheck{Name: o.Name, State: o.Report.State})
		}
	}
	line := "last round " + time.Now().Format("15:04:05") + ": " + r.Summary()
	if a.cfgState.ReloadError != "" {
		line += "; reload REFUSED (invalid configuration), running on the previous one"
	}
	return line
}

// LastRound reads the service's latest round of checks.
func (a *Agent) LastRound() (*Round, error) {
	data, err := os.ReadFile(filepath.Join(a.cfg.Agent.StateDir, lastRoundFile))
	if err != nil {
		return nil, err
	}
	var r Round
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", lastRoundFile, err)
	}
	return &r, nil
}

// PurgeList returns the files and folders `uninstall --purge` removes: the
// configuration file and the agent's own files in its state folder (keys,
// queued mails, alert state, bundles it wrote), never anything else there.
// Folders are listed after their contents and are removed only if empty.
func PurgeList(cfg *config.Config, configPath string) []string {
	var out []string
	if configPath != "" && lstatExists(configPath) {
		out = append(out, configPath)
	}
	files := []string{cfg.SecretKeyPath(), cfg.PublicKeyPath()}
	for _, n := range ownStateFiles {
		files = append(files, filepath.Join(cfg.Agent.StateDir, n))
	}
	for _, p := range files {
		if lstatExists(p) {
			out = append(out, p)
		}
	}
	for _, r := range []string{notify.ReceiverEmail, "alertmanager", "webhook"} {
		out = appendOurs(out, filepath.Join(cfg.QueueDir(), r), queueFile(".event.json"))
	}
	// The mail queue of earlier versions, and its files that could not be
	// moved into the email queue (kept aside as .corrupt).
	out = appendOurs(out, cfg.QueueDir(), func(n string) bool {
		return queueFile(mailer.LegacyExt)(n) || strings.HasSuffix(n, mailer.LegacyExt+spool.CorruptSuffix)
	})
	out = appendOurs(out, cfg.OutputDir(), isBundleName)
	out = append(out, unfinishedStateWrites(cfg.Agent.StateDir)...)
	out = appendOurs(out, filepath.Join(cfg.Agent.StateDir, "uploads"), func(n string) bool {
		return strings.HasSuffix(n, ".json") && strings.Trim(strings.TrimSuffix(n, ".json"), "0123456789abcdef") == ""
	})
	out = appendOurs(out, cfg.AutoBundleDir(), isBundleName)
	out = appendOurs(out, cfg.RecorderDir(), func(n string) bool {
		return recorder.IsRingFile(n) || strings.HasPrefix(n, ".status.json.") && strings.HasSuffix(n, ".tmp")
	})
	return append(out, cfg.Agent.StateDir)
}

// ownStateFiles are the agent's files directly in its state folder, besides
// the signing keys.
var ownStateFiles = []string{alert.StateFileName, portsip.RejectedMarkerFile, lastRoundFile, collectors.CDRCursorFile}

func lstatExists(p string) bool { _, err := os.Lstat(p); return err == nil }

// appendOurs appends the regular files in dir that match, then dir itself
// (removed only if it ends up empty).
func appendOurs(out []string, dir string, match func(string) bool) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range ents {
		if e.Type().IsRegular() && match(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return append(out, dir)
}

// queueFile matches a queue's files with extension ext and their unfinished
// atomic writes (".<name><ext>.<random>.tmp").
func queueFile(ext string) func(string) bool {
	return func(n string) bool {
		return strings.HasSuffix(n, ext) || strings.HasPrefix(n, ".") && strings.Contains(n, ext+".") && strings.HasSuffix(n, ".tmp")
	}
}

func isBundleName(n string) bool { return strings.HasPrefix(n, "pbx-support-") }

// unfinishedStateWrites are the temporary files of an atomic write of a
// state file that did not finish (the agent was killed while writing):
// ".<name>.<random>.tmp".
func unfinishedStateWrites(stateDir string) []string {
	ents, err := os.ReadDir(stateDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		for _, own := range ownStateFiles {
			if e.Type().IsRegular() && strings.HasPrefix(n, "."+own+".") && strings.HasSuffix(n, ".tmp") {
				out = append(out, filepath.Join(stateDir, n))
			}
		}
	}
	return out
}
