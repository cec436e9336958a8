// Package windows holds the Windows-specific facts and pieces of the agent:
// default paths under %ProgramData% and of a stock PortSIP install. It
// compiles on every OS so that its pure logic is unit-tested on Linux.
package windows

import "strings"

// DefaultProgramData is used when %ProgramData% is not set.
const DefaultProgramData = `C:\ProgramData`

// Paths are the default locations on a Windows host.
type Paths struct {
	ConfigFile    string
	StateDir      string
	PBXDataDir    string
	PBXInstallDir string
}

// DefaultPaths derives the default paths from the environment; getenv is
// os.Getenv in production and a map lookup in tests.
func DefaultPaths(getenv func(string) string) Paths {
	pd := strings.TrimRight(getenv("ProgramData"), `\/`)
	if pd == "" {
		pd = DefaultProgramData
	}
	pf := strings.TrimRight(getenv("ProgramFiles"), `\/`)
	if pf == "" {
		pf = `C:\Program Files`
	}
	return Paths{
		ConfigFile:    pd + `\pbxagent\pbxagent.yaml`,
		StateDir:      pd + `\pbxagent`,
		PBXDataDir:    pd + `\PortSIP\pbx`,
		PBXInstallDir: pf + `\PortSIP`,
	}
}
