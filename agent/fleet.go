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

// fleet is what `pbxagent run` offers to fleet tooling besides email: the
// /metrics endpoint and the Alertmanager and webhook receivers. Its parts
// are nil when not configured (a nil *metrics.Metrics ignores every call).
//
// Parts of the service with their own numbers (the flight recorder) add
// them with fl.metrics.Register, or count packets with
// fl.metrics.Captured("recorder", packets, drops).
type fleet struct {
	metrics *metrics.Metrics
	queues  []*notify.Queue
	am      *notify.Alertmanager

	mu     sync.Mutex
	firing map[string]notify.Event // check → latest firing event, for Alertmanager refreshes
}

// startFleet builds the metrics registry and the receivers of the
// configuration and starts their goroutines on wg; a listener that cannot
// be opened or a queue folder that cannot be created is an error at start.
func (a *Agent) startFleet(ctx context.Context, wg *sync.WaitGroup, eng *alert.Engine) (*fleet, error) {
	f := &fleet{firing: map[string]notify.Event{}}
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
		q, err := notify.NewQueue(r, a.cfg.QueueDir(), a.cfg.Alerts.QueueMax, a.log)
		if err != nil {
			return nil, err
		}
		q.SetBackoff(a.cfg.Alerts.RetryAfter.D(), mailer.DefaultBackoffMax)
		name := r.Name()
		q.OnAttempt = func(ok bool) { f.metrics.Delivered(name, ok) }
		f.metrics.QueueLength(name, func() float64 { return float64(q.Len()) })
		f.queues = append(f.queues, q)
		wg.Add(1)
		go func() { defer wg.Done(); q.Run(ctx) }()
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

// mailerHooks are the mailer options that feed the metrics.
func (f *fleet) mailerHooks() []mailer.Option {
	if f.metrics == nil {
		return nil
	}
	return []mailer.Option{mailer.WithDeliveryHook(func(ok bool) { f.metrics.Delivered("email", ok) })}
}

// watchMailQueue exports the mail queue's length.
func (f *fleet) watchMailQueue(m *mailer.Mailer) {
	if m == nil {
		return
	}
	f.metrics.QueueLength("email", func() float64 { n, _ := m.Queued(); return float64(n) })
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

// sendFleet queues a digest's events for every receiver besides email.
func (a *Agent) sendFleet(f *fleet, d *alert.Digest) {
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
	for _, q := range f.queues {
		if err := q.Enqueue(b); err != nil {
			a.log.Error("alert events not queued", "err", err)
		}
	}
}
