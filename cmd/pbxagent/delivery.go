package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pbxagent/pbxagent/agent"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/delivery"
)

type uploadFlags struct {
	caseID    string
	url       string
	limitRate config.ByteSize
	partSize  config.ByteSize
	parallel  int
	json      bool
}

func (f *uploadFlags) register(cmd *cobra.Command, withJSON bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.caseID, "case", "", "support case ID: the object is named CASE/HOST/BUNDLE (default from the configuration)")
	fl.StringVar(&f.url, "url", "", "pre-signed PUT URL from support, instead of the configured bucket (no credentials needed)")
	fl.Var(&f.limitRate, "limit-rate", "bandwidth cap in bytes per second, e.g. 2MiB (default from the configuration: none)")
	fl.Var(&f.partSize, "part-size", "multipart part size, at least 5MiB (default from the configuration: 16MiB)")
	fl.IntVar(&f.parallel, "parallel", 0, "parts sent at once, 1 to 16; memory is at most this many part-size buffers (default from the configuration: 4)")
	if withJSON {
		fl.BoolVar(&f.json, "json", false, "print the receipt as JSON on stdout (for scripts)")
	}
}

// deliveryOptions merges the configuration, the environment and the flags.
func (a *app) deliveryOptions(cmd *cobra.Command, f uploadFlags) (delivery.Options, error) {
	opt := delivery.FromConfig(a.cfg, os.Getenv, a.log)
	opt.Host = agent.Hostname()
	if f.caseID != "" {
		opt.Case = f.caseID
	}
	if f.url != "" {
		opt.PresignedURL = f.url
	}
	if cmd.Flags().Changed("limit-rate") {
		if f.limitRate < 0 {
			return opt, usageError("--limit-rate must not be negative")
		}
		opt.LimitRate = int64(f.limitRate)
	}
	if cmd.Flags().Changed("part-size") {
		if f.partSize < 5*config.MiB || f.partSize > 5*config.GiB {
			return opt, usageError("--part-size %s: use 5MiB to 5GiB", f.partSize)
		}
		opt.PartSize = int64(f.partSize)
	}
	if cmd.Flags().Changed("parallel") {
		if f.parallel < 1 || f.parallel > delivery.MaxParallel {
			return opt, usageError("--parallel %d: use 1 to %d parts at once", f.parallel, delivery.MaxParallel)
		}
		opt.Parallel = f.parallel
	}
	if opt.PresignedURL == "" && opt.Endpoint == "" {
		return opt, usageError("nowhere to upload to: set delivery.upload.endpoint and bucket in %s, or pass support's pre-signed URL with --url", a.configPath)
	}
	if _, err := delivery.ObjectName(opt.Case, opt.Host, "x"); err != nil {
		return opt, usageError("--case: %v", err)
	}
	return opt, nil
}

// uploadProgress shows the upload of opt on the live line of a terminal
// (bytes, rate, parts, time left), with the upload's log lines printed
// above it; else nothing: with --json (quiet), or when stderr is not a
// terminal (the log gets the retries). It returns the function that
// removes the line.
func (a *app) uploadProgress(quiet bool, opt *delivery.UploadOptions) (finish func()) {
	if quiet || !isTerminal(a.stderr) {
		return func() {}
	}
	u := newUploadLine(a.stderr, newUploadMeter(opt.PresignedURL != "", opt.PartSize))
	opt.Progress = u.report
	opt.Log = slog.New(a.redacted(slog.NewTextHandler(u.p.logWriter(), &slog.HandlerOptions{Level: a.level})))
	return u.finish
}

// interruptible cancels the context on Ctrl-C or SIGTERM; the upload's
// state stays, so the next run resumes.
func interruptible(parent context.Context) (context.Context, func()) {
	ctx, cancel := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	return ctx, cancel
}

