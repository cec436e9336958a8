// Command genunit prints the systemd unit that the .deb and .rpm packages
// install as /lib/systemd/system/pbxagent.service. It renders the same
// linux.Unit that `pbxagent install` writes, with the packaged paths, so
// both ways of installing the service share one definition.
//
//	go run ./packaging/genunit > pbxagent.service
package main

import (
	"fmt"
	"os"

	"github.com/pbxagent/pbxagent/platform/linux"
)

// Paths of the packaged install.
const (
	exe        = "/usr/bin/pbxagent"
	configPath = "/etc/pbxagent/pbxagent.yaml"
	stateDir   = "/var/lib/pbxagent"
	bundleDir  = "/var/lib/pbxagent/bundles"
	pbxLogDir  = "/var/lib/portsip/pbx/log"
)

func main() {
	unit := linux.Unit(linux.UnitConfig{
		Exe:          exe,
		ConfigPath:   configPath,
		StateDir:     stateDir,
		WritableDirs: []string{bundleDir, pbxLogDir},
	})
	if _, err := fmt.Print(unit); err != nil {
		fmt.Fprintln(os.Stderr, "genunit:", err)
		os.Exit(1)
	}
}
