package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"

	"github.com/pbxagent/pbxagent/agent"
	"github.com/pbxagent/pbxagent/minisign"
	"github.com/pbxagent/pbxagent/platform/linux"
	"github.com/pbxagent/pbxagent/platform/windows"
)

// serviceName is the service's name for systemd and the Service Control
// Manager.
const serviceName = "pbxagent"

// stopTimeout is how long the service waits for the agent to stop.
const stopTimeout = 5 * time.Second

// program adapts the agent to the service manager.
type program struct {
	run    func(ctx context.Context) error
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		p.err = p.run(ctx)
		if p.err != nil && ctx.Err() == nil {
			// The agent cannot go on: exit non-zero so the service
			// manager restarts it.
			p.log.Error("pbxagent stopped on an error", "err", p.err)
			os.Exit(exitFailure)
		}
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.log.Warn("pbxagent did not stop in time; exiting")
	}
	return nil
}

// serviceConfig describes the service for kardianos/service on this OS.
func (a *app) serviceConfig() (*service.Config, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the pbxagent binary: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return nil, fmt.Errorf("find the pbxagent binary: %w", err)
	}
	cfgPath, err := filepath.Abs(a.configPath)
	if err != nil {
		return nil, err
	}
	c := &service.Config{
		Name:        serviceName,
		DisplayName: "pbxagent (PortSIP PBX host agent)",
		Description: "Watches the PortSIP PBX host (disk, logs, API gateway, blocked IPs, services), mails the administrator and builds signed support bundles.",
		Executable:  exe,
		Arguments:   windows.ServiceArguments(cfgPath),
		Option:      service.KeyValue{},
	}
	switch runtime.GOOS {
	case "windows":
		for k, v := range windows.ServiceOptions() {
			c.Option[k] = v
		}
	case "linux":
		c.Option["SystemdScript"] = a.unit(exe, cfgPath)
	}
	return c, nil
}

// unit renders the systemd unit for this host's configuration.
func (a *app) unit(exe, cfgPath string) string {
	return linux.Unit(linux.UnitConfig{
		Exe:          exe,
		ConfigPath:   cfgPath,
		StateDir:     a.cfg.Agent.StateDir,
		WritableDirs: []string{a.cfg.OutputDir(), a.cfg.LogDir()},
	})
}

func (a *app) newService(run func(context.Context) error) (service.Service, error) {
	s, _, err := a.newServiceProgram(run)
	return s, err
}

func (a *app) newServiceProgram(run func(context.Context) error) (service.Service, *program, error) {
	c, err := a.serviceConfig()
	if err != nil {
		return nil, nil, err
	}
	p := &program{run: run, log: a.log}
	s, err := service.New(p, c)
	if err != nil {
		return nil, nil, fmt.Errorf("service manager: %w", err)
	}
	return s, p, nil
}

// requireAdmin fails with a clear message when not root / Administrator.
func requireAdmin(verb string) error {
	if isAdmin() {
		return nil
	}
	if runtime.GOOS == "windows" {
		return fmt.Errorf("%s needs Administrator rights: run it from an elevated prompt (Run as administrator)", verb)
	}
	return fmt.Errorf("%s needs root: run it with sudo", verb)
}

