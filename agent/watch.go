package agent

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/alert"
	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/logprune"
	"github.com/pbxagent/pbxagent/mailer"
	"github.com/pbxagent/pbxagent/notify"
	"github.com/pbxagent/pbxagent/portsip"
)

// checkTimeout bounds one check in a round.
const checkTimeout = 30 * time.Second

// watchers are the stateful checks of one agent: the disk forecast keeps its
// samples, the blocked-IP check remembers what it has seen, so the same
// objects serve every round of `pbxagent run`.
type watchers struct {
	list     []collectors.Named
	api      *portsip.Client // shared by the API checks and the bundles the service takes
	initOnce sync.Once
}

// Checks returns the watch list (collectors.Build with TagWatch). The same
// objects are returned on every call.
func (a *Agent) Checks() []collectors.Named {
	a.watch.initOnce.Do(func() {
		// A bundle the service takes shares the service's client (a.api);
		// otherwise one is made here. An error leaves api nil: Build then
		// reports it on the API checks.
		a.watch.api = a.api
		if a.watch.api == nil {
			a.watch.api, _ = collectors.NewAPIClient(a.cfg, a.log)
		}
		a.watch.list = collectors.Build(collectors.Env{Config: a.cfg, Sanitize: a.sanitizeArgs, Log: a.log, API: a.watch.api}, collectors.TagWatch)
	})
	return a.watch.list
}

// Status runs every check once.
func (a *Agent) Status(ctx context.Context) []collectors.Outcome {
	return collectors.Run(ctx, a.Checks(), checkTimeout)
}

// PrunePlan returns what `logs prune` would delete under the configured
// budget, without deleting anything.
func (a *Agent) PrunePlan() (*logprune.Result, error) {
	l := a.cfg.Checks.Logs
	dir := a.cfg.LogDir()
	if _, err := os.Lstat(dir); err != nil {
		return nil, fmt.Errorf("PBX log folder %s: %w (set pbx.log_dir or pbx.data_dir if PortSIP uses another path)", dir, err)
	}
	return logprune.Plan(dir, l.PruneMaxAge.D(), int64(l.PruneMaxTotal), time.Now())
}

// Prune deletes what PrunePlan selects, logging every deletion.
func (a *Agent) Prune(ctx context.Context) (*logprune.Result, error) {
	r, err := a.PrunePlan()
	if err != nil {
		return nil, err
	}
	if err := logprune.Apply(ctx, r, a.log); err != nil {
		return r, err
	}
	return r, nil
}

// Mailer returns the mail sender for the configured SMTP server; the
// configuration must name one.
func (a *Agent) Mailer(extra ...mailer.Option) (*mailer.Mailer, error) {
	if a.cfg.SMTP.Host == "" {
		return nil, fmt.Errorf("no mail server configured: set smtp.host, smtp.from and smtp.to in %s", a.configPathOrDefault())
	}
	opts := []mailer.Option{mailer.WithUserAgent("pbxagent/" + a.version), mailer.WithRedactor(a.redactor)}
	if f := a.cfg.SMTP.CAFile; f != "" {
		pem, err := readCAFile(f)
		if err != nil {
			return nil, fmt.Errorf("smtp.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp.ca_file %s holds no PEM certificate", f)
		}
		opts = append(opts, mailer.WithRootCAs(pool))
	}
	opts = append(opts, extra...)
	return mailer.New(a.cfg.SMTP, a.log, opts...)
}

// maxCAFile bounds what is read of smtp.ca_file: a bundle of every public
// certificate authority is about 200 KiB.
const maxCAFile = 4 << 20

// readCAFile reads the administrator's CA file: a regular file (so a FIFO
// or a device named by mistake cannot block or feed the agent without
// end), read up to maxCAFile bytes. Symlinks are followed: the file is
// named by root in the agent's own configuration, and certificate folders
// are made of symlinks.
func readCAFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); name a PEM file", path, st.Mode().Type())
	}
	if st.Size() > maxCAFile {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d a PEM bundle of certificate authorities needs", path, st.Size(), maxCAFile)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxCAFile))
}

func (a *Agent) configPathOrDefault() string {
	if a.configPath != "" {
		return a.configPath
	}
	return config.DefaultPath()
}

// Run is the service: a round of checks every checks.interval, alert rules
// over the results, alerts through the receivers' on-disk queues, and
// optional log pruning. It returns when ctx is cancelled, after flushing
// the queues for at most a few seconds.
func (a *Agent) Run(ctx context.Context) error { return a.Serve(ctx, ServeOptions{}) }

// Serve is Run under a service manager: it reports readiness after the
// first round, sends heartbeats from the loop and applies configuration
// reloads without restarting (the alert engine keeps its memory).
func (a *Agent) Serve(ctx context.Context, opts ServeOptions) error {
	a.notify = opts.Notify
	if a.notify == nil {
		a.notify = nopNotifier{}
	}
	a.cfgState = ConfigState{LoadedAt: time.Now()}
	eng, err := alert.New(alert.Options{Host: Hostname(), Alerts: a.cfg.Alerts, StateDir: a.cfg.Agent.StateDir, Log: a.log})
	if err != nil {
		return fmt.Errorf("start alert rules: %w", err)
	}
	var wg sync.WaitGroup
	fctx, stopFleet := context.WithCancel(ctx)
	defer func() { stopFleet(); wg.Wait() }()
	fl, err := a.startFleet(fctx, &wg, eng)
	if err != nil {
		return err
	}
	defer a.startRecorder(ctx, fl)()
	a.auto = a.newAutoBundler(ctx)
	a.log.Info("pbxagent running", "version", a.version, "checks", len(a.Checks()), "interval", a.cfg.Checks.Interval.String())
	return a.serveLoop(ctx, opts, eng, fl)
}

