package agent

import (
	"fmt"
	"path/filepath"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/collectors"
	"github.com/pbxagent/pbxagent/internal/safefs"
)

// readPBXFile reads a small file of the PBX (or the agent's own
// configuration) through safefs: its folder is resolved and opened once,
// the file is opened relative to it without following a symlink, must be a
// regular file, and is read with limit.
func readPBXFile(path string, limit int64) ([]byte, safefs.Info, error) {
	d, err := safefs.OpenDir(filepath.Dir(path), safefs.DirOptions{Owner: -1})
	if err != nil {
		return nil, safefs.Info{}, err
	}
	defer d.Close()
	return d.ReadFile(filepath.Base(path), limit)
}

// refusedReason is the manifest's wording for a refused file, naming the
// reason first so it can be searched for.
func refusedReason(err error) (string, bool) {
	r, ok := safefs.Refusal(err)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("refused (%s): %v", r, err), true
}

// linkNote records a file with more than one hard link.
func linkNote(path string, links uint64) string {
	return fmt.Sprintf("%s has %d hard links (collected as usual; the kernel's protected_hardlinks keeps the PBX user from linking files it does not own)", path, links)
}

// noteRefusals lists in the manifest the PBX files a collector refused to
// read (today VERSION, read by the pbx collector).
func noteRefusals(w *bundle.Writer, o collectors.Outcome) {
	if o.Report == nil {
		return
	}
	if d, ok := o.Report.Data.(collectors.PBXData); ok && d.VersionRefused != "" {
		w.Missing("system/VERSION", o.Name, fmt.Sprintf("refused (%s): %s", d.VersionRefused, d.VersionError))
	}
}
