package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestServiceCheck(t *testing.T) {
	for _, tc := range []struct {
		state, start string
		want         State
	}{
		{SvcRunning, SvcStartAuto, StateOK},
		{SvcRunning, SvcStartManual, StateOK},
		{SvcStopped, SvcStartAuto, StateCritical},
		{SvcStopped, SvcStartAutoDelayed, StateCritical},
		{SvcPaused, SvcStartAuto, StateCritical},
		{SvcStopped, SvcStartManual, StateOK},
		{SvcStopped, SvcStartDisabled, StateOK},
		{SvcStopped, "", StateCritical},
		{SvcStartPending, SvcStartAuto, StateWarning},
		{SvcStopPending, SvcStartManual, StateWarning},
		{SvcContinuePending, SvcStartAuto, StateWarning},
		{"", SvcStartAuto, StateCritical},
	} {
		got, why := ServiceCheck(tc.state, tc.start)
		if got != tc.want || (got == StateOK) != (why == "") {
			t.Errorf("ServiceCheck(%q, %q) = %v %q, want %v", tc.state, tc.start, got, why, tc.want)
		}
	}
}

func TestIsPortSIPService(t *testing.T) {
	for _, tc := range []struct {
		name, display string
		want          bool
	}{
		{"PortSIPCallManager", "", true},
		{"pbx1", "PortSIP Gateway Server", true},
		{"Spooler", "Print Spooler", false},
	} {
		if got := isPortSIPService(tc.name, tc.display); got != tc.want {
			t.Errorf("%q/%q: %v", tc.name, tc.display, got)
		}
	}
}

func TestWindowsServicesReport(t *testing.T) {
	w := &WindowsServices{list: func(context.Context) ([]WindowsService, error) {
		return []WindowsService{
			{Name: "PortSIPGateway", DisplayName: "PortSIP Gateway Server", State: SvcRunning, StartType: SvcStartAuto, PID: 42},
			{Name: "PortSIPCallManager", DisplayName: "PortSIP Call Manager", State: SvcStopped, StartType: SvcStartAuto},
			{Name: "PortSIPIM", DisplayName: "PortSIP Instant Message Server", State: SvcStartPending, StartType: SvcStartAuto},
		}, nil
	}}
	rep, err := w.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.State != StateCritical || rep.Advice == "" ||
		rep.Summary != "1 of 3 PortSIP services running: PortSIP Call Manager stopped but set to start automatically; PortSIP Instant Message Server start pending" {
		t.Errorf("%v %q", rep.State, rep.Summary)
	}
	d := rep.Data.(WindowsServicesData)
	if d.Services[0].Name != "PortSIPCallManager" || d.Services[0].Check != StateCritical {
		t.Errorf("services %+v", d.Services)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	empty := &WindowsServices{list: func(context.Context) ([]WindowsService, error) { return nil, nil }}
	if _, err := empty.Collect(context.Background()); !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("no services: %v", err)
	}
}

func TestNewWindowsServices(t *testing.T) {
	_, err := NewWindowsServices().Collect(context.Background())
	if runtime.GOOS != "windows" && !errors.Is(err, ErrNoData) {
		t.Errorf("on %s: %v, want ErrNoData", runtime.GOOS, err)
	}
}
