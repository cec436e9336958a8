package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/pbxagent/pbxagent/agent"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/journald"
)

// sdNotifier tells systemd about the service (Type=notify): READY=1 after
// the first round, WATCHDOG=1 from the watch loop, STATUS= for `systemctl
// status`. Without NOTIFY_SOCKET (not started by systemd) every call does
// nothing.
type sdNotifier struct{}

func (sdNotifier) Ready()             { _, _ = daemon.SdNotify(false, daemon.SdNotifyReady) }
func (sdNotifier) Alive()             { _, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog) }
func (sdNotifier) Status(line string) { _, _ = daemon.SdNotify(false, "STATUS="+statusLine(line)) }

// statusLine keeps a STATUS= value on one line of reasonable length.
func statusLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:299]) + "…"
	}
	return s
}

// heartbeat is how often the watch loop tells systemd it is alive: half of
// WatchdogSec=, or never when the unit sets no watchdog.
func heartbeat() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

// serviceLogger logs to the journal with real priorities and fields when
// the agent runs under systemd, else to stderr as text; either way with
// the configuration's secrets scrubbed.
func (a *app) serviceLogger(level slog.Leveler) *slog.Logger {
	if journald.Available() {
		return slog.New(a.redacted(journald.New(serviceName, level, nil)))
	}
	return slog.New(a.redacted(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level})))
}

// watchReloads turns SIGHUP (systemctl reload) into reload requests: the
// file is loaded and validated here, and the watch loop switches to it only
// if it is valid.
func (a *app) watchReloads(ctx context.Context, level *slog.LevelVar) <-chan agent.Reload {
	out := make(chan agent.Reload, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			a.log.Info("reloading the configuration", "path", a.configPath)
			cfg, err := config.Load(a.configPath, a.configExplicit)
			r := agent.Reload{Config: cfg, Err: err}
			if err == nil {
				if lv, lerr := parseLevel(cfg.Agent.LogLevel, a.logLevel); lerr == nil {
					level.Set(lv)
				}
			} else {
				r.Config = nil
			}
			select {
			case out <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// parseLevel is the configured level unless --log-level overrides it.
func parseLevel(configured, flag string) (slog.Level, error) {
	s := configured
	if flag != "" {
		s = flag
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return lv, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return lv, nil
}

// onAbort handles SIGABRT, which systemd's watchdog sends to a hung agent:
// Go's default would print the stacks and exit with status 2, the status of
// a configuration error that the unit does not restart. The stacks (what
// hung) go to the log's stream and the exit status is 1, so the unit
// restarts.
func (a *app) onAbort() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGABRT)
	go func() {
		<-sig
		a.log.Error("aborted by the service manager (watchdog: the watch loop stopped answering); goroutine stacks follow on stderr")
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		_, _ = a.stderr.Write(buf[:n])
		os.Exit(exitFailure)
	}()
}

// serve runs the agent under the service manager with journald logging,
// sd_notify and reloads.
func (a *app) serve() error {
	level := new(slog.LevelVar)
	level.Set(a.level)
	a.log = a.serviceLogger(level)
	a.onAbort()
	return a.runService(func(ctx context.Context) error {
		ag := a.agent()
		return ag.Serve(ctx, agent.ServeOptions{
			Notify:    sdNotifier{},
			Heartbeat: heartbeat(),
			Reloads:   a.watchReloads(ctx, level),
		})
	})
}

// reportFatal writes the final error of a command. Under systemd each line
// gets the "<3>" (error) priority prefix of the journal's stdout stream, so
// that `journalctl -p err` and `systemctl status` show it as an error, and
// the service's status line says what went wrong.
func reportFatal(stderr io.Writer, msg string) {
	if stderr == io.Writer(os.Stderr) && journald.Available() {
		for l := range strings.SplitSeq(msg, "\n") {
			fmt.Fprintf(stderr, "<3>%s\n", l)
		}
		_, _ = daemon.SdNotify(false, "STATUS="+statusLine(msg))
		return
	}
	fmt.Fprintln(stderr, msg)
}
