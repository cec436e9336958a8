package collectors

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/shirou/gopsutil/v4/disk"
)

// RoleRecordings is the role of the call recordings folder; RoleExtraPrefix
// starts the role of a folder from checks.disk.paths ("extra:/srv/backup").
const (
	RoleRecordings  = "recordings"
	RoleExtraPrefix = "extra:"
)

// minFreeClearFactor widens min_free for the clear level: a filesystem that
// fell below min_free stays critical until it has 10% more than min_free.
const minFreeClearFactor = 1.1

// forecastClearFactor widens the forecast horizon for the clear level.
const forecastClearFactor = 1.5

// Disk watches space and inodes of the filesystems holding the PBX data,
// logs, recordings, the agent's state and any extra folders, and forecasts
// when they will be full from the history of its own samples (see
// forecast.go). Keep one Disk for the life of the service: the forecast
// needs the samples of previous Collect calls.
type Disk struct {
	cfg   config.DiskCheck
	paths []rolePath
	now   func() time.Time

	partitions func(ctx context.Context) ([]disk.PartitionStat, error)
	usage      usageFunc

	mu      sync.Mutex
	history map[string]*diskHistory
}

type diskHistory struct {
	series   usageSeries
	lastSeen time.Time
}

// NewDisk returns the disk collector. paths maps a role ("pbx_data",
// "pbx_log", "recordings", "agent_state", "extra:<path>") to a folder; empty
// paths are ignored, and cfg.Paths are added as extra roles. now is the
// clock (nil means time.Now).
func NewDisk(cfg config.DiskCheck, paths map[string]string, now func() time.Time) *Disk {
	if now == nil {
		now = time.Now
	}
	d := &Disk{cfg: cfg, now: now, history: map[string]*diskHistory{},
		partitions: func(ctx context.Context) ([]disk.PartitionStat, error) { return disk.PartitionsWithContext(ctx, true) },
		usage:      disk.UsageWithContext,
	}
	seen := map[string]bool{}
	for role, p := range paths {
		if p != "" {
			d.paths = append(d.paths, rolePath{role, p})
			seen[role] = true
		}
	}
	for _, p := range cfg.Paths {
		if role := RoleExtraPrefix + p; p != "" && !seen[role] {
			d.paths = append(d.paths, rolePath{role, p})
			seen[role] = true
		}
	}
	slices.SortFunc(d.paths, func(a, b rolePath) int { return strings.Compare(roleOrder(a.role), roleOrder(b.role)) })
	return d
}

// roleOrder sorts the PBX's roles first, extra folders last.
func roleOrder(role string) string {
	for i, r := range []string{RolePBXData, RolePBXLog, RoleRecordings, RoleAgentState} {
		if role == r {
			return fmt.Sprint(i)
		}
	}
	return "9" + role
}

// DiskFilesystem is one watched filesystem.
type DiskFilesystem struct {
	Mountpoint string `json:"mountpoint"`
	Device     string `json:"device,omitempty"`
	FSType     string `json:"fstype,omitempty"`
	// Roles are the roles of the watched folders on this filesystem and
	// Paths the folders, in the same order.
	Roles []string `json:"roles"`
	Paths []string `json:"paths"`

	Total       uint64  `json:"total_bytes"`
	Used        uint64  `json:"used_bytes"`
	Free        uint64  `json:"free_bytes"`
	UsedPercent float64 `json:"used_percent"`

	InodesTotal       uint64  `json:"inodes_total"`
	InodesUsed        uint64  `json:"inodes_used"`
	InodesUsedPercent float64 `json:"inodes_used_percent"`

	Forecast Forecast `json:"forecast"`
	// State is this filesystem's verdict, Sticky the verdict at the clear
	// levels, and Problems say why it is not OK.
	State    State    `json:"state"`
	Sticky   State    `json:"sticky"`
	Problems []string `json:"problems,omitempty"`
	// Error is set when the usage could not be read.
	Error string `json:"error,omitempty"`
}

