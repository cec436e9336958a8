package collectors

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
)

// Roles of the paths the mounts collector locates.
const (
	RolePBXData    = "pbx_data"
	RolePBXLog     = "pbx_log"
	RoleAgentState = "agent_state"
)

// usageTimeout bounds one statfs call: a hung network mount must not stall
// the whole report.
const usageTimeout = 3 * time.Second

// Mounts reports every mounted filesystem and which ones hold the PBX data,
// the PBX logs and the agent's state.
type Mounts struct {
	paths []rolePath
}

type rolePath struct{ role, path string }

// NewMounts returns the mounts collector. Empty paths are not located.
func NewMounts(pbxDataDir, pbxLogDir, agentStateDir string) *Mounts {
	return &Mounts{paths: []rolePath{
		{RolePBXData, pbxDataDir},
		{RolePBXLog, pbxLogDir},
		{RoleAgentState, agentStateDir},
	}}
}

// Mount is one mounted filesystem.
type Mount struct {
	Device      string   `json:"device"`
	Mountpoint  string   `json:"mountpoint"`
	FSType      string   `json:"fstype"`
	Options     []string `json:"options"`
	Total       uint64   `json:"total_bytes"`
	Used        uint64   `json:"used_bytes"`
	Free        uint64   `json:"free_bytes"`
	UsedPercent float64  `json:"used_percent"`

	InodesTotal       uint64  `json:"inodes_total"`
	InodesUsed        uint64  `json:"inodes_used"`
	InodesFree        uint64  `json:"inodes_free"`
	InodesUsedPercent float64 `json:"inodes_used_percent"`
	// Holds lists the roles (pbx_data, pbx_log, agent_state) whose path is on this mount.
	Holds []string `json:"holds,omitempty"`
	// Error is set when usage could not be read; the sizes are then zero.
	Error string `json:"error,omitempty"`
}

// PathLocation tells which mount a configured path is on.
type PathLocation struct {
	Role string `json:"role"`
	Path string `json:"path"`
	// Resolved is the absolute path with symlinks resolved as far as it exists.
	Resolved   string `json:"resolved"`
	Exists     bool   `json:"exists"`
	Mountpoint string `json:"mountpoint,omitempty"`
}

// MountsData is the mounts collector's Data.
type MountsData struct {
	Mounts   []Mount        `json:"mounts"`
	Paths    []PathLocation `json:"paths"`
	Warnings []string       `json:"warnings,omitempty"`
}

