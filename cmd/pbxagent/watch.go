package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbxagent/pbxagent/agent"
	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/logprune"
)

// Exit codes of `pbxagent status`, by the worst state; 2 stays the usage
// and configuration error as for every command.
const (
	exitStatusWarning  = 1
	exitStatusCritical = 3
	exitStatusUnknown  = 4
)

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the service state and run every check once (table or --json)",
		Long: `Run every check once (disk, logs, API gateway, blocked IPs, PBX services)
and print a table, or JSON with --json.

Exit codes: 0 all OK, 1 a WARNING, 3 a CRITICAL, 4 a check could not run
(UNKNOWN) and none is CRITICAL, 2 usage or configuration error.

With --nagios it is a Nagios/Icinga plugin (check_by_ssh, NRPE): one status
line with one line of performance data, and exit 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (CRITICAL outranks UNKNOWN).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runStatus(cmd.Context(), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	cmd.Flags().BoolVar(&a.nagios, "nagios", false, "act as a Nagios/Icinga plugin: one line with performance data, exit 0/1/2/3")
	cmd.MarkFlagsMutuallyExclusive("json", "nagios")
	return cmd
}

// statusRun is one run of every check with what the service last recorded.
type statusRun struct {
	svc     string
	last    *agent.Round
	lastErr error
	outs    []collectors.Outcome
	worst   collectors.State
	missing string // why the PBX was not found, or ""
}

func (a *app) runStatus(ctx context.Context, asJSON bool) error {
	ag := a.agent()
	r := statusRun{svc: a.serviceState()}
	r.last, r.lastErr = ag.LastRound()
	r.outs = ag.Status(ctx)
	r.worst = collectors.Worst(r.outs)
	r.missing = ag.PBXMissing()
	if a.nagios {
		return a.nagiosStatus(r)
	}
	if r.missing != "" {
		r.worst = collectors.StateUnknown
	}
	if asJSON {
		if err := a.statusJSON(ag, r); err != nil {
			return err
		}
	} else {
		a.statusText(ag, r)
	}
	return statusExit(r.worst)
}

// nagiosStatus prints the plugin's line and exits with its code.
func (a *app) nagiosStatus(r statusRun) error {
	code, line := nagiosResult(r.outs)
	if r.missing != "" && code < 2 {
		// No PBX where the configuration says: that comes
		// first, as UNKNOWN (a CRITICAL still outranks it).
		code, line = 3, "UNKNOWN - "+r.missing
	}
	fmt.Fprintln(a.text(), line)
	if code == 0 {
		return nil
	}
	return &exitError{code: code, err: errSilent}
}

func (a *app) statusJSON(ag *agent.Agent, r statusRun) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	doc := map[string]any{"host": hostname(), "service": r.svc, "state": r.worst, "checks": r.outs}
	if r.missing != "" {
		doc["pbx_not_found"] = r.missing
	}
	if r.lastErr == nil {
		doc["last_round"] = r.last
	}
	if rs := ag.RecorderState(); rs != nil {
		doc["recorder"] = rs
	}
	return enc.Encode(doc)
}

func (a *app) statusText(ag *agent.Agent, r statusRun) {
	w := a.text()
	if r.missing != "" {
		fmt.Fprintf(w, "UNKNOWN: %s\n\n", r.missing)
	}
	fmt.Fprintf(w, "service: %s\n", r.svc)
	if last := r.last; r.lastErr == nil {
		fmt.Fprintf(w, "last round of the service: %s, %s\n", last.Time.Local().Format("2006-01-02 15:04:05"), last.Summary())
		if last.Config != nil {
			fmt.Fprintf(w, "configuration of the service: %s\n", last.Config.Line())
		}
	}
	if rs := ag.RecorderState(); rs != nil {
		fmt.Fprintf(w, "flight recorder: %s\n", rs.Summary())
	} else {
		fmt.Fprintln(w, "flight recorder: off (recorder.enabled: false)")
	}
	fmt.Fprintln(w)
	printStatus(w, r.outs, r.worst)
}

// statusExitCodes are the exit codes of `pbxagent status` by the worst
// state other than OK; any other state exits exitStatusUnknown.
var statusExitCodes = map[collectors.State]int{
	collectors.StateWarning:  exitStatusWarning,
	collectors.StateCritical: exitStatusCritical,
}

func statusExit(worst collectors.State) error {
	if worst == collectors.StateOK {
		return nil
	}
	code, ok := statusExitCodes[worst]
	if !ok {
		code = exitStatusUnknown
	}
	return &exitError{code: code, err: errSilent}
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func printStatus(w interface{ Write([]byte) (int, error) }, outs []collectors.Outcome, worst collectors.State) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATE\tSUMMARY")
	var advice []string
	for _, o := range outs {
		if adv := o.Advice(); adv != "" {
			advice = append(advice, fmt.Sprintf("%s: %s", o.Name, adv))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Name, o.Label(), o.Line())
	}
	tw.Flush()
	fmt.Fprintf(w, "\noverall: %s\n", worst)
	for _, adv := range advice {
		fmt.Fprintf(w, "\n%s\n", adv)
	}
}

func (a *app) runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the watchers in the foreground (what the service manager starts)",
		Long: `Run the checks every checks.interval, apply the alert rules and mail the