// DiskLevels are the levels the verdicts were computed with.
type DiskLevels struct {
	WarningPercent  float64 `json:"warning_percent"`
	CriticalPercent float64 `json:"critical_percent"`
	ClearMargin     float64 `json:"clear_margin"`
	MinFree         int64   `json:"min_free_bytes"`
	ForecastWindow  string  `json:"forecast_window"`
	ForecastHorizon string  `json:"forecast_horizon"`
}

// DiskData is the disk collector's Data.
type DiskData struct {
	Filesystems []DiskFilesystem `json:"filesystems"`
	Levels      DiskLevels       `json:"levels"`
	Warnings    []string         `json:"warnings,omitempty"`
}

// Collect reads every watched filesystem, adds a sample to its history and
// judges it. It returns ErrNoData when no folder is configured.
func (d *Disk) Collect(ctx context.Context) (*Report, error) {
	if len(d.paths) == 0 {
		return nil, noData("no folders to watch")
	}
	now := d.now()
	parts, err := d.partitions(ctx)
	var data DiskData
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("list mounts: %w", ctx.Err())
		}
		data.Warnings = append(data.Warnings, fmt.Sprintf("list mounts: %v", err))
	}
	d.group(&data, parts)
	d.readUsage(ctx, data.Filesystems)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("disk usage: %w", err)
	}

	d.judgeAll(data.Filesystems, now)

	data.Levels = DiskLevels{WarningPercent: d.cfg.WarningPercent, CriticalPercent: d.cfg.CriticalPercent,
		ClearMargin: d.cfg.ClearMargin, MinFree: int64(d.cfg.MinFree),
		ForecastWindow: d.cfg.ForecastWindow.String(), ForecastHorizon: d.cfg.ForecastHorizon.String()}
	return d.report(data), nil
}

// group puts the watched folders on their filesystems, one entry per
// filesystem in the order of the roles.
func (d *Disk) group(data *DiskData, parts []disk.PartitionStat) {
	mps := make([]string, len(parts))
	for i, p := range parts {
		mps[i] = p.Mountpoint
	}
	index := map[string]int{}
	for _, rp := range d.paths {
		resolved, _ := resolvePath(rp.path)
		fs := DiskFilesystem{Mountpoint: resolved}
		if i := mountFor(mps, resolved); i >= 0 {
			fs = DiskFilesystem{Mountpoint: parts[i].Mountpoint, Device: parts[i].Device, FSType: parts[i].Fstype}
		} else {
			data.Warnings = append(data.Warnings, fmt.Sprintf("%s %s: mount not found; watching the folder's filesystem", rp.role, rp.path))
		}
		j, ok := index[fs.Mountpoint]
		if !ok {
			j = len(data.Filesystems)
			index[fs.Mountpoint] = j
			data.Filesystems = append(data.Filesystems, fs)
		}
		data.Filesystems[j].Roles = append(data.Filesystems[j].Roles, rp.role)
		data.Filesystems[j].Paths = append(data.Filesystems[j].Paths, rp.path)
	}
}

// judgeAll feeds each filesystem's usage to its history, forecasts and
// judges it, and forgets the filesystems no longer watched.
func (d *Disk) judgeAll(filesystems []DiskFilesystem, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range filesystems {
		fs := &filesystems[i]
		if fs.Error != "" {
			fs.State, fs.Sticky = StateUnknown, StateUnknown
			fs.Problems = append(fs.Problems, "usage unknown: "+fs.Error)
			continue
		}
		key := fs.Mountpoint + "\x00" + fs.Device
		h := d.history[key]
		if h == nil {
			h = &diskHistory{}
			d.history[key] = h
		}
		h.lastSeen = now
		h.series.add(now, float64(fs.Used), float64(fs.Used)+float64(fs.Free), d.cfg.ForecastWindow.D())
		fs.Forecast = h.series.forecast(d.cfg.ForecastWindow.D())
		d.judge(fs)
	}
	for k, h := range d.history { // forget filesystems no longer watched
		if now.Sub(h.lastSeen) > d.cfg.ForecastWindow.D()+forecastCycleMemory {
			delete(d.history, k)
		}
	}
}

