package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
)

// addSystem runs the snapshot collectors and the watchers' checks
// concurrently (the same checks as `pbxagent status` and the alerts) and
// writes one JSON file per collector plus a readable summary. It returns
// the JSON files by collector name, for the analysis.
func (a *Agent) addSystem(ctx context.Context, w *bundle.Writer) (map[string][]byte, error) {
	system := map[string][]byte{}
	outs := collectors.Run(ctx, append(a.Snapshot(), a.Checks()...), 20*time.Second)
	var summary strings.Builder
	if miss := a.PBXMissing(); miss != "" {
		fmt.Fprintf(&summary, "UNKNOWN: %s\n\n", miss)
	}
	fmt.Fprintf(&summary, "PBX host snapshot taken %s by pbxagent %s\n\n", time.Now().UTC().Format(time.RFC3339), a.version)
	for _, o := range outs {
		p := "system/" + o.Name + ".json"
		data, err := json.MarshalIndent(o, "", "  ")
		if err != nil {
			w.Missing(p, o.Name, fmt.Sprintf("encode report: %v", err))
			continue
		}
		fmt.Fprintf(&summary, "== %s (%s)\n", o.Name, o.Duration.Round(time.Millisecond))
		fmt.Fprintf(&summary, "%s: %s\n", o.Label(), o.Line())
		if !o.Applicable() {
			summary.WriteString("\n")
			w.Missing(p, o.Name, o.Reason())
			continue
		}
		if t := o.Text(); t != "" {
			summary.WriteString(strings.TrimRight(t, "\n"))
			summary.WriteString("\n")
		}
		summary.WriteString("\n")
		data = append(data, '\n')
		system[o.Name] = data
		noteRefusals(w, o)
		e := bundle.Entry{Path: p, Collector: o.Name, Size: int64(len(data)), Reader: strings.NewReader(string(data))}
		if o.Failed() {
			e.Error = o.Line()
		}
		if err := w.Add(e); err != nil {
			return nil, err
		}
	}
	return system, w.AddBytes("system/summary.txt", "system", []byte(summary.String()))
}

// maxConfigFile bounds a configuration file read into memory for redaction.
const maxConfigFile = 1 << 20

// addConfig adds PortSIP's configuration files and the agent's own, with
// every secret redacted.
func (a *Agent) addConfig(w *bundle.Writer) error {
	files := []struct{ src, dst string }{
		{filepath.Join(a.cfg.PBX.DataDir, "system.ini"), "config/system.ini"},
		{a.cfg.ConfigurePBXPath(), "config/.configure_pbx"},
		{filepath.Join(a.cfg.PBX.InstallDir, "pbx", "docker-compose-portsip-pbx.yml"), "config/docker-compose-portsip-pbx.yml"},
	}
	if a.configPath != "" {
		files = append(files, struct{ src, dst string }{a.configPath, "config/pbxagent.yaml"})
	}
	for _, f := range files {
		if err := a.addRedacted(w, f.src, f.dst); err != nil {
			return err
		}
	}
	eff, err := config.Marshal(a.cfg)
	if err != nil {
		w.Missing("config/pbxagent.effective.yaml", "config", err.Error())
		return nil
	}
	red, n := a.redactor.Bytes(eff)
	return w.Add(bundle.Entry{Path: "config/pbxagent.effective.yaml", Collector: "config",
		Size: int64(len(red)), Reader: strings.NewReader(string(red)), Redactions: &n})
}

func (a *Agent) addRedacted(w *bundle.Writer, src, dst string) error {
	data, fi, err := readPBXFile(src, maxConfigFile)
	if err != nil {
		w.Missing(dst, "config", reason(src, err))
		return nil
	}
	if fi.Links > 1 {
		w.Warn(linkNote(src, fi.Links))
	}
	red, n := a.redactor.Bytes(data)
	return w.Add(bundle.Entry{Path: dst, Collector: "config", Source: src, Size: int64(len(red)),
		ModTime: fi.ModTime, Reader: strings.NewReader(string(red)), Redactions: &n})
}

// reason turns a file error into the manifest's wording.
func reason(path string, err error) string {
	if r, ok := refusedReason(err); ok {
		return r
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("%s does not exist", path)
	case errors.Is(err, os.ErrPermission):
		return fmt.Sprintf("%s is not readable: permission denied (run as root)", path)
	default:
		return err.Error()
	}
}
