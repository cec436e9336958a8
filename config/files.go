package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// forbiddenPBXDirs are folders the agent must never collect as a PBX folder:
// reading them as root would put the host's secrets (/etc/shadow, keys) in a
// bundle. Windows has no equivalent list; the agent's own state folder is
// refused on every system.
var forbiddenPBXDirs = []string{"/", "/etc", "/root", "/proc", "/sys", "/dev"}

// pbxDirProblems refuses PBX folders that are system folders or overlap the
// agent's own state folder (its secret key would be collected).
func (c *Config) pbxDirProblems(goos string) []Problem {
	var ps []Problem
	state := cleanPath(goos, c.Agent.StateDir)
	for _, d := range []struct{ key, path string }{
		{"pbx.data_dir", c.PBX.DataDir},
		{"pbx.log_dir", c.PBX.LogDir},
		{"pbx.install_dir", c.PBX.InstallDir},
	} {
		if d.path == "" || !isAbs(goos, d.path) {
			continue
		}
		p := cleanPath(goos, d.path)
		if goos != "windows" {
			for _, f := range forbiddenPBXDirs {
				if p == f {
					ps = append(ps, Problem{Key: d.key, Message: fmt.Sprintf("%s is a system folder, not PortSIP's; the agent reads PBX folders as root and would collect the host's secrets (use e.g. /var/lib/portsip/pbx)", d.path)})
				}
			}
		}
		if state != "" && (within(goos, state, p) || within(goos, p, state)) {
			ps = append(ps, Problem{Key: d.key, Message: fmt.Sprintf("%s overlaps the agent's own state folder %s (agent.state_dir), which holds its secret key; keep them apart", d.path, c.Agent.StateDir)})
		}
	}
	return ps
}

func cleanPath(goos, p string) string {
	if p == "" {
		return ""
	}
	if goos == "windows" {
		return strings.ToLower(strings.TrimRight(strings.ReplaceAll(p, "/", `\`), `\`))
	}
	return filepath.Clean(p)
}

// within reports whether p is dir or inside it (both cleaned).
func within(goos, p, dir string) bool {
	sep := "/"
	if goos == "windows" {
		sep = `\`
	}
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, sep)+sep)
}

// CheckFiles checks that the files and folders the configuration names
// exist and have the right type: smtp.ca_file a readable regular file,
// signing keys not folders, PBX folders folders. It reads the filesystem,
// so it is separate from Validate (a configuration can be valid on one host
// and point at missing files on another); `config validate` runs both.
func (c *Config) CheckFiles() []Problem {
	var ps []Problem
	add := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	file := func(key, p string, mustExist bool) {
		if p == "" {
			return
		}
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if mustExist {
				add(key, "%s does not exist; give the path of an existing file", p)
			}
		case err != nil:
			add(key, "%s: %v", p, err)
		case fi.IsDir():
			add(key, "%s is a folder; give the path of a file", p)
		case !fi.Mode().IsRegular():
			add(key, "%s is not a regular file (%v)", p, fi.Mode().Type())
		}
	}
	file("smtp.ca_file", c.SMTP.CAFile, true)
	file("signing.secret_key", c.SecretKeyPath(), false)
	file("signing.public_key", c.PublicKeyPath(), false)
	for _, d := range []struct{ key, path string }{{"pbx.data_dir", c.PBX.DataDir}, {"pbx.log_dir", c.PBX.LogDir}} {
		if d.path == "" {
			continue
		}
		if fi, err := os.Stat(d.path); err == nil && !fi.IsDir() {
			add(d.key, "%s is not a folder", d.path)
		}
	}
	return ps
}