func (a *app) uploadCmd() *cobra.Command {
	var f uploadFlags
	cmd := &cobra.Command{
		Use:   "upload BUNDLE",
		Short: "Upload a bundle (and its signature) to support's bucket or a pre-signed URL",
		Long: `Upload a bundle to S3-compatible object storage (delivery.upload in the
configuration; credentials there or in PBXAGENT_S3_ACCESS_KEY and
PBXAGENT_S3_SECRET_KEY), as CASE/HOST/BUNDLE with BUNDLE.minisig and a
BUNDLE.receipt.json next to it; or, with --url, to a pre-signed PUT URL that
support handed out (no credentials needed).

Bucket uploads go in parts, each checked by MD5 and SHA-256. An interrupted
upload (network drop, Ctrl-C, reboot) resumes from the last part the server
confirmed when you run the same command again. Nothing is deleted locally.
The receipt (ETag, SHA-256) is also written next to the bundle as
BUNDLE.upload.json.`,
		Example: `  pbxagent upload /var/lib/pbxagent/bundles/pbx-support-pbx1-20261127T101500Z.tar.gz.age --case 12345
  pbxagent upload bundle.tar.gz --url 'https://s3.example.com/support/12345/b.tar.gz?X-Amz-...'
  pbxagent upload bundle.tar.gz --limit-rate 1MiB --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("upload needs exactly one BUNDLE argument (see 'pbxagent upload --help')")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opt, err := a.deliveryOptions(cmd, f)
			if err != nil {
				return err
			}
			if _, err := os.Stat(args[0]); err != nil {
				return usageError("cannot read bundle %s: %v", args[0], err)
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			finish := a.uploadProgress(f.json, &opt.UploadOptions)
			rc, err := delivery.Upload(ctx, args[0], opt.UploadOptions)
			finish()
			if err != nil {
				return fmt.Errorf("upload failed, %s was kept: %w", args[0], err)
			}
			return a.printReceipt(rc, f.json)
		},
	}
	f.register(cmd, true)
	return cmd
}

func (a *app) printReceipt(rc *delivery.Receipt, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rc)
	}
	w := a.stdout
	fmt.Fprintf(w, "Uploaded %s (%s) to %s", rc.Bundle, config.HumanBytes(rc.Size), rc.Endpoint)
	if rc.Bucket != "" {
		fmt.Fprintf(w, " bucket %s", rc.Bucket)
	}
	fmt.Fprintf(w, "\n  object:  %s\n  ETag:    %s\n  SHA-256: %s\n", rc.Object, rc.ETag, rc.SHA256)
	if rc.Resumed {
		fmt.Fprintf(w, "  resumed: %d of %d parts were already on the server; sent %d (%s)\n",
			rc.Parts-rc.PartsSent, rc.Parts, rc.PartsSent, config.HumanBytes(rc.BytesSent))
	}
	if rc.Signature != "" {
		fmt.Fprintf(w, "  signature: %s\n", rc.Signature)
	}
	return nil
}

func (a *app) bundlesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundles",
		Short: "List or remove the bundles in the output folder",
		Args:  noArgs,
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List bundles with size, time and signed/encrypted/uploaded state",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt := delivery.FromConfig(a.cfg, os.Getenv, a.log)
			bs, err := delivery.List(a.cfg.OutputDir(), opt.PublicKey)
			if err != nil {
				return err
			}
			return a.printBundles(a.stdout, bs, asJSON)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	rm := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove bundles (with their signature and upload receipt) by name",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("bundles rm needs at least one bundle NAME (see 'pbxagent bundles list')")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, n := range args {
				if err := delivery.Remove(a.cfg.OutputDir(), n); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.stdout, "removed %s\n", n)
			}
			return errors.Join(errs...)
		},
	}
	cmd.AddCommand(list, rm)
	return cmd
}

func (a *app) printBundles(out io.Writer, bs []delivery.Bundle, asJSON bool) error {
	if asJSON {
		if bs == nil {
			bs = []delivery.Bundle{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(bs)
	}
	if len(bs) == 0 {
		fmt.Fprintf(out, "no bundles in %s\n", a.cfg.OutputDir())
		return nil
	}
	yn := map[bool]string{true: "yes", false: "no"}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tTIME (UTC)\tSIGNED\tENCRYPTED\tUPLOADED")
	for _, b := range bs {
		up := yn[b.Uploaded]
		if b.Uploaded {
			up = b.Object
		}
		signed := yn[b.Signed]
		if b.Signed && !b.Proven {
			signed = "yes (" + b.Why + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, config.HumanBytes(b.Size), b.Time.Format("2006-01-02 15:04:05"),
			signed, yn[b.Encrypted], up)
	}
	return tw.Flush()
}

// bundleDelivery checks the delivery flags of `bundle` before anything is
// written.
func (a *app) bundleDelivery(cmd *cobra.Command, f bundleFlags) (delivery.Options, error) {
	for _, r := range f.encryptTo {
		if _, err := delivery.ParseRecipients([]string{r}); err != nil {
			return delivery.Options{}, usageError("--encrypt-to: %v", err)
		}
	}
	if len(f.encryptTo) == 0 && len(a.cfg.Delivery.EncryptTo) == 0 && a.cfg.Delivery.RequireEncryption {
		return delivery.Options{}, usageError("%v, or pass --encrypt-to", delivery.ErrPlaintextRefused)
	}
	upload := f.upload || (a.cfg.Delivery.Upload.Auto && delivery.UploadConfigured(a.cfg))
	if !upload {
		opt := delivery.FromConfig(a.cfg, os.Getenv, a.log)
		opt.Upload = false
		return opt, nil
	}
	opt, err := a.deliveryOptions(cmd, f.up)
	opt.Upload = true
	return opt, err
}

// deliverBundle uploads the new bundle if asked, applies retention and
// prints the outcome; an upload failure keeps the bundle and exits 1.
func (a *app) deliverBundle(ctx context.Context, res *agent.BundleResult, opt delivery.Options, f bundleFlags) error {
	if opt.Upload && !f.json {
		a.printBundle(res)
		fmt.Fprintln(a.stdout)
	}
	finish := func() {}
	if opt.Upload {
		finish = a.uploadProgress(f.json, &opt.UploadOptions)
	}
	out, derr := delivery.Deliver(ctx, res.Path, opt)
	finish() // before the outcome is printed, which the line would overdraw
	if f.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			*agent.BundleResult
			Delivery *delivery.Outcome `json:"delivery,omitempty"`
		}{res, out}); err != nil {
			return err
		}
	} else if !opt.Upload {
		a.printBundle(res)
	}
	if out != nil {
		for _, b := range out.Removed {
			fmt.Fprintf(a.stderr, "retention: removed old bundle %s (%s)\n", b.Name, config.HumanBytes(b.Size))
		}
		if out.Receipt != nil && !f.json {
			if err := a.printReceipt(out.Receipt, false); err != nil {
				return err
			}
		}
	}
	if derr != nil {
		if opt.Upload && (out == nil || out.Receipt == nil) {
			return fmt.Errorf("bundle written to %s, but the upload failed (run 'pbxagent upload %s' to retry): %w", res.Path, res.Path, derr)
		}
		return derr
	}
	return nil
}