// startRecorder starts the flight recorder when it is enabled and returns
// the function that stops it and waits for it.
func (a *Agent) startRecorder(ctx context.Context, fl *fleet) (stop func()) {
	if !a.cfg.Recorder.Enabled {
		a.log.Info("flight recorder off (recorder.enabled: false)")
		return func() {}
	}
	snap := New(a.cfg, a.configPath, a.version, a.log) // scrapes never see a reload half done
	if err := fl.metrics.Register(newRecorderCollector(snap.RecorderState)); err != nil {
		a.log.Warn("flight recorder metrics not exported", "err", err)
	}
	rctx, rstop := context.WithCancel(ctx)
	rdone := make(chan struct{})
	record := a.newRecorderRun()
	go func() {
		defer close(rdone)
		record(rctx)
	}()
	return func() { rstop(); <-rdone }
}

// serveLoop runs the first round, then a round every checks.interval, the
// due alerts, reloads and heartbeats until ctx ends.
func (a *Agent) serveLoop(ctx context.Context, opts ServeOptions, eng *alert.Engine, fl *fleet) error {
	interval := a.cfg.Checks.Interval.D()
	round := time.NewTicker(interval)
	defer round.Stop()
	due := time.NewTicker(5 * time.Second)
	defer due.Stop()
	var beat <-chan time.Time
	if opts.Heartbeat > 0 {
		t := time.NewTicker(opts.Heartbeat)
		defer t.Stop()
		beat = t.C
	}
	a.round(ctx, eng, fl, a.Checks())
	a.notify.Ready()
	for {
		select {
		case <-ctx.Done():
			a.auto.wait() // cancelled with ctx; its mail still goes out
			fl.stop(true, a)
			a.log.Info("pbxagent stopped")
			return nil
		case <-beat:
			a.notify.Alive()
		case r := <-opts.Reloads:
			a.applyReload(r, fl)
			eng.SetAlerts(a.cfg.Alerts)
			a.auto.reconfigure(a.cfg.Recorder.AutoBundle)
			if d := a.cfg.Checks.Interval.D(); d != interval {
				interval = d
				round.Reset(d)
			}
			if r.Err == nil {
				a.round(ctx, eng, fl, a.Checks())
			}
		case <-round.C:
			a.round(ctx, eng, fl, a.Checks())
		case <-due.C:
			a.sendDue(eng, fl)
		}
	}
}

// round runs the checks once, prunes logs when enabled and feeds the rules.
func (a *Agent) round(ctx context.Context, eng *alert.Engine, fl *fleet, checks []collectors.Named) {
	start := time.Now()
	if a.cfg.Checks.Logs.Prune {
		if r, err := a.Prune(ctx); err != nil {
			a.log.Error("log pruning failed", "err", err)
		} else if lc, ok := collectors.Find(checks, "logs").(*collectors.LogCheck); ok && r != nil && len(r.Deleted) > 0 {
			lc.NotePruned(*r)
		}
	}
	outs := collectors.Run(ctx, checks, checkTimeout)
	if ctx.Err() != nil {
		return
	}
	for _, o := range outs {
		lvl := slog.LevelDebug
		if o.Failed() {
			lvl = slog.LevelWarn
		}
		a.log.Log(ctx, lvl, "check", "check", o.Name, "state", o.Label(), "summary", o.Line(), "duration", o.Duration)
	}
	a.lastOuts = outs
	a.saveRound(outs)
	if a.notify != nil {
		a.notify.Status(a.roundLine(outs))
	}
	a.observeFleet(ctx, fl, start, outs)
	// The service idles until the next round: hand the round's garbage
	// back to the OS so its RSS stays at its working set (bench/idle.sh).
	defer debug.FreeOSMemory()
	if err := eng.Observe(time.Now(), outs); err != nil {
		a.log.Warn("alert state not saved; alerting goes on from memory", "err", err)
	}
	// Only the service moves the checks' saved state (the CDR cursor):
	// `status` and `bundle` read without it, so a restart skips nothing.
	if err := collectors.Persist(checks); err != nil {
		a.log.Warn("check state not saved; the next start reads again from the last saved point", "err", err)
	}
	a.sendDue(eng, fl)
}

// sendDue logs the due digest and queues it for every receiver. When the
// change takes an alert bundle, the mail waits for the bundle (it names
// it) and the other receivers get the events at once.
func (a *Agent) sendDue(eng *alert.Engine, fl *fleet) {
	d := eng.Due(time.Now())
	if d == nil {
		return
	}
	for _, it := range d.Items {
		// One entry per check, with its name and state as journal fields
		// (journalctl -u pbxagent CHECK=disk).
		level := slog.LevelWarn
		if it.Kind == alert.KindRecovery {
			level = slog.LevelInfo
		}
		a.log.Log(context.Background(), level, "alert", "subject", d.Subject(), "check", it.Check, "state", it.To.String(), "kind", it.Kind.String())
	}
	// An alert bundle is taken with or without a mail server.
	mailLater := func(d *alert.Digest) { fl.send(d, notify.Only(notify.ReceiverEmail)) }
	if a.auto.offer(d, mailLater) {
		fl.send(d, notify.Except(notify.ReceiverEmail))
		return
	}
	fl.send(d, nil)
}
