package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbxagent/pbxagent/agent"
	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/capture"
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
	noSign      bool
	json        bool

	ifaces       []string
	sipPorts     []int
	rtpRange     string
	hosts        []string
	noRTP        bool
	all          bool
	noRTPPayload bool
	snaplen      int
	maxCapture   config.ByteSize
	maxPackets   int64

	encryptTo []string
	upload    bool
	up        uploadFlags
	last      time.Duration
	from, to  string
}

func (a *app) bundleCmd() *cobra.Command {
	var f bundleFlags
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Build a signed support bundle (logs, capture, system snapshot, redacted config)",
		Long: `Build one support bundle for PortSIP support: the PBX logs, a system
snapshot, the PBX and agent configuration with every secret redacted, and a
manifest of SHA-256 hashes, in one archive signed with the host's key.

With --duration, packets are captured on every interface (capture/capture.pcapng,
SIP ports, RTP range and ICMP by default) and callmanager.log is followed for
that long while you reproduce the problem; the lines written meanwhile are in
logs/callmanager.window.log, even if the PBX rotates the log.

With --last or --from/--to, the packets of that past window come from the
flight recorder that 'pbxagent run' keeps (recorder.* in the configuration):
the running service seals its open segment first; without a service the
finished segments are read. --last with --duration joins the past window and
the live capture in capture/capture.pcapng.

Ctrl-C, SIGTERM or SIGHUP (a closed SSH session) finishes the bundle early with
what was collected (marked partial) within 5 seconds; a second Ctrl-C aborts and
leaves no file behind. Unfinished files a killed run left in the output folder
are removed by the next run.

PBX files that are symlinks, FIFOs or devices are never read; they are listed
in manifest.json as refused, with the reason. A signing key that cannot be used
is an error: replace it with 'pbxagent keygen --force', or pass --no-sign.`,
		Example: `  pbxagent bundle --duration 30s
  pbxagent bundle --output /mnt/usb --since 72h
  pbxagent bundle --duration 60s --iface eth0 --host 203.0.113.7
  pbxagent bundle --duration 30s --no-rtp-payload
  pbxagent bundle --last 15m
  pbxagent bundle --from 2026-12-04T03:00:00Z --to 2026-12-04T03:20:00Z
  pbxagent bundle --last 10m --duration 30s
  pbxagent bundle --json | jq -r .path`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runBundle(cmd, f)
		},
	}
	f.register(cmd)
	return cmd
}