// readUsage reads every filesystem's usage (see readUsages).
func (d *Disk) readUsage(ctx context.Context, fss []DiskFilesystem) {
	paths := make([]string, len(fss))
	for i := range fss {
		paths[i] = fss[i].Mountpoint
	}
	for i, r := range readUsages(ctx, paths, d.usage) {
		fs := &fss[i]
		switch u := r.Usage; {
		case r.Err != "":
			fs.Error = r.Err
		case u.Total == 0:
			fs.Error = "filesystem reports no size"
		default:
			fs.Total, fs.Used, fs.Free, fs.UsedPercent = u.Total, u.Used, u.Free, u.UsedPercent
			fs.InodesTotal, fs.InodesUsed, fs.InodesUsedPercent = u.InodesTotal, u.InodesUsed, u.InodesUsedPercent
		}
	}
}

// judge sets the filesystem's State, Sticky and Problems. CRITICAL: space or
// inodes at or over critical_percent, or less than min_free available.
// WARNING: at or over warning_percent, or forecast full within the horizon.
// Sticky applies the same rules at the clear levels: the percentages minus
// clear_margin, min_free × 1.1 and the horizon × 1.5.
func (d *Disk) judge(fs *DiskFilesystem) {
	c := d.cfg
	inodes := fs.InodesTotal > 0
	minFree := uint64(max(c.MinFree, 0))
	atLeast := func(pct, level float64) bool { return level > 0 && pct >= level }

	switch {
	case atLeast(fs.UsedPercent, c.CriticalPercent):
		fs.State = StateCritical
		fs.Problems = append(fs.Problems, fmt.Sprintf("space %.1f%% used, critical at %g%%", fs.UsedPercent, c.CriticalPercent))
	case atLeast(fs.UsedPercent, c.WarningPercent):
		fs.State = StateWarning
		fs.Problems = append(fs.Problems, fmt.Sprintf("space %.1f%% used, warning at %g%%", fs.UsedPercent, c.WarningPercent))
	}
	switch {
	case inodes && atLeast(fs.InodesUsedPercent, c.CriticalPercent):
		fs.State = max(fs.State, StateCritical)
		fs.Problems = append(fs.Problems, fmt.Sprintf("inodes %.1f%% used, critical at %g%%", fs.InodesUsedPercent, c.CriticalPercent))
	case inodes && atLeast(fs.InodesUsedPercent, c.WarningPercent):
		fs.State = max(fs.State, StateWarning)
		fs.Problems = append(fs.Problems, fmt.Sprintf("inodes %.1f%% used, warning at %g%%", fs.InodesUsedPercent, c.WarningPercent))
	}
	if minFree > 0 && fs.Free < minFree {
		fs.State = max(fs.State, StateCritical)
		fs.Problems = append(fs.Problems, fmt.Sprintf("only %s free, minimum %s", formatBytes(fs.Free), formatBytes(minFree)))
	}
	if fs.Forecast.Warns(c.ForecastHorizon.D()) {
		fs.State = max(fs.State, StateWarning)
		fs.Problems = append(fs.Problems, fmt.Sprintf("forecast full in %s at %s/h (horizon %s)",
			etaText(fs.Forecast.ETA), formatBytes(uint64(fs.Forecast.SlopeBytesPerHour)), roughDuration(c.ForecastHorizon.D())))
	}

	clearWarn, clearCrit := c.WarningPercent-c.ClearMargin, c.CriticalPercent-c.ClearMargin
	switch {
	case atLeast(fs.UsedPercent, clearCrit), inodes && atLeast(fs.InodesUsedPercent, clearCrit),
		minFree > 0 && float64(fs.Free) < float64(minFree)*minFreeClearFactor:
		fs.Sticky = StateCritical
	case atLeast(fs.UsedPercent, clearWarn), inodes && atLeast(fs.InodesUsedPercent, clearWarn),
		fs.Forecast.Warns(time.Duration(float64(c.ForecastHorizon.D()) * forecastClearFactor)):
		fs.Sticky = StateWarning
	}
	fs.Sticky = max(fs.Sticky, fs.State)
}

