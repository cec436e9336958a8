//go:build windows

package collectors

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// listPortSIPServices enumerates the Win32 services with the least access
// rights (no administrator needed) and reads the start type of the PortSIP
// ones.
func listPortSIPServices(ctx context.Context) ([]WindowsService, error) {
	h, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT|windows.SC_MANAGER_ENUMERATE_SERVICE)
	if err != nil {
		return nil, fmt.Errorf("open service control manager: %w", err)
	}
	m := &mgr.Mgr{Handle: h}
	defer m.Disconnect()

	all, err := enumServices(h)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var out []WindowsService
	for _, s := range all {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		if !isPortSIPService(s.Name, s.DisplayName) {
			continue
		}
		out = append(out, readService(h, s))
	}
	return out, nil
}

// enumServices returns every Win32 service with its display name and status
// (mgr.ListServices returns the names only).
func enumServices(h windows.Handle) ([]WindowsService, error) {
	var bytesNeeded, returned uint32
	var buf []byte
	for {
		var p *byte
		if len(buf) > 0 {
			p = &buf[0]
		}
		err := windows.EnumServicesStatusEx(h, windows.SC_ENUM_PROCESS_INFO, windows.SERVICE_WIN32, windows.SERVICE_STATE_ALL,
			p, uint32(len(buf)), &bytesNeeded, &returned, nil, nil)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ERROR_MORE_DATA) || bytesNeeded <= uint32(len(buf)) {
			return nil, err
		}
		buf = make([]byte, bytesNeeded)
	}
	if returned == 0 {
		return nil, nil
	}
	entries := unsafe.Slice((*windows.ENUM_SERVICE_STATUS_PROCESS)(unsafe.Pointer(&buf[0])), int(returned))
	out := make([]WindowsService, 0, len(entries))
	for _, e := range entries {
		out = append(out, WindowsService{
			Name:        windows.UTF16PtrToString(e.ServiceName),
			DisplayName: windows.UTF16PtrToString(e.DisplayName),
			State:       stateName(svc.State(e.ServiceStatusProcess.CurrentState)),
			PID:         e.ServiceStatusProcess.ProcessId,
		})
	}
	return out, nil
}

// readService refreshes one service's status and reads its start type.
func readService(h windows.Handle, ws WindowsService) WindowsService {
	name, err := syscall.UTF16PtrFromString(ws.Name)
	if err != nil {
		ws.ConfigError = err.Error()
		return ws
	}
	sh, err := windows.OpenService(h, name, windows.SERVICE_QUERY_CONFIG|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		ws.ConfigError = fmt.Sprintf("open service: %v", err)
		return ws
	}
	s := &mgr.Service{Name: ws.Name, Handle: sh}
	defer s.Close()
	if st, err := s.Query(); err == nil {
		ws.State, ws.PID = stateName(st.State), st.ProcessId
	}
	cfg, err := s.Config()
	if err != nil {
		ws.ConfigError = fmt.Sprintf("read config: %v", err)
		return ws
	}
	if cfg.DisplayName != "" {
		ws.DisplayName = cfg.DisplayName
	}
	ws.StartType = startTypeName(cfg.StartType, cfg.DelayedAutoStart)
	return ws
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return SvcStopped
	case svc.StartPending:
		return SvcStartPending
	case svc.StopPending:
		return SvcStopPending
	case svc.Running:
		return SvcRunning
	case svc.ContinuePending:
		return SvcContinuePending
	case svc.PausePending:
		return SvcPausePending
	case svc.Paused:
		return SvcPaused
	default:
		return fmt.Sprintf("state_%d", s)
	}
}

func startTypeName(t uint32, delayed bool) string {
	switch t {
	case mgr.StartAutomatic:
		if delayed {
			return SvcStartAutoDelayed
		}
		return SvcStartAuto
	case mgr.StartManual:
		return SvcStartManual
	case mgr.StartDisabled:
		return SvcStartDisabled
	case windows.SERVICE_BOOT_START:
		return SvcStartBoot
	case windows.SERVICE_SYSTEM_START:
		return SvcStartSystem
	default:
		return fmt.Sprintf("start_%d", t)
	}
}