// register adds the bundle command's flags, bound to f.
func (f *bundleFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.DurationVar(&f.duration, "duration", 0, "follow callmanager.log (and capture packets) for this long, e.g. 30s")
	fl.StringVarP(&f.output, "output", "o", "", "output folder (default from the configuration: <state_dir>/bundles)")
	fl.Var(&f.since, "since", "include archived *.gz logs modified within this window, e.g. 24h or 7d (default from the configuration: 24h)")
	fl.Var(&f.maxSize, "max-size", "cap on the bytes put into the bundle, e.g. 500MiB (default from the configuration)")
	fl.Var(&f.maxFileSize, "max-file-size", "cap on one file; logs keep their newest bytes (default from the configuration)")
	fl.StringVar(&f.format, "format", "", "archive format: tar.gz, tar.zst or zip (default tar.gz; zip on Windows)")
	fl.BoolVar(&f.noCapture, "no-capture", false, "do not capture packets during --duration")
	fl.BoolVar(&f.noSign, "no-sign", false, "write an unsigned bundle (when the signing key is broken and a bundle is needed now)")
	fl.StringArrayVar(&f.ifaces, "iface", nil, "capture on this interface only (repeatable; default: every interface that is up)")
	fl.IntSliceVar(&f.sipPorts, "sip-port", nil, "SIP port to capture, TCP and UDP (repeatable; default: the PBX's SIP ports 5060,5061,5063,5065,5066,5067)")
	fl.StringVar(&f.rtpRange, "rtp-range", "", "RTP port range to capture, e.g. 45000-65000 (default: the PBX's)")
	fl.StringArrayVar(&f.hosts, "host", nil, "capture only packets to or from this IP address (repeatable)")
	fl.BoolVar(&f.noRTP, "no-rtp", false, "do not capture RTP")
	fl.BoolVar(&f.all, "all", false, "capture every packet, not only SIP, RTP and ICMP")
	fl.BoolVar(&f.noRTPPayload, "no-rtp-payload", false, "keep RTP headers only, not the audio (privacy)")
	fl.IntVar(&f.snaplen, "snaplen", 65535, "bytes kept of each packet")
	fl.Var(&f.maxCapture, "max-capture-size", "cap on the capture file, e.g. 200MiB (default 200MiB)")
	fl.Int64Var(&f.maxPackets, "max-packets", 0, "cap on captured packets (default 5000000)")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON on stdout (for scripts)")
	fl.StringArrayVar(&f.encryptTo, "encrypt-to", nil, "encrypt the bundle to this age or SSH public key, or a file of them (repeatable; adds to delivery.encrypt_to)")
	fl.BoolVar(&f.upload, "upload", false, "upload the bundle when it is written (see 'pbxagent upload --help')")
	f.up.register(cmd, false)
	fl.DurationVar(&f.last, "last", 0, "take the flight recorder's packets of the last period, e.g. 15m (joins --duration's live capture)")
	fl.StringVar(&f.from, "from", "", "start of the flight recorder window, RFC 3339, e.g. 2026-12-04T03:00:00Z")
	fl.StringVar(&f.to, "to", "", "end of the flight recorder window, RFC 3339 (default: now)")
}

// captureRequest turns the capture flags into a request; a wrong flag is a
// usage error before anything is written.
func (a *app) captureRequest(cmd *cobra.Command, f bundleFlags) (agent.CaptureRequest, error) {
	cr := agent.CaptureRequest{
		Interfaces:   f.ifaces,
		SnapLen:      f.snaplen,
		NoRTPPayload: f.noRTPPayload,
		MaxBytes:     int64(f.maxCapture),
		MaxPackets:   f.maxPackets,
	}
	changed := cmd.Flags().Changed
	if f.snaplen < 64 || f.snaplen > 262144 {
		return cr, usageError("--snaplen %d: use a value from 64 to 262144", f.snaplen)
	}
	if changed("max-capture-size") && f.maxCapture <= 0 {
		return cr, usageError("--max-capture-size must be larger than 0, e.g. 200MiB")
	}
	if f.maxPackets < 0 {
		return cr, usageError("--max-packets must not be negative")
	}
	for _, name := range f.ifaces {
		if _, err := net.InterfaceByName(name); err != nil {
			return cr, usageError("--iface %s: no such interface on this host (have: %s)", name, interfaceNames())
		}
	}
	if !(changed("sip-port") || changed("rtp-range") || changed("host") || f.noRTP || f.all) {
		return cr, nil
	}
	filter, err := a.captureFilter(changed, f)
	if err != nil {
		return cr, err
	}
	cr.Filter = &filter
	return cr, nil
}

// captureFilter is the default capture filter changed by the filter flags.
func (a *app) captureFilter(changed func(string) bool, f bundleFlags) (capture.Filter, error) {
	filter := a.agent().DefaultFilter()
	if changed("sip-port") {
		for _, p := range f.sipPorts {
			if p < 1 || p > 65535 {
				return filter, usageError("--sip-port %d: use a port from 1 to 65535", p)
			}
		}
		filter.SIPPorts = f.sipPorts
	}
	if changed("rtp-range") {
		lo, hi, err := config.ParsePortRange(f.rtpRange)
		if err != nil {
			return filter, usageError("--rtp-range %q: %v", f.rtpRange, err)
		}
		filter.RTPLow, filter.RTPHigh = lo, hi
	}
	for _, h := range f.hosts {
		ip, err := netip.ParseAddr(h)
		if err != nil {
			return filter, usageError("--host %q: give an IP address such as 203.0.113.7 or 2001:db8::1", h)
		}
		filter.Hosts = append(filter.Hosts, ip)
	}
	filter.NoRTP = f.noRTP
	filter.All = f.all
	if err := filter.Validate(); err != nil {
		return filter, usageError("capture filter: %v", err)
	}
	return filter, nil
}

