package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/alert"
	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/delivery"
	"github.com/pbxagent/pbxagent/portsip"
)

// autoFindings is how many lines of the analysis summary an alert mail
// quotes; the whole analysis is in the bundle.
const autoFindings = 6

// autoBundler takes the bundles of `pbxagent run` when an alert fires: the
// flight recorder's last window, through the one bundle pipeline, into the
// auto-bundle folder, then delivered like any other bundle. One runs at a
// time, in the background: the watch loop never waits for it, and the
// service's shutdown cancels it.
type autoBundler struct {
	a    *Agent
	trig *autoTrigger
	ctx  context.Context
	busy chan struct{}
	wg   sync.WaitGroup
}

// newAutoBundler returns the service's auto-bundler, or nil when alert
// bundles are off (recorder.auto_bundle.enabled, or no recorder).
func (a *Agent) newAutoBundler(ctx context.Context) *autoBundler {
	c := a.cfg.Recorder
	if !c.Enabled || !c.AutoBundle.Enabled {
		return nil
	}
	ab := &autoBundler{a: a, trig: newAutoTrigger(c.AutoBundle), ctx: ctx, busy: make(chan struct{}, 1)}
	var taken []time.Time
	if list, err := delivery.List(a.cfg.AutoBundleDir(), nil); err == nil {
		for _, b := range list {
			taken = append(taken, b.Time)
		}
	}
	ab.trig.seed(time.Now(), taken)
	a.log.Info("alert bundles on", "checks", strings.Join(c.AutoBundle.Checks, ","), "window", c.AutoBundle.Window.String(),
		"cooldown", c.AutoBundle.Cooldown.String(), "max_per_day", c.AutoBundle.MaxPerDay, "dir", a.cfg.AutoBundleDir())
	return ab
}

// offer looks at a digest about to be mailed. When one of its problems
// takes a bundle, the bundle starts in the background and the mail is sent
// by it once the bundle is finished (naming it), and offer returns true;
// otherwise the caller mails the digest at once (with a note saying why no
// bundle was taken, when one was called for).
func (ab *autoBundler) offer(d *alert.Digest, mail func(*alert.Digest)) bool {
	if ab == nil {
		return false
	}
	hits := ab.trig.match(d.Items)
	if len(hits) == 0 {
		return false
	}
	select {
	case ab.busy <- struct{}{}:
	default:
		d.Notes = append(d.Notes, "No support bundle taken for this change: another one is being taken.")
		return false
	}
	if ok, why := ab.trig.take(time.Now()); !ok {
		<-ab.busy
		d.Notes = append(d.Notes, "No support bundle taken for this change: "+why+".")
		ab.a.log.Info("alert bundle not taken", "check", hits[0].Check, "reason", why)
		return false
	}
	cfg := ab.a.cfg // the configuration in force now; a reload does not touch it
	api := ab.a.watch.api
	ab.wg.Add(1)
	go func() {
		defer ab.wg.Done()
		defer func() { <-ab.busy }()
		d.Notes = append(d.Notes, ab.take(cfg, api, hits[0].Check))
		mail(d)
	}()
	return true
}

// take runs one bundle and its delivery and returns the mail's note.
//
// The bundle's snapshot shares api, the service's REST API client (one
// token: no second login for the bundle).
func (ab *autoBundler) take(cfg *config.Config, api *portsip.Client, check string) string {
	a := New(cfg, ab.a.configPath, ab.a.version, ab.a.log)
	a.api = api
	ac := cfg.Recorder.AutoBundle
	dir := cfg.AutoBundleDir()
	a.log.Info("alert bundle started", "check", check, "window", ac.Window.String(), "dir", dir)
	res, err := a.Bundle(ab.ctx, BundleRequest{
		Past:        LastWindow(ac.Window.D(), time.Now()),
		OutputDir:   dir,
		CommandLine: []string{"pbxagent", "run", "(alert bundle: " + check + ", last " + ac.Window.String() + ")"},
	})
	if err != nil {
		a.log.Error("alert bundle failed", "check", check, "err", err)
		return fmt.Sprintf("Support bundle for this change: not taken: %v", a.redact(err.Error()))
	}
	a.log.Info("alert bundle written", "check", check, "bundle", res.Path, "size", res.Size)
	opt := delivery.FromConfig(cfg, os.Getenv, a.log)
	opt.Retention = delivery.Retention{MaxTotal: int64(ac.MaxTotalSize), MaxAge: ac.MaxAge.D(), Dir: dir}
	out, derr := delivery.Deliver(ab.ctx, res.Path, opt)
	delivered := ""
	switch {
	case derr != nil:
		a.log.Warn("alert bundle not delivered", "bundle", res.Path, "err", derr)
		delivered = "Delivery failed: " + a.redact(derr.Error())
	case out != nil && out.Receipt != nil:
		delivered = "Uploaded as " + out.Receipt.Object
	}
	return autoNote(ac.Window.String(), res.Path, res.Size, delivered, res.Analysis)
}

// autoNote is the alert mail's paragraph about the bundle taken for it:
// path, size, delivery and the analysis summary's first lines.
func autoNote(window, path string, size int64, delivered, analysis string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Support bundle for this change (the flight recorder's last %s):\n  %s\n  %s", window, path, config.HumanBytes(size))
	if delivered != "" {
		b.WriteString("\n  " + delivered)
	}
	if a := strings.TrimSpace(analysis); a != "" {
		lines := strings.Split(a, "\n")
		if len(lines) > autoFindings {
			lines = append(lines[:autoFindings], "…")
		}
		b.WriteString("\nTop findings of its analysis:\n  " + strings.Join(lines, "\n  "))
	}
	b.WriteString("\nCheck it with `pbxagent verify " + path + "`.")
	return b.String()
}

// redact removes secrets from a message bound for a mail.
func (a *Agent) redact(s string) string {
	out, _ := a.redactor.String(s)
	return out
}

// reconfigure applies a reloaded configuration's checks, cool-down and
// daily maximum; turning alert bundles on or off takes a restart.
func (ab *autoBundler) reconfigure(c config.AutoBundle) {
	if ab != nil {
		ab.trig.reconfigure(c)
	}
}

// wait returns when the running bundle, if any, has ended.
func (ab *autoBundler) wait() {
	if ab != nil {
		ab.wg.Wait()
	}
}
