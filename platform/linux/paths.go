// Package linux holds the Linux-specific facts and pieces of the agent: the
// default paths of a stock PortSIP install and of the agent's own files. It
// compiles on every OS so that its pure logic is tested everywhere.
package linux

// Default paths on Linux.
const (
	// ConfigFile is the agent's configuration file.
	ConfigFile = "/etc/pbxagent/pbxagent.yaml"
	// StateDir holds the agent's keys, alert queue and bundles.
	StateDir = "/var/lib/pbxagent"
	// PBXDataDir is PortSIP's data folder (`pbx_ctl.sh run -p /var/lib/portsip`).
	PBXDataDir = "/var/lib/portsip/pbx"
	// PBXInstallDir holds PortSIP's scripts and deploy settings
	// (`pbx/.configure_pbx`, `pbx/docker-compose-portsip-pbx.yml`).
	PBXInstallDir = "/opt/portsip"
	// DockerSocket is the Docker Engine API socket.
	DockerSocket = "/var/run/docker.sock"
)
