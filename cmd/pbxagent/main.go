// Command pbxagent is the host agent for PortSIP PBX servers: it builds signed
// support bundles, and runs as a service that watches what breaks a PBX.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pbxagent/pbxagent/agent"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/termsafe"
)

// Exit codes, the same for every subcommand.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // bad flags, arguments or configuration
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = ""

// exitError carries the exit code a failure should end the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errSilent is the error of a command that already printed its outcome and
// only sets the exit code.
var errSilent = errors.New("")

func usageError(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// app is the state shared by the subcommands of one invocation.
type app struct {
	stdout, stderr io.Writer
	configPath     string
	configExplicit bool
	logLevel       string
	cfg            *config.Config
	log            *slog.Logger
	level          slog.Level
	args           []string
	// nagios is set by `status --nagios`: every error is then a plugin
	// UNKNOWN result.
	nagios bool
}

// memoryLimit is the agent's soft memory limit: the garbage collector works
// harder near it rather than letting the heap double, which keeps a bundle
// of any size within 64 MiB of RSS. GOMEMLIMIT overrides it.
const memoryLimit = 48 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, args: append([]string{"pbxagent"}, args...)}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	} else if strings.HasPrefix(err.Error(), "unknown command") {
		code = exitUsage // cobra's own usage error
	}
	msg := err.Error()
	if msg == "" {
		return code
	}
	if a.nagios {
		// A plugin that cannot run says UNKNOWN on stdout, never exit 2
		// (which Nagios reads as CRITICAL).
		fmt.Fprintln(stdout, "PBXAGENT UNKNOWN - "+oneLine(msg))
		return nagiosUnknown
	}
	if !strings.HasPrefix(msg, "pbxagent") {
		msg = "pbxagent: " + msg
	}
	reportFatal(stderr, termsafe.Strip(msg)) // errors quote files and servers
	return code
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "pbxagent",
		Short: "Host agent for PortSIP PBX servers: signed support bundles and health checks",
		Long: `pbxagent runs on a PortSIP PBX host. It builds signed support bundles
(logs, packet capture, system snapshot and redacted configuration in one
archive) and watches the things that break a PBX in the field.

Exit codes: 0 success, 1 failure, 2 usage or configuration error.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if skipConfig(cmd) {
				return nil
			}
			return a.loadConfig(cmd)
		},
	}
	root.PersistentFlags().StringVarP(&a.configPath, "config", "c", config.DefaultPath(), "configuration file")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "", "log level: debug, info, warn or error (default from the configuration)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError("%v (see '%s --help')", err, cmd.CommandPath())
	})
	root.AddCommand(
		a.bundleCmd(),
		a.verifyCmd(),
		a.uploadCmd(),
		a.bundlesCmd(),
		a.analyzeCmd(),
		a.keygenCmd(),
		a.configCmd(),
		a.statusCmd(),
		a.runCmd(),
		a.installCmd(),
		a.uninstallCmd(),
		a.controlCmd("start", "Start the pbxagent service"),
		a.controlCmd("stop", "Stop the pbxagent service"),
		a.controlCmd("restart", "Restart the pbxagent service"),
		a.alertCmd(),
		a.logsCmd(),
		a.versionCmd(),
	)
	root.AddCommand(a.buildCommands()...)
	oneDefault(root)
	// `pbxagent --version` as well as `pbxagent version`.
	root.Version = versionString()
	root.SetVersionTemplate(versionLine() + "\n")
	return root
}

// oneDefault keeps one default per flag in --help: a flag whose usage text
// already states its default (often "from the configuration") does not also
// get pflag's "(default 0B)" for its zero value.
func oneDefault(c *cobra.Command) {
	for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
		fs.VisitAll(func(f *pflag.Flag) {
			if !strings.Contains(f.Usage, "default") {
				return
			}
			// The text pflag takes for "no default" depends on the type.
			switch t := f.Value.Type(); {
			case strings.HasSuffix(t, "Slice"), strings.HasSuffix(t, "Array"):
				f.DefValue = "[]"
			case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"), strings.HasPrefix(t, "float"), t == "duration", t == "count":
				f.DefValue = "0"
			default:
				f.DefValue = ""
			}
		})
	}
	for _, sub := range c.Commands() {
		oneDefault(sub)
	}
}

// skipConfig reports commands that run without (or load themselves) the
// configuration.
func skipConfig(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "version", "completion", "help", "validate", "man", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return true
		}
	}
	return false
}

func (a *app) loadConfig(cmd *cobra.Command) error {
	a.configExplicit = cmd.Flags().Changed("config")
	cfg, err := config.Load(a.configPath, a.configExplicit)
	if err != nil {
		if cmd.Name() == "status" {
			// The running service refuses such a file on reload and keeps
			// the one it loaded: say so, since status cannot ask it.
			return &exitError{code: exitUsage, err: fmt.Errorf("invalid configuration, nothing was done:\n%w\n"+
				"a running service refuses this file on reload and keeps its previous configuration (systemctl status pbxagent shows it)", err)}
		}
		return &exitError{code: exitUsage, err: fmt.Errorf("invalid configuration, nothing was done:\n%w", err)}
	}
	a.cfg = cfg
	level := cfg.Agent.LogLevel
	if a.logLevel != "" {
		level = a.logLevel
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return usageError("--log-level %q: use debug, info, warn or error", level)
	}
	a.level = lv
	a.log = slog.New(a.redacted(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lv})))
	return nil
}

// effectiveLevel is the log level in force.
func (a *app) effectiveLevel() slog.Level { return a.level }

// agent returns the Agent for the loaded configuration.
func (a *app) agent() *agent.Agent {
	path := a.configPath
	if _, err := os.Stat(path); err != nil {
		path = "" // defaults in use
	}
	return agent.New(a.cfg, path, versionString(), a.log)
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return "dev-" + rev
		}
	}
	return "dev"
}