// summaryLine renders one filesystem: "/var/lib/portsip: 91.2% used,
// 4.2 GiB free (full in ~7 h at 180 MiB/h)".
func (fs *DiskFilesystem) summaryLine() string {
	if fs.Error != "" {
		return fmt.Sprintf("%s: usage unknown (%s)", fs.Mountpoint, fs.Error)
	}
	s := fmt.Sprintf("%s: %.1f%% used, %s free", fs.Mountpoint, fs.UsedPercent, formatBytes(fs.Free))
	if fs.InodesTotal > 0 && fs.InodesUsedPercent >= 50 && fs.InodesUsedPercent > fs.UsedPercent {
		s += fmt.Sprintf(", inodes %.1f%% used", fs.InodesUsedPercent)
	}
	if fs.Forecast.Status == ForecastGrowing && fs.Forecast.ETA < forecastMaxETA {
		s += fmt.Sprintf(" (full in %s at %s/h)", etaText(fs.Forecast.ETA), formatBytes(uint64(fs.Forecast.SlopeBytesPerHour)))
	}
	if fs.State != StateOK {
		// The levels that fired, so that an alert says why (the forecast
		// is already in the line).
		var fired []string
		for _, p := range fs.Problems {
			if !strings.HasPrefix(p, "forecast ") {
				fired = append(fired, p)
			}
		}
		if len(fired) > 0 {
			s += " — " + strings.Join(fired, "; ")
		}
	}
	return s
}

func (fs *DiskFilesystem) forecastText() string {
	f := fs.Forecast
	switch f.Status {
	case ForecastGrowing:
		return fmt.Sprintf("full in %s (%s/h)", etaText(f.ETA), formatBytes(uint64(f.SlopeBytesPerHour)))
	case ForecastCyclic:
		return fmt.Sprintf("cyclic (+%s/h, cleaned)", formatBytes(uint64(f.SlopeBytesPerHour)))
	case ForecastCollecting:
		return fmt.Sprintf("collecting (%d samples)", f.Samples)
	case "":
		return "-"
	default:
		return f.Status
	}
}

func (d *Disk) report(data DiskData) *Report {
	rep := &Report{State: StateOK, Data: data}
	order := make([]int, len(data.Filesystems))
	for i := range order {
		order[i] = i
	}
	// Worst first; among equals, the order of the roles (PBX data first).
	slices.SortStableFunc(order, func(a, b int) int { return int(data.Filesystems[b].State) - int(data.Filesystems[a].State) })

	rows := [][]string{{"MOUNTPOINT", "DEVICE", "ROLES", "SIZE", "USED", "FREE", "USE%", "INODE%", "FORECAST", "STATE"}}
	var lines []string
	for n, i := range order {
		fs := &data.Filesystems[i]
		rep.State = max(rep.State, fs.State)
		rep.Sticky = max(rep.Sticky, fs.Sticky)
		if n < 3 {
			lines = append(lines, fs.summaryLine())
		}
		rep.Metrics = append(rep.Metrics, fs.metrics()...)
		rows = append(rows, fs.row())
	}
	rep.Summary = strings.Join(lines, "; ")
	if more := len(order) - len(lines); more > 0 {
		rep.Summary += fmt.Sprintf("; %d more filesystems", more)
	}

	rep.Text = diskText(data, rows)
	if rep.State != StateOK && len(order) > 0 {
		rep.Advice = d.advice(&data.Filesystems[order[0]])
	}
	return rep
}

// metrics are the filesystem's usage and forecast metrics, none when its
// usage is unknown.
func (fs *DiskFilesystem) metrics() []Metric {
	if fs.Error != "" {
		return nil
	}
	label := map[string]string{"mountpoint": fs.Mountpoint}
	ms := []Metric{
		{Name: "disk_used_ratio", Value: fs.UsedPercent / 100, Label: label},
		{Name: "disk_free_bytes", Value: float64(fs.Free), Unit: "B", Label: label},
	}
	if fs.InodesTotal > 0 {
		ms = append(ms, Metric{Name: "disk_inodes_used_ratio", Value: fs.InodesUsedPercent / 100, Label: label})
	}
	if st := fs.Forecast.Status; st != ForecastCollecting && st != "" {
		ms = append(ms, Metric{Name: "disk_growth_bytes_per_second", Value: fs.Forecast.SlopeBytesPerHour / 3600, Unit: "B/s", Label: label})
	}
	if fs.Forecast.Status == ForecastGrowing {
		ms = append(ms, Metric{Name: "disk_full_eta_seconds", Value: math.Round(fs.Forecast.ETA.Seconds()), Unit: "s", Label: label})
	}
	return ms
}

