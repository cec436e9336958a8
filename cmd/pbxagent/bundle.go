package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbxagent/pbxagent/agent"
	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/config"
)

type bundleFlags struct {
	duration    time.Duration
	output      string
	since       config.Duration
	maxSize     config.ByteSize
	maxFileSize config.ByteSize
	format      string
	noCapture   bool
	json        bool
}

func (a *app) bundleCmd() *cobra.Command {
	var f bundleFlags
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Build a signed support bundle (logs, capture, system snapshot, redacted config)",
		Long: `Build one support bundle for PortSIP support: the PBX logs, a system
snapshot, the PBX and agent configuration with every secret redacted, and a
manifest of SHA-256 hashes, in one archive signed with the host's key.

With --duration, callmanager.log is followed for that long while you
reproduce the problem; the lines written meanwhile are in
logs/callmanager.window.log, even if the PBX rotates the log.

Ctrl-C during --duration finishes the bundle early with what was collected
(marked partial); a second Ctrl-C aborts and leaves no file behind.`,
		Example: `  pbxagent bundle --duration 30s
  pbxagent bundle --output /mnt/usb --since 72h
  pbxagent bundle --json | jq -r .path`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runBundle(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&f.duration, "duration", 0, "follow callmanager.log (and capture packets) for this long, e.g. 30s")
	fl.StringVarP(&f.output, "output", "o", "", "output folder (default from the configuration: <state_dir>/bundles)")
	fl.Var(&f.since, "since", "include archived *.gz logs modified within this window, e.g. 24h or 7d (default from the configuration: 24h)")
	fl.Var(&f.maxSize, "max-size", "cap on the bytes put into the bundle, e.g. 500MiB (default from the configuration)")
	fl.Var(&f.maxFileSize, "max-file-size", "cap on one file; logs keep their newest bytes (default from the configuration)")
	fl.StringVar(&f.format, "format", "", "archive format: tar.gz, tar.zst or zip (default tar.gz; zip on Windows)")
	fl.BoolVar(&f.noCapture, "no-capture", false, "do not capture packets during --duration")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON on stdout (for scripts)")
	return cmd
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments, got %q (see '%s --help')", cmd.CommandPath(), args, cmd.CommandPath())
	}
	return nil
}

func (a *app) runBundle(cmd *cobra.Command, f bundleFlags) error {
	if f.duration < 0 {
		return usageError("--duration %s: must not be negative", f.duration)
	}
	req := agent.BundleRequest{
		Duration:    f.duration,
		OutputDir:   f.output,
		Since:       f.since.D(),
		MaxSize:     int64(f.maxSize),
		MaxFileSize: int64(f.maxFileSize),
		NoCapture:   f.noCapture,
		CommandLine: a.args,
	}
	if cmd.Flags().Changed("since") && f.since == 0 {
		return usageError("--since must be longer than 0, e.g. 24h")
	}
	if cmd.Flags().Changed("max-size") && f.maxSize <= 0 {
		return usageError("--max-size must be larger than 0, e.g. 500MiB")
	}
	if cmd.Flags().Changed("max-file-size") && f.maxFileSize <= 0 {
		return usageError("--max-file-size must be larger than 0, e.g. 100MiB")
	}
	if f.format != "" {
		fm, err := bundle.ParseFormat(f.format)
		if err != nil {
			return usageError("--format: %v", err)
		}
		req.Format = fm
	}

	// First Ctrl-C or SIGTERM: finish early with what was collected.
	// Second: abort and remove the partial file.
	ctx, abort := context.WithCancel(cmd.Context())
	defer abort()
	stop := make(chan struct{})
	req.Stop = stop
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	prog := newProgress(a.stderr, f.json)
	go func() {
		n := 0
		for range sigs {
			n++
			if n == 1 {
				close(stop)
				prog.note("interrupted: finishing the bundle with what was collected (press Ctrl-C again to abort)")
			} else {
				prog.note("aborting: removing the partial bundle")
				abort()
				return
			}
		}
	}()
	req.Progress = prog.update
	res, err := a.agent().Bundle(ctx, req)
	prog.done()
	if err != nil {
		if errors.Is(err, bundle.ErrReserve) {
			return err
		}
		if ctx.Err() != nil {
			return errors.New("bundle aborted; no file was left behind")
		}
		return fmt.Errorf("bundle failed: %w", err)
	}
	if f.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	a.printBundle(res)
	return nil
}

func (a *app) printBundle(res *agent.BundleResult) {
	w := a.stdout
	state := "Bundle written"
	if res.Partial {
		state = "Partial bundle written (interrupted)"
	}
	fmt.Fprintf(w, "%s: %s\n", state, res.Path)
	fmt.Fprintf(w, "  size:    %s (%d bytes), %d files, %d items not collected (see manifest.json)\n",
		config.HumanBytes(res.Size), res.Size, res.Files, res.Missing)
	fmt.Fprintf(w, "  SHA-256: %s\n", res.SHA256)
	if res.SignaturePath != "" {
		fmt.Fprintf(w, "  signed:  %s\n", res.SignaturePath)
	}
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "  note:    %s\n", warn)
	}
	if res.KeyCreated {
		fmt.Fprintf(w, "\nThis host had no signing key, so one was created:\n  secret key: %s (keep it private)\n  public key: %s\n  %s\n",
			res.SecretKeyFile, res.PublicKeyFile, res.PublicKey)
	}
	if res.SignaturePath != "" {
		fmt.Fprintf(w, "\nVerify it with:\n  pbxagent verify %s\n", res.Path)
		if res.PublicKey != "" {
			fmt.Fprintf(w, "  minisign -Vm %s -P %s\n", res.Path, res.PublicKey)
		}
	}
	fmt.Fprintf(w, "\nSend both files to PortSIP support.\n")
}
