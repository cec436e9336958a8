// Package metrics exports the agent's checks and the agent itself to
// Prometheus. A scrape never runs a check: each round of `pbxagent run`
// turns its outcomes into ready-made samples (ObserveRound), and /metrics
// serves those, so a scrape costs microseconds and cannot lock the PBX out of
// its own REST API however often it comes.
//
// Names are stable and carry their unit: pbx_check_state{check} for every
// check (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, the Nagios codes), pbx_<name>
// for each number a watcher reports (collectors.Metric, e.g.
// pbx_disk_free_bytes{role,path}), pbx_agent_* for the agent itself, and
// pbx_check_item_state{check,item} for the items of a check (a trunk by
// name, a media server, a transport, a certificate port): at most
// MaxItemSeries (500) series a round, the failing items first. Labels are
// bounded: check names, roles, paths from the configuration, container and
// service names, receivers, item IDs (capped); never a Call-ID or a phone
// number.
//
// Other parts of the agent add their own metrics with Register (for example
// the flight recorder's counters).
package metrics

import (
	"maps"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	checks "github.com/pbxagent/pbxagent/collectors"
)

// Namespace prefixes every metric of the agent.
const Namespace = "pbx"

// Metrics holds the agent's registry. A nil *Metrics accepts every call and
// does nothing, so callers need not check whether metrics are enabled.
type Metrics struct {
	reg   *prometheus.Registry
	round atomic.Pointer[[]prometheus.Metric]

	checkDuration *prometheus.GaugeVec
	checkFailures *prometheus.CounterVec
	lastRound     prometheus.Gauge
	roundDuration prometheus.Gauge
	sent, failed  *prometheus.CounterVec
	packets       *prometheus.CounterVec
	drops         *prometheus.CounterVec

	qmu    sync.Mutex
	queues map[string]func() float64
}

var queueDesc = prometheus.NewDesc("pbx_agent_alert_queue_length",
	"Alert events (mails for email) waiting in the on-disk queue of a receiver.", []string{"receiver"}, nil)

// New returns the registry of one agent, with the build info, the Go
// runtime and process metrics and the agent's own counters.
func New(version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), queues: map[string]func() float64{}}
	f := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "agent", Name: name, Help: help}, labels)
	}
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "agent", Name: name, Help: help}, labels)
	}
	m.checkDuration = f("check_duration_seconds", "How long each check took in the last round.", "check")
	m.checkFailures = c("check_failures_total", "Rounds in which a check failed to run (its state was UNKNOWN).", "check")
	m.lastRound = f("last_round_timestamp_seconds", "When the last round of checks ended, in Unix seconds.").WithLabelValues()
	m.roundDuration = f("round_duration_seconds", "How long the last round of checks took.").WithLabelValues()
	m.sent = c("notifications_sent_total", "Alert notifications a receiver accepted (receiver=\"email\" counts mails).", "receiver")
	m.failed = c("notifications_failed_total", "Failed delivery attempts of alert notifications, by receiver.", "receiver")
	m.packets = c("capture_packets_total", "Packets written by the packet capture and the flight recorder.", "source")
	m.drops = c("capture_dropped_packets_total", "Packets the kernel or the agent dropped while capturing.", "source")
	build := f("build_info", "Version of the running agent; always 1.", "version", "goversion")
	build.WithLabelValues(version, runtime.Version()).Set(1)
	m.reg.MustRegister(m.checkDuration, m.checkFailures, m.lastRound, m.roundDuration, m.sent, m.failed,
		m.packets, m.drops, build, (*roundCollector)(m), (*queueCollector)(m),
		collectors.NewGoCollector(collectors.WithGoCollectorMemStatsMetricsDisabled()))
	return m
}

// Register adds extra agent metrics (a recorder's counters, say). Name them
// pbx_agent_<what>_<unit>.
func (m *Metrics) Register(c prometheus.Collector) error {
	if m == nil {
		return nil
	}
	return m.reg.Register(c)
}

// Registry returns the underlying registry, for tests and extra handlers.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text and OpenMetrics
// formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, EnableOpenMetrics: true})
}

// ObserveRound records the outcomes of one round of checks, ended at end
// and begun at start; later scrapes serve them until the next round.
func (m *Metrics) ObserveRound(start, end time.Time, outs []checks.Outcome) {
	if m == nil {
		return
	}
	for _, o := range outs {
		if !o.Applicable() {
			continue
		}
		m.checkDuration.WithLabelValues(o.Name).Set(o.Duration.Seconds())
		if o.Failed() {
			m.checkFailures.WithLabelValues(o.Name).Inc()
		} else {
			m.checkFailures.WithLabelValues(o.Name).Add(0)
		}
	}
	samples := Samples(outs)
	m.round.Store(&samples)
	m.lastRound.Set(float64(end.UnixNano()) / 1e9)
	m.roundDuration.Set(end.Sub(start).Seconds())
}

// Delivered counts one delivery attempt of a receiver.
func (m *Metrics) Delivered(receiver string, ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.sent.WithLabelValues(receiver).Inc()
	} else {
		m.failed.WithLabelValues(receiver).Inc()
	}
}