// row is the filesystem's line in the table.
func (fs *DiskFilesystem) row() []string {
	size, used, free, pct, ipct := "-", "-", "-", "-", "-"
	if fs.Error == "" {
		size, used, free, pct = formatBytes(fs.Total), formatBytes(fs.Used), formatBytes(fs.Free), fmt.Sprintf("%.1f%%", fs.UsedPercent)
		if fs.InodesTotal > 0 {
			ipct = fmt.Sprintf("%.1f%%", fs.InodesUsedPercent)
		}
	}
	return []string{fs.Mountpoint, orDash(fs.Device), strings.Join(fs.Roles, ","), size, used, free, pct, ipct,
		fs.forecastText(), fs.State.String()}
}

// diskText is the table followed by each filesystem's problems and
// forecast note, then the warnings.
func diskText(data DiskData, rows [][]string) string {
	var b strings.Builder
	b.WriteString(textTable(rows))
	for _, fs := range data.Filesystems {
		for _, p := range fs.Problems {
			fmt.Fprintf(&b, "%s: %s\n", fs.Mountpoint, p)
		}
		if fs.Forecast.Note != "" {
			fmt.Fprintf(&b, "%s: forecast: %s\n", fs.Mountpoint, fs.Forecast.Note)
		}
	}
	for _, w := range data.Warnings {
		b.WriteString("warning: " + w + "\n")
	}
	return b.String()
}

// advice tells what to do about the worst filesystem, after the PortSIP
// troubleshooting guide.
func (d *Disk) advice(fs *DiskFilesystem) string {
	if fs.Error != "" {
		return fmt.Sprintf("The usage of %s could not be read (%s); check the mount (a hung network share?) with `df -h %s`.",
			fs.Mountpoint, fs.Error, fs.Mountpoint)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s holds %s. A full disk makes the PortSIP web portal fail with errors 500 or 502 and makes calls fail "+
		"(PortSIP troubleshooting guide). ", fs.Mountpoint, strings.Join(fs.Roles, ", "))
	logDir := ""
	for _, rp := range d.paths {
		if rp.role == RolePBXLog {
			logDir = rp.path
		}
	}
	if slices.Contains(fs.Roles, RolePBXLog) || slices.Contains(fs.Roles, RolePBXData) {
		if logDir == "" {
			logDir = "the PBX log folder"
		}
		fmt.Fprintf(&b, "Free space now by deleting the archived *.gz logs in %s: preview with `pbxagent logs prune --dry-run`, "+
			"then run `pbxagent logs prune`. ", logDir)
	}
	for i, role := range fs.Roles {
		if role == RoleRecordings {
			fmt.Fprintf(&b, "Call recordings in %s are on this filesystem: archive or move old ones. ", fs.Paths[i])
		}
	}
	if fs.InodesTotal > 0 && fs.InodesUsedPercent >= d.cfg.WarningPercent-d.cfg.ClearMargin {
		if runtime.GOOS == "windows" {
			b.WriteString("Inodes are running out: many small files; find the folder that holds them. ")
		} else {
			fmt.Fprintf(&b, "Inodes are running out (many small files): find them with `du -x --inodes %s | sort -n | tail`. ", fs.Mountpoint)
		}
	}
	if runtime.GOOS != "windows" {
		fmt.Fprintf(&b, "See what takes the space with `du -xh --max-depth=3 %s | sort -h | tail -20`. ", fs.Mountpoint)
	}
	b.WriteString("For a lasting fix, increase the disk.")
	return b.String()
}
