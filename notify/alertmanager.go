package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

// AlertName is the alertname label of the alerts posted to Alertmanager.
const AlertName = "PBXCheck"

// Alertmanager posts alerts to an Alertmanager's API v2.
type Alertmanager struct {
	url        string
	user, pass string
	c          *http.Client
	ua         string
}

// NewAlertmanager returns the Alertmanager receiver of cfg.
func NewAlertmanager(cfg config.Alertmanager, userAgent string) *Alertmanager {
	return &Alertmanager{url: strings.TrimRight(cfg.URL, "/") + "/api/v2/alerts", user: cfg.Username,
		pass: cfg.Password.Reveal(), c: client(cfg.Timeout.D()), ua: userAgent}
}

// Name is "alertmanager".
func (a *Alertmanager) Name() string { return "alertmanager" }

// PostableAlert is one alert of Alertmanager's API v2.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Alerts turns a batch into Alertmanager alerts. An alert is identified by
// host, check and severity: a problem fires the alert of its severity and
// resolves the one of the previous severity; a recovery resolves it; a
// reminder fires it again. Firing alerts carry no end, so Alertmanager
// keeps them until its resolve_timeout unless they are refreshed
// (see Refresh).
func Alerts(b Batch) []PostableAlert {
	var out []PostableAlert
	for _, e := range b.Events {
		labels := func(state string) map[string]string {
			return map[string]string{"alertname": AlertName, "instance": b.Host, "check": e.Check,
				"severity": strings.ToLower(state), "service": "pbxagent"}
		}
		ann := map[string]string{"summary": e.Summary}
		if e.Advice != "" {
			ann["description"] = e.Advice
		}
		if e.Previous != "OK" && e.Previous != e.State {
			out = append(out, PostableAlert{Labels: labels(e.Previous), Annotations: ann, EndsAt: b.Time})
		}
		if e.State != "OK" {
			out = append(out, PostableAlert{Labels: labels(e.State), Annotations: ann, StartsAt: e.Since})
		}
	}
	return out
}

// Send posts the alerts of the item's batch.
func (a *Alertmanager) Send(ctx context.Context, it Item) error {
	alerts := Alerts(it.Batch)
	if len(alerts) == 0 {
		return nil
	}
	return a.post(ctx, alerts)
}

func (a *Alertmanager) post(ctx context.Context, alerts []PostableAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {a.ua}}
	if a.user != "" {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(a.user, a.pass)
		h.Set("Authorization", req.Header.Get("Authorization"))
	}
	return post(ctx, a.c, a.url, body, h)
}

// Refresh re-posts the firing alerts (check → state) directly, without the
// queue, so Alertmanager keeps them active while the problem lasts; call it
// every round. A failure is returned for the log only: the next round tries
// again and the queued events are what counts.
func (a *Alertmanager) Refresh(ctx context.Context, host string, firing map[string]Event) error {
	if len(firing) == 0 {
		return nil
	}
	b := Batch{Host: host}
	for _, e := range firing {
		e.Previous = e.State
		b.Events = append(b.Events, e)
	}
	return a.post(ctx, Alerts(b))
}