// Collect lists the mounts and their usage.
func (m *Mounts) Collect(ctx context.Context) (*Report, error) {
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil && len(parts) == 0 {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	var d MountsData
	if err != nil {
		d.Warnings = append(d.Warnings, err.Error())
	}
	d.Mounts = make([]Mount, len(parts))
	for i, p := range parts {
		d.Mounts[i] = Mount{Device: p.Device, Mountpoint: p.Mountpoint, FSType: p.Fstype, Options: append([]string{}, p.Opts...)}
	}
	fillUsage(ctx, d.Mounts)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	m.locate(&d)
	rep := &Report{State: StateOK, Data: d, Summary: mountsSummary(d)}
	rows := [][]string{{"MOUNTPOINT", "FSTYPE", "DEVICE", "SIZE", "USED", "FREE", "USE%", "INODE%", "HOLDS"}}
	for _, mt := range d.Mounts {
		if mt.Error != "" {
			rows = append(rows, []string{mt.Mountpoint, mt.FSType, mt.Device, "-", "-", "-", "-", "-", strings.Join(mt.Holds, ",") + " error: " + mt.Error})
			continue
		}
		rep.Metrics = append(rep.Metrics, mountMetrics(mt)...)
		rows = append(rows, []string{mt.Mountpoint, mt.FSType, mt.Device, formatBytes(mt.Total), formatBytes(mt.Used),
			formatBytes(mt.Free), fmt.Sprintf("%.1f%%", mt.UsedPercent), fmt.Sprintf("%.1f%%", mt.InodesUsedPercent), strings.Join(mt.Holds, ",")})
	}
	var b strings.Builder
	for _, loc := range d.Paths {
		fmt.Fprintf(&b, "%s: %s -> %s (exists: %t) on %s\n", loc.Role, loc.Path, loc.Resolved, loc.Exists, orUnknown(loc.Mountpoint))
	}
	b.WriteByte('\n')
	b.WriteString(textTable(rows))
	for _, w := range d.Warnings {
		b.WriteString("warning: " + w + "\n")
	}
	rep.Text = b.String()
	return rep, nil
}

// locate finds the mount holding each configured path and records the
// path's role on that mount.
func (m *Mounts) locate(d *MountsData) {
	mps := make([]string, len(d.Mounts))
	for i, mt := range d.Mounts {
		mps[i] = mt.Mountpoint
	}
	for _, rp := range m.paths {
		if rp.path == "" {
			continue
		}
		loc := PathLocation{Role: rp.role, Path: rp.path}
		loc.Resolved, loc.Exists = resolvePath(rp.path)
		if i := mountFor(mps, loc.Resolved); i >= 0 {
			loc.Mountpoint = d.Mounts[i].Mountpoint
			d.Mounts[i].Holds = append(d.Mounts[i].Holds, rp.role)
		}
		d.Paths = append(d.Paths, loc)
	}
}

// mountsSummary names the PBX data folder's mount and its usage.
func mountsSummary(d MountsData) string {
	summary := fmt.Sprintf("%d mounts", len(d.Mounts))
	for _, loc := range d.Paths {
		if loc.Role != RolePBXData {
			continue
		}
		i := indexHolding(d.Mounts, RolePBXData)
		switch {
		case i < 0:
			summary = fmt.Sprintf("PBX data %s: no mount found; %d mounts", loc.Path, len(d.Mounts))
		case d.Mounts[i].Error != "":
			summary = fmt.Sprintf("PBX data %s on %s: usage unknown (%s); %d mounts", loc.Path, d.Mounts[i].Mountpoint, d.Mounts[i].Error, len(d.Mounts))
		default:
			mt := d.Mounts[i]
			missing := ""
			if !loc.Exists {
				missing = " (folder missing)"
			}
			summary = fmt.Sprintf("PBX data %s%s on %s: %.1f%% used, %s free of %s; %d mounts",
				loc.Path, missing, mt.Mountpoint, mt.UsedPercent, formatBytes(mt.Free), formatBytes(mt.Total), len(d.Mounts))
		}
	}
	return summary
}

// mountMetrics are the usage metrics of a mount whose usage was read.
func mountMetrics(mt Mount) []Metric {
	var ms []Metric
	if mt.Total > 0 {
		ms = append(ms,
			Metric{Name: "mount_used_percent", Value: mt.UsedPercent, Unit: "%", Label: map[string]string{"mountpoint": mt.Mountpoint}},
			Metric{Name: "mount_free_bytes", Value: float64(mt.Free), Unit: "B", Label: map[string]string{"mountpoint": mt.Mountpoint}})
	}
	if mt.InodesTotal > 0 {
		ms = append(ms,
			Metric{Name: "mount_inodes_used_percent", Value: mt.InodesUsedPercent, Unit: "%", Label: map[string]string{"mountpoint": mt.Mountpoint}})
	}
	return ms
}

// fillUsage reads the usage of every mount (see readUsages); a mount whose
// usage cannot be read gets an Error instead of sizes.
func fillUsage(ctx context.Context, mounts []Mount) {
	paths := make([]string, len(mounts))
	for i := range mounts {
		paths[i] = mounts[i].Mountpoint
	}
	for i, r := range readUsages(ctx, paths, disk.UsageWithContext) {
		mt := &mounts[i]
		if r.Err != "" {
			mt.Error = r.Err
			continue
		}
		u := r.Usage
		mt.Total, mt.Used, mt.Free, mt.UsedPercent = u.Total, u.Used, u.Free, u.UsedPercent
		mt.InodesTotal, mt.InodesUsed, mt.InodesFree, mt.InodesUsedPercent = u.InodesTotal, u.InodesUsed, u.InodesFree, u.InodesUsedPercent
	}
}

func indexHolding(mounts []Mount, role string) int {
	for i, mt := range mounts {
		for _, h := range mt.Holds {
			if h == role {
				return i
			}
		}
	}
	return -1
}

// resolvePath returns the absolute form of p with symlinks resolved. When p
// does not exist, its deepest existing ancestor is resolved and the rest is
// appended, so the mount that would hold it is still found.
func resolvePath(p string) (resolved string, exists bool) {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, true
	}
	_, statErr := os.Lstat(abs)
	exists = statErr == nil
	rest := ""
	dir := abs
	for {
		parent := filepath.Dir(dir)
		rest = filepath.Join(filepath.Base(dir), rest)
		if parent == dir {
			return abs, exists
		}
		dir = parent
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest), exists
		} else if !errors.Is(err, os.ErrNotExist) {
			return abs, exists
		}
	}
}

// mountFor returns the index of the mount point that holds path (longest
// prefix on path-element boundaries; the last of equal mount points, which
// shadows the earlier ones), or -1.
func mountFor(mountpoints []string, path string) int {
	best, bestLen := -1, -1
	for i, mp := range mountpoints {
		if mp == "" || !underMount(mp, path) {
			continue
		}
		if l := len(filepath.Clean(mp)); l >= bestLen {
			best, bestLen = i, l
		}
	}
	return best
}

// underMount reports whether path is mp or lies below it. Windows paths
// compare case-insensitively.
func underMount(mp, path string) bool {
	if runtime.GOOS == "windows" {
		if len(mp) == 2 && mp[1] == ':' {
			mp += `\` // "C:" is the drive's root; Clean would make it "C:."
		}
		mp, path = strings.ToLower(mp), strings.ToLower(path)
	}
	mp, path = filepath.Clean(mp), filepath.Clean(path)
	if path == mp {
		return true
	}
	if !strings.HasSuffix(mp, string(filepath.Separator)) {
		mp += string(filepath.Separator)
	}
	return strings.HasPrefix(path, mp)
}
