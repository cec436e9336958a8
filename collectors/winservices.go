package collectors

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// PortSIPServiceMatch is matched, case-insensitively, against the name and
// display name of Windows services to find PortSIP's ("PortSIP Call
// Manager", "PortSIP Gateway Server", ...; no complete list is published).
const PortSIPServiceMatch = "portsip"

// Windows service states and start types as the pbx_services collector
// reports them.
const (
	SvcStopped         = "stopped"
	SvcStartPending    = "start_pending"
	SvcStopPending     = "stop_pending"
	SvcRunning         = "running"
	SvcContinuePending = "continue_pending"
	SvcPausePending    = "pause_pending"
	SvcPaused          = "paused"

	SvcStartBoot        = "boot"
	SvcStartSystem      = "system"
	SvcStartAuto        = "auto"
	SvcStartAutoDelayed = "auto_delayed"
	SvcStartManual      = "manual"
	SvcStartDisabled    = "disabled"
)

// WindowsService is one PortSIP Windows service.
type WindowsService struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	// State is one of the Svc* states; StartType one of the SvcStart* types.
	State     string `json:"state"`
	StartType string `json:"start_type"`
	PID       uint32 `json:"pid,omitempty"`
	// ConfigError is set when the start type could not be read.
	ConfigError string `json:"config_error,omitempty"`
	// Check is this service's verdict and Problem says why it is not OK.
	Check   State  `json:"check"`
	Problem string `json:"problem,omitempty"`
}

// WindowsServicesData is the pbx_services collector's Data on Windows.
type WindowsServicesData struct {
	Services []WindowsService `json:"services"`
}

// ServiceCheck is the health verdict on one PortSIP service: a service that
// starts automatically (or at boot) and is not running is CRITICAL; a
// pending state is WARNING; a stopped service that is started manually or
// disabled is OK.
func ServiceCheck(state, startType string) (State, string) {
	automatic := startType == SvcStartAuto || startType == SvcStartAutoDelayed || startType == SvcStartBoot || startType == SvcStartSystem
	switch state {
	case SvcRunning:
		return StateOK, ""
	case SvcStartPending, SvcStopPending, SvcContinuePending, SvcPausePending:
		return StateWarning, strings.ReplaceAll(state, "_", " ")
	}
	if state == "" {
		state = "unknown"
	}
	if automatic {
		return StateCritical, fmt.Sprintf("%s but set to start automatically", state)
	}
	if startType == "" {
		return StateCritical, fmt.Sprintf("%s (start type unknown)", state)
	}
	return StateOK, ""
}

// WindowsServices reports the PortSIP Windows services.
type WindowsServices struct {
	list func(ctx context.Context) ([]WindowsService, error)
}

// NewWindowsServices returns the pbx_services collector. On Windows it lists
// the services whose name or display name contains "PortSIP"; on other
// systems it reports ErrNoData (the containers are checked there).
func NewWindowsServices() Collector { return &WindowsServices{list: listPortSIPServices} }

// Collect lists and judges the PortSIP services. It returns ErrNoData when
// none is installed.
func (w *WindowsServices) Collect(ctx context.Context) (*Report, error) {
	svcs, err := w.list(ctx)
	if err != nil {
		return nil, err
	}
	if len(svcs) == 0 {
		return nil, noData("PortSIP services not installed")
	}
	return windowsServicesReport(svcs), nil
}

// isPortSIPService reports whether a service belongs to PortSIP.
func isPortSIPService(name, displayName string) bool {
	return strings.Contains(strings.ToLower(name), PortSIPServiceMatch) ||
		strings.Contains(strings.ToLower(displayName), PortSIPServiceMatch)
}

func windowsServicesReport(svcs []WindowsService) *Report {
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	rep := &Report{State: StateOK}
	running := 0
	var problems []string
	rows := [][]string{{"SERVICE", "DISPLAY NAME", "STATE", "START", "PID"}}
	for i := range svcs {
		s := &svcs[i]
		s.Check, s.Problem = ServiceCheck(s.State, s.StartType)
		rep.State = max(rep.State, s.Check)
		up := 0.0
		if s.State == SvcRunning {
			running++
			up = 1
		}
		if s.Problem != "" {
			problems = append(problems, fmt.Sprintf("%s %s", orDash(s.DisplayName), s.Problem))
		}
		rep.Metrics = append(rep.Metrics, Metric{Name: "service_running", Value: up, Label: map[string]string{"service": s.Name}})
		pid := "-"
		if s.PID != 0 {
			pid = fmt.Sprint(s.PID)
		}
		rows = append(rows, []string{s.Name, s.DisplayName, s.State, orDash(s.StartType), pid})
	}
	rep.Sticky = rep.State
	rep.Summary = fmt.Sprintf("%d of %d PortSIP services running", running, len(svcs))
	if len(problems) > 0 {
		rep.Summary += ": " + strings.Join(problems, "; ")
		rep.Advice = "Start the stopped PortSIP services in services.msc (or `sc start \"<service name>\"` as administrator) " +
			"and look for the reason in the Windows Event Viewer (Windows Logs > Application and System) and in " +
			`C:\ProgramData\PortSIP\pbx\log. A full disk also stops them: check it with ` + "`pbxagent status`."
	}
	rep.Data = WindowsServicesData{Services: svcs}
	rep.Text = textTable(rows)
	return rep
}
