package linux

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// UnitName is the systemd unit of the agent.
const UnitName = "pbxagent.service"

// UnitConfig holds what the systemd unit needs to know about this host.
type UnitConfig struct {
	// Exe is the absolute path of the pbxagent binary.
	Exe string
	// ConfigPath is passed to `pbxagent run --config`.
	ConfigPath string
	// StateDir is the agent's own folder (keys, queue, bundles): writable.
	StateDir string
	// WritableDirs are more folders the agent may write: the bundle output
	// folder and the PBX log folder (for opt-in pruning). Missing ones are
	// ignored by systemd ("-" prefix).
	WritableDirs []string
}

// WatchdogSec is the unit's watchdog: longer than the slowest round of
// checks (each check is bounded to 30 s), so only a hung loop trips it.
const WatchdogSec = "90s"

// Unit renders the hardened systemd unit. It restarts the agent within 5 s
// of a failure, and confines it to what it uses: read access to the system
// (PBX folders, /proc), write access to its own folders only, raw sockets
// for packet capture, the Docker socket, and no new privileges.
func Unit(c UnitConfig) string {
	rw := map[string]bool{}
	for _, d := range append([]string{c.StateDir}, c.WritableDirs...) {
		if d = strings.TrimSpace(d); d != "" && filepath.IsAbs(d) {
			rw[filepath.Clean(d)] = true
		}
	}
	dirs := make([]string, 0, len(rw))
	for d := range rw {
		dirs = append(dirs, "-"+escapePath(d))
	}
	sort.Strings(dirs)
	var b strings.Builder
	fmt.Fprintf(&b, `[Unit]
Description=pbxagent: PortSIP PBX host agent (health checks, alerts, support bundles)
Documentation=man:pbxagent(1)
After=network-online.target docker.service
Wants=network-online.target
StartLimitIntervalSec=300
StartLimitBurst=20

[Service]
# READY=1 after the first round of checks; WATCHDOG=1 from the watch loop:
# a hung agent is killed and restarted.
Type=notify
NotifyAccess=main
WatchdogSec=%s
ExecStart=%s run --config %s
# The shell's own kill: /bin/kill (procps) is missing on minimal systems.
ExecReload=/bin/sh -c 'kill -HUP $MAINPID'
Restart=always
RestartSec=3
# Exit status 2 is a configuration error: restarting would fail the same
# way, so the unit stays failed with the error in systemctl status.
RestartPreventExitStatus=2
TimeoutStopSec=10
KillMode=mixed
UMask=0077
ReadWritePaths=%s

# Hardening: read the system, write only the agent's folders.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
PrivateMounts=yes
# AF_PACKET for packet capture, AF_NETLINK for interface lists, AF_UNIX
# for the Docker socket.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_PACKET AF_NETLINK
# Raw sockets for capture; reading PBX files owned by other users;
# deleting archived PBX logs when pruning is enabled.
CapabilityBoundingSet=CAP_NET_RAW CAP_DAC_READ_SEARCH CAP_DAC_OVERRIDE CAP_FOWNER
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`, WatchdogSec, escapePath(c.Exe), escapePath(c.ConfigPath), strings.Join(dirs, " "))
	return b.String()
}

// escapePath quotes a path for a unit file when it holds spaces or quotes.
func escapePath(p string) string {
	if !strings.ContainsAny(p, " \t\"'\\") {
		return p
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
}
