package collectors

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/portsip"
)

// Media watches the media servers (/media_servers/{id}/status: OFFLINE is
// down; CPU, memory or concurrency at the overload level is overloaded) and
// the SIP transports (/transports/{id}/status: DEACTIVATED).
type Media struct {
	client   *portsip.Client
	overload float64
}

// NewMedia returns the media server and transport check.
func NewMedia(client *portsip.Client, cfg config.MediaCheck) *Media {
	o := cfg.OverloadPercent
	if o <= 0 {
		o = 90
	}
	return &Media{client: client, overload: o}
}

// MediaServerState is one media server's state.
type MediaServerState struct {
	portsip.MediaServer
	Status      string `json:"status"`
	Concurrency int    `json:"current_concurrency"`
	CPU         int    `json:"cpu_usage"`
	Memory      int    `json:"memory_usage"`
	Problem     string `json:"problem,omitempty"`
}

// TransportState is one SIP transport's state.
type TransportState struct {
	portsip.Transport
	Status string `json:"status"`
}

// MediaData is the media check's Data.
type MediaData struct {
	MediaServers []MediaServerState `json:"media_servers"`
	Transports   []TransportState   `json:"transports"`
	// NotSupported names the endpoints this PBX version lacks.
	NotSupported []string `json:"not_supported,omitempty"`
}

// Collect reads both lists and every status.
func (m *Media) Collect(ctx context.Context) (*Report, error) {
	if err := apiNotApplicable(m.client, "the media servers"); err != nil {
		return nil, err
	}
	var d MediaData
	rep := &Report{State: StateOK}
	problems, err := m.servers(ctx, &d, rep)
	if err != nil {
		return nil, err
	}
	more, err := m.transports(ctx, &d, rep)
	if err != nil {
		return nil, err
	}
	problems = append(problems, more...)
	if len(d.NotSupported) == 2 {
		return nil, noData("this PBX version has no REST API endpoints for media servers and transports")
	}
	rep.Data = d
	if len(problems) > 0 {
		rep.Summary = strings.Join(problems, "; ")
		rep.Advice = mediaAdvice
	} else {
		rep.Summary = fmt.Sprintf("%d media %s online, %d SIP %s active",
			len(d.MediaServers), ipPlural(len(d.MediaServers), "server", "servers"), len(d.Transports), ipPlural(len(d.Transports), "transport", "transports"))
	}
	rep.Text = mediaText(d)
	return rep, nil
}

const mediaAdvice = "A media server that is OFFLINE carries no audio: calls connect without sound or fail. Check its container or service " +
	"(cd /opt/portsip && sh pbx_ctl.sh status; the portsip.mediaserver container) and the server's host; an overloaded media server needs " +
	"more CPU or another media server (web portal: Advanced > Media Servers). A deactivated SIP transport refuses phones and trunks on that port: " +
	"check Advanced > Transports and its certificate for TLS."

// servers reads and rates each enabled media server, adding its item to
// rep, and returns the problems found.
func (m *Media) servers(ctx context.Context, d *MediaData, rep *Report) ([]string, error) {
	servers, err := m.client.MediaServers(ctx)
	switch {
	case errors.Is(err, portsip.ErrNotSupported):
		d.NotSupported = append(d.NotSupported, "/media_servers")
	case err != nil:
		return nil, apiError(err, "the media servers")
	}
	var problems []string
	for _, s := range servers {
		st := MediaServerState{MediaServer: s, Status: "DISABLED"}
		if s.Enabled {
			ms, err := m.client.MediaServerStatus(ctx, s.ID)
			if err != nil {
				return nil, apiError(err, fmt.Sprintf("the status of media server %q", s.Name))
			}
			st.Status, st.Concurrency, st.CPU, st.Memory = ms.Status, ms.Concurrency, ms.CPU, ms.Memory
			m.rate(&st, rep)
			if st.Problem != "" {
				problems = append(problems, fmt.Sprintf("media server %q %s", s.Name, st.Problem))
			}
		}
		rep.Items = append(rep.Items, mediaItem(st))
		d.MediaServers = append(d.MediaServers, st)
	}
	return problems, nil
}

