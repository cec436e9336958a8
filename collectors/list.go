package collectors

import "github.com/pbxagent/pbxagent/config"

// Snapshot returns the collectors of the host snapshot, in order. A
// bundle's system/ folder holds their reports together with those of the
// watchers' checks (disk, logs, gateway, blocked IPs, PBX containers or
// services), which the agent builds. sanitize removes secrets from process
// command lines (nil keeps them as they are).
func Snapshot(cfg *config.Config, sanitize func([]string) []string) []Named {
	return []Named{
		{Name: "host", Collector: NewHost()},
		{Name: "cpu", Collector: NewCPU()},
		{Name: "memory", Collector: NewMemory()},
		{Name: "mounts", Collector: NewMounts(cfg.PBX.DataDir, cfg.LogDir(), cfg.Agent.StateDir)},
		{Name: "network", Collector: NewNetwork()},
		{Name: "sockets", Collector: NewSockets(cfg.PBX.SIPPorts, cfg.PBX.WebPorts, cfg.PBX.RTPRange)},
		{Name: "processes", Collector: NewProcesses(sanitize)},
		{Name: "pbx", Collector: NewPBX(cfg.PBX.DataDir, cfg.LogDir())},
	}
}
