package agent

import (
	"context"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/alert"
	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/mailer"
	"github.com/pbxagent/pbxagent/metrics"
	"github.com/pbxagent/pbxagent/notify"
)

// fleet is the way out of `pbxagent run`: the /metrics endpoint and the
// alert receivers (email, Alertmanager, webhook), each behind its durable
// queue, fed by one fan-out. metrics and am are nil when not configured (a
// nil *metrics.Metrics ignores every call).
//
// Parts of the service with their own numbers (the flight recorder) add
// them with fl.metrics.Register, or count packets with
// fl.metrics.Captured("recorder", packets, drops).
type fleet struct {
	metrics *metrics.Metrics
	out     *notify.Fanout
	am      *notify.Alertmanager

	ctx  context.Context
	wg   *sync.WaitGroup
	runs sync.Map // receiver name → context.CancelFunc of its queue runner

	mu     sync.Mutex
	firing map[string]notify.Event // check → latest firing event, for Alertmanager refreshes
}

// startFleet builds the metrics registry and the receivers of the
// configuration and starts their goroutines on wg; a listener that cannot
// be opened, a mail setting that cannot be used or a queue folder that
// cannot be created is an error at start.
func (a *Agent) startFleet(ctx context.Context, wg *sync.WaitGroup, eng *alert.Engine) (*fleet, error) {
	f := &fleet{firing: map[string]notify.Event{}, ctx: ctx, wg: wg,
		out: notify.NewFanout(a.redact, a.log)}
	if mc := a.cfg.Metrics; mc.Enabled {
		l, err := metrics.Listen(mc)
		if err != nil {
			return nil, err
		}
		f.metrics = metrics.New(a.version)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.metrics.Serve(ctx, l, mc.WebConfig, a.log); err != nil {
				a.log.Error("metrics endpoint stopped", "err", err)
			}
		}()
	}
	if err := a.setMail(f); err != nil {
		return nil, err
	}
	ua := "pbxagent/" + a.version
	var receivers []notify.Receiver
	if c := a.cfg.Alerts.Alertmanager; c.URL != "" {
		f.am = notify.NewAlertmanager(c, ua)
		receivers = append(receivers, f.am)
	}
	if c := a.cfg.Alerts.Webhook; c.URL != "" {
		receivers = append(receivers, notify.NewWebhook(c, ua))
	}
	for _, r := range receivers {
		if _, err := a.addReceiver(f, r); err != nil {
			return nil, err
		}
	}
	// Alerts already firing when the agent starts are refreshed too.
	for _, s := range eng.Status() {
		if s.State != collectors.StateOK {
			f.firing[s.Check] = notify.Event{Check: s.Check, Kind: "reminder", State: s.State.String(), Since: s.Since,
				Summary: s.Check + " is " + s.State.String()}
		}
	}
	return f, nil
}

// addReceiver opens r's queue, wires it to the metrics and the fan-out and
// runs it; the queue is returned before it runs.
func (a *Agent) addReceiver(f *fleet, r notify.Receiver, before ...func(*notify.Queue) error) (*notify.Queue, error) {
	q, err := notify.NewQueue(r, a.cfg.QueueDir(), a.cfg.Alerts.QueueMax, a.log)
	if err != nil {
		return nil, err
	}
	for _, b := range before {
		if err := b(q); err != nil {
			return nil, err
		}
	}
	q.SetBackoff(a.cfg.Alerts.RetryAfter.D(), notify.MaxBackoff)
	name := r.Name()
	q.OnAttempt(func(ok bool) { f.metrics.Delivered(name, ok) })
	f.metrics.QueueLength(name, func() float64 { return float64(q.Len()) })
	f.out.Add(q)
	rctx, cancel := context.WithCancel(f.ctx)
	f.runs.Store(name, cancel)
	f.wg.Add(1)
	go func() { defer f.wg.Done(); q.Run(rctx) }()
	return q, nil
}

// setMail makes the email receiver follow the configuration in force: the
// mailer of smtp replaces the one of the email queue (the queued mails
// stay), the queue is opened on the first mail server configured, and
// without one nothing more is queued for email. Mails the previous
// version left in its own queue format are moved into the email queue
// before it runs.
func (a *Agent) setMail(f *fleet) error {
	if a.cfg.SMTP.Host == "" {
		a.log.Warn("no mail server configured (smtp.host): problems are logged but not mailed")
		f.out.Remove(notify.ReceiverEmail)
		if stop, ok := f.runs.LoadAndDelete(notify.ReceiverEmail); ok {
			stop.(context.CancelFunc)()
		}
		return nil
	}
	m, err := a.Mailer()
	if err != nil {
		return err
	}
	if q := f.out.Queue(notify.ReceiverEmail); q != nil {
		return q.SetReceiver(m)
	}
	_, err = a.addReceiver(f, m, func(q *notify.Queue) error {
		return mailer.ImportQueue(q, a.cfg.QueueDir(), a.log)
	})
	return err
}

// stop ends the queue runners and, with flush, tries once more for a few
// seconds to deliver what is queued.
func (f *fleet) stop(flush bool, a *Agent) {
	f.runs.Range(func(_, stop any) bool { stop.(context.CancelFunc)(); return true })
	f.wg.Wait()
	if !flush {
		return
	}
	fctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	for _, q := range f.out.Queues() {
		if err := q.Flush(fctx); err != nil {
			a.log.Warn("alerts still queued at shutdown; they are sent after the next start", "receiver", q.Name(), "err", err)
		}
	}
}

// observeFleet feeds a round to the metrics and refreshes the firing alerts in
// Alertmanager.
func (a *Agent) observeFleet(ctx context.Context, f *fleet, start time.Time, outs []collectors.Outcome) {
	f.metrics.ObserveRound(start, time.Now(), outs)
	if f.am == nil {
		return
	}
	f.mu.Lock()
	firing := make(map[string]notify.Event, len(f.firing))
	for k, v := range f.firing {
		firing[k] = v
	}
	f.mu.Unlock()
	if err := f.am.Refresh(ctx, Hostname(), firing); err != nil {
		a.log.Debug("alertmanager refresh failed; the next round tries again", "err", err)
	}
}

// send queues a digest's events for the receivers pick selects (all when
// nil) and remembers the firing ones for Alertmanager refreshes.
func (f *fleet) send(d *alert.Digest, pick func(string) bool) {
	b := notify.FromDigest(d)
	f.mu.Lock()
	for _, e := range b.Events {
		if e.State == collectors.StateOK.String() {
			delete(f.firing, e.Check)
		} else {
			f.firing[e.Check] = e
		}
	}
	f.mu.Unlock()
	f.out.Enqueue(b, pick)
}