// transports reads each SIP transport's status, adding its item and metric
// to rep, and returns the problems found.
func (m *Media) transports(ctx context.Context, d *MediaData, rep *Report) ([]string, error) {
	transports, err := m.client.Transports(ctx)
	switch {
	case errors.Is(err, portsip.ErrNotSupported):
		d.NotSupported = append(d.NotSupported, "/transports")
	case err != nil:
		return nil, apiError(err, "the SIP transports")
	}
	var problems []string
	for _, t := range transports {
		status, err := m.client.TransportStatus(ctx, t.ID)
		if err != nil {
			return nil, apiError(err, fmt.Sprintf("the status of transport %s/%d", t.Protocol, t.Port))
		}
		d.Transports = append(d.Transports, TransportState{Transport: t, Status: status})
		id := fmt.Sprintf("%s/%d", t.Protocol, t.Port)
		it := Item{ID: "transport:" + id, Label: "SIP transport " + id, State: StateOK, Status: status,
			Summary: fmt.Sprintf("SIP transport %s port %d is %s", t.Protocol, t.Port, status)}
		up := 1.0
		if status == "DEACTIVATED" {
			it.State = StateWarning
			up = 0
			rep.State = max(rep.State, StateWarning)
			problems = append(problems, fmt.Sprintf("SIP transport %s port %d DEACTIVATED", t.Protocol, t.Port))
		}
		rep.Items = append(rep.Items, it)
		rep.Metrics = append(rep.Metrics, Metric{Name: "transport_up", Value: up, Label: map[string]string{"transport": id}})
	}
	return problems, nil
}

// mediaItem is one media server for the alerts: OFFLINE is critical,
// overloaded a warning.
func mediaItem(st MediaServerState) Item {
	it := Item{ID: "server:" + st.Name, Label: "Media server " + st.Name, State: StateOK, Status: st.Status,
		Summary: fmt.Sprintf("media server %q is %s", st.Name, st.Status)}
	switch {
	case st.Status == "DISABLED":
	case st.Status != "ONLINE":
		it.State = StateCritical
	case st.Problem != "":
		it.State, it.Status = StateWarning, "overloaded"
		it.Summary = fmt.Sprintf("media server %q %s", st.Name, st.Problem)
	}
	return it
}

// rate sets the server's problem and metrics.
func (m *Media) rate(st *MediaServerState, rep *Report) {
	label := map[string]string{"media_server": st.Name}
	up := 1.0
	var load []string
	switch {
	case st.Status != "ONLINE":
		up = 0
		st.Problem = "is " + st.Status
		rep.State = max(rep.State, StateCritical)
	default:
		if st.CPU >= 0 && float64(st.CPU) >= m.overload {
			load = append(load, fmt.Sprintf("CPU %d%%", st.CPU))
		}
		if st.Memory >= 0 && float64(st.Memory) >= m.overload {
			load = append(load, fmt.Sprintf("memory %d%%", st.Memory))
		}
		if st.MaxConcurrency > 0 && st.Concurrency >= 0 && percent(st.Concurrency, st.MaxConcurrency) >= m.overload {
			load = append(load, fmt.Sprintf("%d of %d sessions", st.Concurrency, st.MaxConcurrency))
		}
		if len(load) > 0 {
			st.Problem = "overloaded: " + strings.Join(load, ", ")
			rep.State = max(rep.State, StateWarning)
		}
	}
	rep.Metrics = append(rep.Metrics, Metric{Name: "media_server_up", Value: up, Label: label})
	if st.CPU >= 0 {
		rep.Metrics = append(rep.Metrics, Metric{Name: "media_server_cpu_ratio", Value: float64(st.CPU) / 100, Label: label})
	}
	if st.Memory >= 0 {
		rep.Metrics = append(rep.Metrics, Metric{Name: "media_server_memory_ratio", Value: float64(st.Memory) / 100, Label: label})
	}
	if st.Concurrency >= 0 {
		rep.Metrics = append(rep.Metrics, Metric{Name: "media_server_sessions", Value: float64(st.Concurrency), Label: label})
	}
}

func mediaText(d MediaData) string {
	rows := [][]string{{"MEDIA SERVER", "STATUS", "CPU%", "MEM%", "SESSIONS", "NOTE"}}
	for _, s := range d.MediaServers {
		rows = append(rows, []string{s.Name, s.Status, fmt.Sprint(s.CPU), fmt.Sprint(s.Memory), fmt.Sprintf("%d/%d", s.Concurrency, s.MaxConcurrency), s.Problem})
	}
	out := textTable(rows)
	rows = [][]string{{"TRANSPORT", "PORT", "STATUS"}}
	for _, t := range d.Transports {
		rows = append(rows, []string{t.Protocol, fmt.Sprint(t.Port), t.Status})
	}
	out += "\n" + textTable(rows)
	if len(d.NotSupported) > 0 {
		out += "\nnot available in this PBX version: " + strings.Join(d.NotSupported, ", ") + "\n"
	}
	return out
}
