package agent

import (
	"github.com/prometheus/client_golang/prometheus"
)

// recorderCollector exports the flight recorder's counters on /metrics,
// read from its status at each scrape (the same account `pbxagent status`
// shows), so the ring's numbers need no second bookkeeping.
type recorderCollector struct {
	state                                             func() *RecorderStatus
	packets, bytes, segments, dropped, kdropped, span *prometheus.Desc
	hep, running, hepFeed                             *prometheus.Desc
}

func newRecorderCollector(state func() *RecorderStatus) *recorderCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("pbx_agent_recorder_"+name, help, nil, nil)
	}
	return &recorderCollector{state: state,
		packets:  d("packets", "Packets in the flight recorder's ring on disk."),
		bytes:    d("bytes", "Bytes of the flight recorder's ring on disk."),
		segments: d("segments", "Segments in the flight recorder's ring."),
		dropped:  d("dropped_packets_total", "Packets the ring did not write (paused by its limits) since the service started."),
		kdropped: d("kernel_dropped_packets_total", "Packets the kernel dropped before the recorder read them since the service started."),
		span:     d("span_seconds", "Time between the oldest and the newest packet in the ring."),
		hep:      d("hep_messages", "HEP messages in the ring on disk."),
		running:  d("running", "1 while the service records, else 0."),
		hepFeed: prometheus.NewDesc("pbx_hep_messages_total",
			"HEP messages the receiver got since the service started, by result: accepted, malformed, unauthorised.",
			[]string{"result"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *recorderCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.bytes, c.segments, c.dropped, c.kdropped, c.span, c.hep, c.running, c.hepFeed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *recorderCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.state()
	if s == nil {
		return
	}
	r := s.Ring
	span := 0.0
	if !r.First.IsZero() && r.Last.After(r.First) {
		span = r.Last.Sub(r.First).Seconds()
	}
	running := 0.0
	if s.Running {
		running = 1
	}
	g := func(d *prometheus.Desc, t prometheus.ValueType, v float64) {
		ch <- prometheus.MustNewConstMetric(d, t, v)
	}
	g(c.packets, prometheus.GaugeValue, float64(r.Packets))
	g(c.bytes, prometheus.GaugeValue, float64(r.Bytes))
	g(c.segments, prometheus.GaugeValue, float64(r.Segments))
	g(c.dropped, prometheus.CounterValue, float64(r.Dropped))
	g(c.kdropped, prometheus.CounterValue, float64(s.KernelDropped))
	g(c.span, prometheus.GaugeValue, span)
	g(c.hep, prometheus.GaugeValue, float64(r.HEP))
	g(c.running, prometheus.GaugeValue, running)
	if f := s.HEPFeed; f != nil {
		for _, r := range []struct {
			result string
			n      int64
		}{{"accepted", f.Accepted}, {"malformed", f.Malformed}, {"unauthorised", f.Unauthorised}} {
			ch <- prometheus.MustNewConstMetric(c.hepFeed, prometheus.CounterValue, float64(r.n), r.result)
		}
	}
}