func interfaceNames() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "unknown"
	}
	names := make([]string, 0, len(ifs))
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return strings.Join(names, ", ")
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments, got %q (see '%s --help')", cmd.CommandPath(), args, cmd.CommandPath())
	}
	return nil
}

// stopGrace is how long a bundle may take to finish after the first
// interruption before it is aborted, so that it always ends within 5 s.
const stopGrace = 4 * time.Second

// stopHard is how long an aborted bundle may take to clean up before the
// process exits regardless.
const stopHard = 800 * time.Millisecond

func (a *app) runBundle(cmd *cobra.Command, f bundleFlags) error {
	req, err := a.bundleRequest(cmd, f)
	if err != nil {
		return err
	}
	dopt, err := a.bundleDelivery(cmd, f)
	if err != nil {
		return err
	}
	if req.Past, err = pastWindow(cmd, f, time.Now()); err != nil {
		return err
	}
	if f.format != "" {
		fm, err := bundle.ParseFormat(f.format)
		if err != nil {
			return usageError("--format: %v", err)
		}
		req.Format = fm
	}
	ctx, abort := context.WithCancel(cmd.Context())
	defer abort()
	stop := make(chan struct{})
	req.Stop = stop
	prog := newProgress(a.stderr, f.json)
	defer a.watchStops(prog, stop, abort)()
	req.Progress = prog.update
	if prog.tty {
		a.logAboveProgress(prog)
	}
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
	return a.deliverBundle(ctx, res, dopt, f)
}

// bundleRequest turns the bundle and capture flags into a request; a wrong
// flag is a usage error before anything is written.
func (a *app) bundleRequest(cmd *cobra.Command, f bundleFlags) (agent.BundleRequest, error) {
	if f.duration < 0 {
		return agent.BundleRequest{}, usageError("--duration %s: must not be negative", f.duration)
	}
	req := agent.BundleRequest{
		Duration:    f.duration,
		OutputDir:   f.output,
		Since:       f.since.D(),
		MaxSize:     int64(f.maxSize),
		MaxFileSize: int64(f.maxFileSize),
		NoCapture:   f.noCapture,
		NoSign:      f.noSign,
		CommandLine: a.args,
		EncryptTo:   f.encryptTo,
	}
	if cmd.Flags().Changed("since") && f.since == 0 {
		return req, usageError("--since must be longer than 0, e.g. 24h")
	}
	if cmd.Flags().Changed("max-size") && f.maxSize <= 0 {
		return req, usageError("--max-size must be larger than 0, e.g. 500MiB")
	}
	if cmd.Flags().Changed("max-file-size") && f.maxFileSize <= 0 {
		return req, usageError("--max-file-size must be larger than 0, e.g. 100MiB")
	}
	cr, err := a.captureRequest(cmd, f)
	if err != nil {
		return req, err
	}
	req.Capture = cr
	return req, nil
}

// watchStops handles the signals during a bundle and returns the function
// that stops watching. First Ctrl-C, SIGTERM or SIGHUP (a closed SSH
// session): close stop, so the bundle finishes early with what was
// collected, within stopGrace. Second, or past the grace: abort and remove
// the partial file.
func (a *app) watchStops(prog *progress, stop chan struct{}, abort context.CancelFunc) func() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// A closed terminal must not kill the run through a write to it.
	signal.Ignore(syscall.SIGPIPE)
	go func() {
		n := 0
		for range sigs {
			n++
			if n > 1 {
				prog.note("aborting: removing the partial bundle")
				abort()
				return
			}
			close(stop)
			prog.note("interrupted: finishing the bundle with what was collected (press Ctrl-C again to abort)")
			time.AfterFunc(stopGrace, func() {
				prog.note("the bundle did not finish in time after the interruption: aborting")
				abort()
				time.AfterFunc(stopHard, func() {
					// Something ignores cancellation; the next run
					// removes the unlocked partial file.
					fmt.Fprintln(a.stderr, "pbxagent: bundle aborted; stopping now")
					os.Exit(1)
				})
			})
		}
	}()
	return func() { signal.Stop(sigs) }
}