administrator through the on-disk queue; prune archived logs when
checks.logs.prune is set. Stops cleanly on SIGTERM or Ctrl-C.

SIGHUP (systemctl reload pbxagent) reloads the configuration file: it is
validated first, and an invalid file is refused (the error goes to the log
and to 'pbxagent status') while the agent keeps running on the previous
configuration. Under systemd the agent logs to the journal with real
priorities (journalctl -p warning -u pbxagent) and fields such as CHECK and
STATE, reports readiness after its first round and feeds the watchdog.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve()
		},
	}
}

func (a *app) alertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "Alert mail tools",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("alert needs a subcommand: test (see 'pbxagent alert --help')")
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "test",
		Short: "Send a test email through the configured mail server(s) and report the SMTP dialogue",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := a.agent().Mailer()
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			rep, err := m.Test(ctx)
			out := a.text() // the server's words are printed
			if rep != nil {
				for _, s := range rep.Servers {
					fmt.Fprintf(out, "%s server %s (%s):\n", s.Role, s.Address, s.Mode)
					fmt.Fprintf(out, "  connected: %v  TLS: %s  authenticated as: %s\n", s.Connected, orDash(s.TLS), orDash(s.AuthenticatedAs))
					if len(s.Accepted) > 0 {
						fmt.Fprintf(out, "  accepted recipients: %s\n", strings.Join(s.Accepted, ", "))
					}
					if len(s.Rejected) > 0 {
						fmt.Fprintf(out, "  rejected recipients: %s\n", strings.Join(s.Rejected, ", "))
					}
					if s.Reply != "" {
						fmt.Fprintf(out, "  server reply: %s\n", s.Reply)
					}
					if s.Error != "" {
						fmt.Fprintf(out, "  error: %s\n", s.Error)
					}
				}
			}
			if err != nil {
				return fmt.Errorf("test email failed: %w", err)
			}
			fmt.Fprintln(out, "test email sent")
			return nil
		},
	})
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) logsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "PBX log folder tools",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("logs needs a subcommand: prune (see 'pbxagent logs --help')")
		},
	}
	var dryRun bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Delete archived *.gz logs in the PBX log folder beyond the age and size budget",
		Long: `Delete archived *.gz logs directly inside the PBX log folder that are older
than checks.logs.prune_max_age, then the oldest until the archives take no
more than checks.logs.prune_max_total. Active logs, subfolders and symlinks
are never touched. This is the PortSIP guide's own fix for a full disk.

Use --dry-run first to see what would go.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ag := a.agent()
			if dryRun {
				res, err := ag.PrunePlan()
				if err != nil {
					return err
				}
				printPrune(a, res, true)
				return nil
			}
			res, err := ag.Prune(cmd.Context())
			if res != nil {
				printPrune(a, res, false)
			}
			return err
		},
	}
	prune.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be deleted, delete nothing")
	cmd.AddCommand(prune)
	return cmd
}

func printPrune(a *app, r *logprune.Result, dry bool) {
	w := a.stdout
	fmt.Fprintf(w, "PBX log folder %s: %d archived logs, %s\n", logprune.Printable(r.Resolved), r.Archives, config.HumanBytes(r.ArchiveBytes))
	if r.Resolved != r.Dir {
		fmt.Fprintf(w, "  (configured as %s)\n", logprune.Printable(r.Dir))
	}
	fmt.Fprintf(w, "budget: delete archives older than %s, then the oldest until they take at most %s\n", r.MaxAge, config.HumanBytes(r.MaxTotal))
	list, verb := r.Deleted, "deleted"
	if dry {
		list, verb = r.Planned, "would delete"
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "nothing to delete")
	}
	var total int64
	for _, f := range list {
		total += f.Size
		fmt.Fprintf(w, "  %s %s (%s, %s, %s)\n", verb, logprune.Printable(f.Name), config.HumanBytes(f.Size), f.ModTime.Format("2006-01-02 15:04"), f.Reason)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "  kept %s: %s\n", logprune.Printable(s.Name), s.Reason)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", logprune.Printable(e))
	}
	if len(list) > 0 {
		fmt.Fprintf(w, "%s %d files, %s\n", verb, len(list), config.HumanBytes(total))
	}
	if dry && len(list) > 0 {
		fmt.Fprintln(w, "run `pbxagent logs prune` (without --dry-run) to delete them")
	}
}
