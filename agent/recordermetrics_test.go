package agent

import (
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/hep"
	"github.com/pbxagent/pbxagent/recorder"
	"github.com/prometheus/client_golang/prometheus"
)

func gatherValues(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				out[mf.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[mf.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func TestRecorderCollector(t *testing.T) {
	first := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	st := &RecorderStatus{Running: true, KernelDropped: 3,
		Ring: recorder.Stats{Segments: 4, Bytes: 4096, Packets: 120, HEP: 7, Dropped: 2, First: first, Last: first.Add(90 * time.Second)}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newRecorderCollector(func() *RecorderStatus { return st }))
	got := gatherValues(t, reg)
	want := map[string]float64{
		"pbx_agent_recorder_packets": 120, "pbx_agent_recorder_bytes": 4096, "pbx_agent_recorder_segments": 4,
		"pbx_agent_recorder_dropped_packets_total": 2, "pbx_agent_recorder_kernel_dropped_packets_total": 3,
		"pbx_agent_recorder_span_seconds": 90, "pbx_agent_recorder_hep_messages": 7, "pbx_agent_recorder_running": 1,
	}
	if len(got) != len(want) {
		t.Errorf("got %d metrics, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	st = nil
	if got := gatherValues(t, reg); len(got) != 0 {
		t.Fatalf("with no recorder status: %v", got)
	}
}

func TestRecorderCollectorHEPFeed(t *testing.T) {
	st := &RecorderStatus{Running: true, HEPFeed: &hep.Counts{Received: 12, Accepted: 9, Malformed: 2, Unauthorised: 1}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newRecorderCollector(func() *RecorderStatus { return st }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "pbx_hep_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"accepted": 9, "malformed": 2, "unauthorised": 1}
	if len(got) != len(want) {
		t.Fatalf("pbx_hep_messages_total: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("pbx_hep_messages_total{result=%q} = %v, want %v", k, got[k], v)
		}
	}
}
