package collectors

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/host"
)

// Host reports what the machine is: name, OS, kernel, uptime and clock.
type Host struct {
	now func() time.Time
}

// NewHost returns the host collector.
func NewHost() *Host { return &Host{now: time.Now} }

// HostData is the host collector's Data.
type HostData struct {
	Hostname             string    `json:"hostname"`
	OS                   string    `json:"os"`
	Platform             string    `json:"platform"`
	PlatformFamily       string    `json:"platform_family"`
	PlatformVersion      string    `json:"platform_version"`
	KernelVersion        string    `json:"kernel_version"`
	KernelArch           string    `json:"kernel_arch"`
	UptimeSeconds        uint64    `json:"uptime_seconds"`
	BootTime             time.Time `json:"boot_time"`
	VirtualizationSystem string    `json:"virtualization_system"`
	VirtualizationRole   string    `json:"virtualization_role"`
	TimeUTC              time.Time `json:"time_utc"`
	TimeLocal            string    `json:"time_local"`
	// TimeZone is the IANA zone name where the host exposes it ("Europe/Berlin"), else empty.
	TimeZone         string `json:"timezone"`
	TimeZoneAbbrev   string `json:"timezone_abbrev"`
	UTCOffset        string `json:"utc_offset"`
	UTCOffsetSeconds int    `json:"utc_offset_seconds"`
	// Errors lists the facts that could not be read; the others are still valid.
	Errors []string `json:"errors,omitempty"`
}

// hostFacts is how many facts Collect reads from the system.
const hostFacts = 7

// Collect reads the host facts. A fact that cannot be read is recorded in
// Errors; only when none can be read does it fail.
func (h *Host) Collect(ctx context.Context) (*Report, error) {
	d := HostData{OS: runtime.GOOS}
	boot, errs := readHostFacts(ctx, &d)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.setClock(h.now())
	d.Errors = errs
	if len(errs) == hostFacts {
		return nil, errors.New("host: " + strings.Join(errs, "; "))
	}
	summary := fmt.Sprintf("%s: %s %s, kernel %s %s, up %s",
		orUnknown(d.Hostname), orUnknown(d.Platform), d.PlatformVersion, orUnknown(d.KernelVersion), d.KernelArch,
		formatDuration(time.Duration(d.UptimeSeconds)*time.Second))
	if d.VirtualizationSystem != "" && d.VirtualizationRole == "guest" {
		summary += ", " + d.VirtualizationSystem + " guest"
	}
	return &Report{
		State:   StateOK,
		Summary: summary,
		Metrics: []Metric{
			{Name: "host_uptime_seconds", Value: float64(d.UptimeSeconds), Unit: "s"},
			{Name: "host_boot_time_seconds", Value: float64(boot), Unit: "s"},
		},
		Data: d,
		Text: hostText(d),
	}, nil
}

// readHostFacts reads the host's facts into d and returns the boot time in
// seconds since the epoch, and what could not be read.
func readHostFacts(ctx context.Context, d *HostData) (boot uint64, errs []string) {
	note := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", what, err))
		}
	}
	var err error
	d.Hostname, err = os.Hostname()
	note("hostname", err)
	d.Platform, d.PlatformFamily, d.PlatformVersion, err = host.PlatformInformationWithContext(ctx)
	note("platform", err)
	d.KernelVersion, err = host.KernelVersionWithContext(ctx)
	note("kernel version", err)
	d.KernelArch, err = host.KernelArch()
	note("kernel arch", err)
	d.VirtualizationSystem, d.VirtualizationRole, err = host.VirtualizationWithContext(ctx)
	note("virtualization", err)
	boot, err = host.BootTimeWithContext(ctx)
	note("boot time", err)
	if err == nil && boot > 0 {
		d.BootTime = time.Unix(int64(boot), 0).UTC()
	}
	d.UptimeSeconds, err = host.UptimeWithContext(ctx)
	note("uptime", err)
	return boot, errs
}

// setClock records the host's time and time zone at now.
func (d *HostData) setClock(now time.Time) {
	d.TimeUTC = now.UTC().Truncate(time.Second)
	local := now.Local()
	d.TimeLocal = local.Format("2006-01-02 15:04:05 -07:00")
	d.TimeZoneAbbrev, d.UTCOffsetSeconds = local.Zone()
	d.UTCOffset = local.Format("-07:00")
	d.TimeZone = zoneName()
}

func hostText(d HostData) string {
	zone := d.TimeZoneAbbrev
	if d.TimeZone != "" {
		zone = d.TimeZone + " (" + d.TimeZoneAbbrev + ")"
	}
	rows := [][]string{
		{"Hostname:", d.Hostname},
		{"OS:", fmt.Sprintf("%s %s %s (%s)", d.OS, d.Platform, d.PlatformVersion, d.PlatformFamily)},
		{"Kernel:", d.KernelVersion + " " + d.KernelArch},
		{"Virtualization:", strings.TrimSpace(d.VirtualizationSystem + " " + d.VirtualizationRole)},
		{"Boot time:", d.BootTime.Format(time.RFC3339)},
		{"Uptime:", formatDuration(time.Duration(d.UptimeSeconds) * time.Second)},
		{"Time (UTC):", d.TimeUTC.Format(time.RFC3339)},
		{"Time (local):", d.TimeLocal},
		{"Time zone:", zone + " UTC" + d.UTCOffset},
	}
	for _, e := range d.Errors {
		rows = append(rows, []string{"Error:", e})
	}
	return textTable(rows)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// zoneName returns the host's IANA time zone name when it can be found:
// $TZ, the /etc/localtime link target, or /etc/timezone. On Windows the
// files do not exist and the result is empty unless TZ is set.
func zoneName() string {
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" && !filepath.IsAbs(tz) {
		return tz
	}
	if target, err := filepath.EvalSymlinks("/etc/localtime"); err == nil {
		if i := strings.Index(target, "zoneinfo/"); i >= 0 {
			return target[i+len("zoneinfo/"):]
		}
	}
	if f, err := os.Open("/etc/timezone"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			return strings.TrimSpace(sc.Text())
		}
	}
	return ""
}