func (a *app) installCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Register pbxagent as a system service (systemd or the Windows Service Control Manager)",
		Long: `Register pbxagent as a system service that starts at boot and runs
'pbxagent run --config PATH'. It creates the state folder (mode 0700) and the
bundle signing key if missing, and prints the public key. Start it with
'pbxagent start'.

On Linux the systemd unit restarts the agent within 5 s of a failure and
confines it (read-only system, writable state folder, raw sockets for
capture). On Windows the service starts automatically (delayed), restarts
after a failure and runs as LocalSystem. --dry-run prints what would be
installed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runInstall(dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the service definition (the systemd unit on Linux) and install nothing")
	return cmd
}

func (a *app) runInstall(dryRun bool) error {
	c, err := a.serviceConfig()
	if err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintf(a.stdout, "service %s: %s %s\n", c.Name, c.Executable, strings.Join(c.Arguments, " "))
		if runtime.GOOS == "linux" {
			fmt.Fprintf(a.stdout, "\n# /etc/systemd/system/%s\n%s", linux.UnitName, c.Option["SystemdScript"])
		}
		return nil
	}
	if err := requireAdmin("install"); err != nil {
		return err
	}
	if u := packagedUnit(); u != "" {
		return errPackaged("install", u)
	}
	s, err := a.newService(nil)
	if err != nil {
		return err
	}
	if _, ok, _ := installed(s); ok {
		return fmt.Errorf("pbxagent is already installed as a service; run 'pbxagent uninstall' first to reinstall")
	}
	priv, created, err := a.prepareState()
	if err != nil {
		return err
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("install the service: %w", err)
	}
	fmt.Fprintf(a.stdout, "installed service %s: %s %s\n", serviceName, c.Executable, strings.Join(c.Arguments, " "))
	fmt.Fprintf(a.stdout, "state folder: %s\n", a.cfg.Agent.StateDir)
	verb := "signing key"
	if created {
		verb = "created signing key"
	}
	fmt.Fprintf(a.stdout, "%s: %s\npublic key: %s\n", verb, a.cfg.SecretKeyPath(), priv.Public().String())
	fmt.Fprintf(a.stdout, "\nnext: set the mail server in %s, check it with 'pbxagent config validate' and 'pbxagent alert test', then 'pbxagent start'\n", a.configPath)
	return nil
}

// prepareState creates the state folder (0700) and the signing key if
// missing, and returns the key and whether it was created.
func (a *app) prepareState() (minisign.PrivateKey, bool, error) {
	if err := os.MkdirAll(a.cfg.Agent.StateDir, 0o700); err != nil {
		return minisign.PrivateKey{}, false, fmt.Errorf("create state folder: %w", err)
	}
	if err := os.Chmod(a.cfg.Agent.StateDir, 0o700); err != nil {
		return minisign.PrivateKey{}, false, fmt.Errorf("set mode of %s: %w", a.cfg.Agent.StateDir, err)
	}
	priv, created, err := minisign.LoadOrCreate(a.cfg.SecretKeyPath(), a.cfg.PublicKeyPath())
	if err != nil {
		return minisign.PrivateKey{}, false, fmt.Errorf("signing key: %w", err)
	}
	return priv, created, nil
}

func (a *app) uninstallCmd() *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the pbxagent service (configuration, keys and bundles stay unless --purge)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireAdmin("uninstall"); err != nil {
				return err
			}
			if u := packagedUnit(); u != "" {
				return errPackaged("uninstall", u)
			}
			s, err := a.newService(nil)
			if err != nil {
				return err
			}
			st, ok, _ := installed(s)
			if !ok {
				return fmt.Errorf("pbxagent is not installed as a service")
			}
			if st == service.StatusRunning {
				if err := s.Stop(); err != nil {
					return fmt.Errorf("stop the service: %w", err)
				}
				fmt.Fprintln(a.stdout, "stopped service", serviceName)
			}
			if err := s.Uninstall(); err != nil {
				return fmt.Errorf("remove the service: %w", err)
			}
			fmt.Fprintln(a.stdout, "removed service", serviceName)
			if !purge {
				fmt.Fprintf(a.stdout, "kept: configuration %s, state folder %s (keys, queued alerts, bundles); --purge removes them\n",
					a.configPath, a.cfg.Agent.StateDir)
				return nil
			}
			a.purgeOwnFiles()
			return nil
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also remove the configuration file and the agent's own files in the state folder")
	return cmd
}

// purgeOwnFiles removes the configuration and the agent's own files (agent.PurgeList);
// a folder is removed only when empty.
func (a *app) purgeOwnFiles() {
	for _, p := range agent.PurgeList(a.cfg, a.configPath) {
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			// Only if empty: anything else in it is not ours.
			if err := os.Remove(p); err == nil {
				fmt.Fprintln(a.stdout, "removed", p)
			} else if !errors.Is(err, os.ErrNotExist) {
				fmt.Fprintf(a.stdout, "kept %s: it holds files pbxagent did not write\n", p)
			}
			continue
		}
		if err := os.Remove(p); err != nil {
			fmt.Fprintf(a.stdout, "could not remove %s: %v\n", p, err)
			continue
		}
		fmt.Fprintln(a.stdout, "removed", p)
	}
}

// controlCmd is start, stop or restart.
func (a *app) controlCmd(verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireAdmin(verb); err != nil {
				return err
			}
			s, err := a.newService(nil)
			if err != nil {
				return err
			}
			st, ok, _ := installed(s)
			if !ok {
				return fmt.Errorf("pbxagent is not installed as a service; run 'pbxagent install' first")
			}
			switch {
			case verb == "start" && st == service.StatusRunning:
				fmt.Fprintln(a.stdout, "service", serviceName, "is already running")
				return nil
			case verb == "stop" && st == service.StatusStopped:
				fmt.Fprintln(a.stdout, "service", serviceName, "is already stopped")
				return nil
			}
			if err := service.Control(s, verb); err != nil {
				return fmt.Errorf("%s the service: %w", verb, err)
			}
			past := map[string]string{"start": "started", "stop": "stopped", "restart": "restarted"}[verb]
			fmt.Fprintln(a.stdout, past, "service", serviceName)
			return nil
		},
	}
}

// installed reports whether the service is registered. kardianos/service
// answers a bare error on some Linux init systems when it is not, so on
// Linux the unit or init script is looked for directly.
func installed(s service.Service) (service.Status, bool, error) {
	st, err := s.Status()
	if runtime.GOOS == "linux" {
		found := packagedUnit() != ""
		for _, p := range []string{"/etc/systemd/system/" + linux.UnitName, "/etc/init.d/" + serviceName} {
			if _, serr := os.Stat(p); serr == nil {
				found = true
			}
		}
		if !found {
			return service.StatusUnknown, false, nil
		}
	}
	if errors.Is(err, service.ErrNotInstalled) || (err == nil && st == service.StatusUnknown) {
		return st, false, nil
	}
	return st, true, err
}

// packagedUnit returns the unit installed by the .deb or .rpm package, or "".
func packagedUnit() string {
	for _, p := range []string{"/lib/systemd/system/" + linux.UnitName, "/usr/lib/systemd/system/" + linux.UnitName} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// errPackaged refuses install and uninstall of a service the package manages.
func errPackaged(verb, unit string) error {
	return fmt.Errorf("the pbxagent service was installed by the pbxagent package (%s); %s it with the package manager (apt remove pbxagent / rpm -e pbxagent, or reinstall the package), not with 'pbxagent %s'", unit, map[string]string{"install": "reinstall", "uninstall": "remove"}[verb], verb)
}

// serviceState describes the installed service for `pbxagent status`.
func (a *app) serviceState() string {
	s, err := a.newService(nil)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	st, ok, err := installed(s)
	switch {
	case !ok:
		return "not installed (pbxagent install registers it)"
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case st == service.StatusRunning:
		if since := activeSince(); since != "" {
			return "running since " + since
		}
		return "running"
	default:
		return "installed, stopped (pbxagent start)"
	}
}

// activeSince asks systemd when the service last started.
func activeSince() string {
	if runtime.GOOS != "linux" {
		return ""
	}
	out, err := exec.Command("systemctl", "show", "-p", "ActiveEnterTimestamp", "--value", linux.UnitName).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// runService runs the agent under the service manager (or in the
// foreground when started from a terminal).
func (a *app) runService(run func(context.Context) error) error {
	s, p, err := a.newServiceProgram(run)
	if err != nil {
		return err
	}
	if !service.Interactive() && runtime.GOOS == "windows" {
		// The Service Control Manager has no stderr: log to the Event Log
		// (the source is registered by install).
		if l, err := s.SystemLogger(nil); err == nil {
			a.log = slog.New(a.redacted(newServiceHandler(l, a.effectiveLevel())))
			p.log = a.log
		}
	}
	return s.Run()
}