// QueueLength reports the queue length of a receiver through f, read at
// each scrape (f must be cheap: a directory listing at most).
func (m *Metrics) QueueLength(receiver string, f func() float64) {
	if m == nil {
		return
	}
	m.qmu.Lock()
	m.queues[receiver] = f
	m.qmu.Unlock()
	m.sent.WithLabelValues(receiver).Add(0)
	m.failed.WithLabelValues(receiver).Add(0)
}

// Captured counts packets written and dropped by a capture source
// ("capture" for bundles, "recorder" for the flight recorder).
func (m *Metrics) Captured(source string, packets, dropped uint64) {
	if m == nil {
		return
	}
	m.packets.WithLabelValues(source).Add(float64(packets))
	m.drops.WithLabelValues(source).Add(float64(dropped))
}

// roundCollector serves the samples of the last round.
type roundCollector Metrics

func (r *roundCollector) Describe(chan<- *prometheus.Desc) {} // unchecked: the families depend on the checks

func (r *roundCollector) Collect(ch chan<- prometheus.Metric) {
	if p := r.round.Load(); p != nil {
		for _, s := range *p {
			ch <- s
		}
	}
}

// queueCollector reads the receivers' queue lengths.
type queueCollector Metrics

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	q.qmu.Lock()
	fs := maps.Clone(q.queues)
	q.qmu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(fs)) {
		if fs[name] == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, fs[name](), name)
	}
}

var stateDesc = prometheus.NewDesc("pbx_check_state",
	"State of each applicable check in the last round: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (check failed).",
	[]string{"check"}, nil)

var itemDesc = prometheus.NewDesc("pbx_check_item_state",
	"State of each item of a check (a trunk, a media server, a transport, a certificate port) in the last round, "+
		"coded as pbx_check_state; at most 500 series, the failing items first.",
	[]string{"check", "item"}, nil)

// MaxItemSeries bounds the pbx_check_item_state series of one round: a PBX
// with thousands of trunks gets its failing ones and as many others as fit.
const MaxItemSeries = 500

// itemSamples are the items' states, failing items first, at most
// MaxItemSeries; an item not checked this round is left out.
func itemSamples(outs []checks.Outcome) []prometheus.Metric {
	var bad, good []prometheus.Metric
	seen := map[string]bool{}
	for _, o := range outs {
		if !o.Applicable() {
			continue
		}
		for _, it := range o.Items() {
			key := checks.ItemKey(o.Name, it.ID)
			if it.Unchecked || seen[key] {
				continue
			}
			seen[key] = true
			s := prometheus.MustNewConstMetric(itemDesc, prometheus.GaugeValue, float64(it.State.Code()), o.Name, it.ID)
			if it.State == checks.StateOK {
				good = append(good, s)
			} else {
				bad = append(bad, s)
			}
		}
	}
	out := append(bad, good...)
	return out[:min(len(out), MaxItemSeries)]
}

// Samples turns a round's outcomes into metrics: the state of every
// applicable check and of its items (itemSamples), and the numbers of
// those that ran. A number repeated with the same name and labels is kept
// once.
func Samples(outs []checks.Outcome) []prometheus.Metric {
	out := itemSamples(outs)
	descs := map[string]*prometheus.Desc{}
	seen := map[string]bool{}
	for _, o := range outs {
		if !o.Applicable() {
			continue
		}
		out = append(out, prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, float64(o.State().Code()), o.Name))
		for _, mt := range o.Metrics() {
			name := MetricName(mt.Name)
			keys := slices.Sorted(maps.Keys(mt.Label))
			vals := make([]string, len(keys))
			for i, k := range keys {
				keys[i] = labelName(k)
				vals[i] = mt.Label[k]
			}
			id := name + "\xff" + strings.Join(keys, "\xfe") + "\xff" + strings.Join(vals, "\xfe")
			if seen[id] {
				continue
			}
			seen[id] = true
			dk := name + "\xff" + strings.Join(keys, "\xfe")
			d := descs[dk]
			if d == nil {
				d = prometheus.NewDesc(name, help(o.Name, mt), keys, nil)
				descs[dk] = d
			}
			s, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, mt.Value, vals...)
			if err == nil {
				out = append(out, s)
			}
		}
	}
	return out
}

var invalid = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// MetricName is the exported name of a collector's metric: pbx_<name>, with
// characters Prometheus does not allow replaced by "_".
func MetricName(name string) string {
	return Namespace + "_" + strings.TrimPrefix(invalid.ReplaceAllString(name, "_"), Namespace+"_")
}

func labelName(k string) string {
	k = invalid.ReplaceAllString(k, "_")
	if k == "" || (k[0] >= '0' && k[0] <= '9') || strings.HasPrefix(k, "__") {
		k = "l_" + k
	}
	return k
}

func help(check string, mt checks.Metric) string {
	h := "Reported by the " + check + " check"
	if mt.Unit != "" {
		h += " (unit " + mt.Unit + ")"
	}
	return h + "."
}