// logAboveProgress sends log lines above the live progress line, which is
// then redrawn. On a terminal the line tells the progress, so the log shows
// warnings and errors only unless --log-level asks for more.
func (a *app) logAboveProgress(prog *progress) {
	lv := a.level
	if a.logLevel == "" {
		lv = max(lv, slog.LevelWarn)
	}
	a.log = slog.New(a.redacted(slog.NewTextHandler(prog.logWriter(), &slog.HandlerOptions{Level: lv})))
}

func (a *app) printBundle(res *agent.BundleResult) {
	w := a.text()
	state := "Bundle written"
	if res.Partial {
		state = "Partial bundle written (interrupted)"
	}
	if res.PBXMissing != "" {
		fmt.Fprintf(w, "UNKNOWN: %s\n\n", res.PBXMissing)
	}
	fmt.Fprintf(w, "%s: %s\n", state, res.Path)
	fmt.Fprintf(w, "  size:    %s (%d bytes), %d files, %d items not collected (see manifest.json)\n",
		config.HumanBytes(res.Size), res.Size, res.Files, res.Missing)
	fmt.Fprintf(w, "  SHA-256: %s\n", res.SHA256)
	if res.SignaturePath != "" {
		fmt.Fprintf(w, "  signed:  %s\n", res.SignaturePath)
	}
	if c := res.Capture; c != nil {
		fmt.Fprintf(w, "  capture: %d packets, %d dropped by the kernel", c.Packets, c.KernelDropped)
		if c.Truncated {
			fmt.Fprintf(w, ", stopped early (%s)", c.StopReason)
		}
		fmt.Fprintln(w)
	}
	if res.Analysis != "" {
		fmt.Fprintf(w, "\nAnalysis (report.html in the bundle):\n%s\n", indent(res.Analysis, "  "))
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
	if res.SignaturePath != "" {
		fmt.Fprintf(w, "\nSend both files to PortSIP support.\n")
	} else {
		fmt.Fprintf(w, "\nSend the archive to PortSIP support.\n")
	}
}

// pastWindow turns --last, --from and --to into the flight recorder window.
func pastWindow(cmd *cobra.Command, f bundleFlags, now time.Time) (agent.Window, error) {
	changed := cmd.Flags().Changed
	if changed("last") && (changed("from") || changed("to")) {
		return agent.Window{}, usageError("--last and --from/--to choose the same window: give one of them")
	}
	if changed("last") {
		if f.last <= 0 {
			return agent.Window{}, usageError("--last %s: must be longer than 0, e.g. 15m", f.last)
		}
		return agent.LastWindow(f.last, now), nil
	}
	if !changed("from") {
		if changed("to") {
			return agent.Window{}, usageError("--to needs --from (or use --last)")
		}
		return agent.Window{}, nil
	}
	from, err := time.Parse(time.RFC3339, f.from)
	if err != nil {
		return agent.Window{}, usageError("--from %q: give an RFC 3339 time such as 2026-12-04T03:00:00Z or 2026-12-04T04:00:00+01:00", f.from)
	}
	to := now
	if changed("to") {
		if f.duration > 0 {
			return agent.Window{}, usageError("--to ends the window in the past; --duration adds a live window after now: use --from without --to, or --last")
		}
		if to, err = time.Parse(time.RFC3339, f.to); err != nil {
			return agent.Window{}, usageError("--to %q: give an RFC 3339 time such as 2026-12-04T03:20:00Z", f.to)
		}
	}
	if !to.After(from) {
		return agent.Window{}, usageError("--from %s is not before --to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return agent.Window{From: from, To: to}, nil
}
