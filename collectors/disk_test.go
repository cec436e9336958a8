package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
	"github.com/pbxagent/pbxagent/internal/testutil"
	"github.com/shirou/gopsutil/v4/disk"
)

func diskCfg(warn, crit, margin float64, minFree config.ByteSize) config.DiskCheck {
	return config.DiskCheck{WarningPercent: warn, CriticalPercent: crit, ClearMargin: margin, MinFree: minFree,
		ForecastWindow: config.Duration(6 * time.Hour), ForecastHorizon: config.Duration(24 * time.Hour)}
}

// mountTmpfs mounts a small tmpfs for the test; it needs root on Linux.
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	testutil.NeedLinux(t)
	testutil.NeedRoot(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput()
	testutil.Need(t, err == nil, fmt.Sprintf("mount tmpfs: %v: %s", err, out))
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill makes dir/fill exactly kib KiB.
func fill(t *testing.T, dir string, kib int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "fill"), make([]byte, kib<<10), 0o644); err != nil {
		t.Fatal(err)
	}
}

func collectDisk(t *testing.T, d *Disk) (*Report, DiskData) {
	t.Helper()
	rep, err := d.Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	data, ok := rep.Data.(DiskData)
	if !ok {
		t.Fatalf("Data is %T", rep.Data)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("encode: %v", err)
	}
	if rep.Summary == "" || strings.Contains(rep.Summary, "\n") || rep.Text == "" {
		t.Fatalf("summary %q text %q", rep.Summary, rep.Text)
	}
	if rep.Sticky < rep.State {
		t.Fatalf("sticky %v below state %v", rep.Sticky, rep.State)
	}
	return rep, data
}

func TestDiskTmpfsLevels(t *testing.T) {
	mnt := mountTmpfs(t, "size=8m")
	other := mountTmpfs(t, "size=8m")
	pbx := filepath.Join(mnt, "pbx")
	if err := os.MkdirAll(filepath.Join(pbx, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := NewDisk(diskCfg(50, 80, 10, 0), map[string]string{
		RolePBXData: pbx, RolePBXLog: filepath.Join(pbx, "log"), RoleAgentState: other, RoleRecordings: "",
	}, nil)

	for _, step := range []struct {
		kib           int // of 8192
		state, sticky State
	}{
		{0, StateOK, StateOK},
		{3687, StateOK, StateWarning},             // 45%: below warning 50, above its clear level 40
		{4506, StateWarning, StateWarning},        // 55%
		{6144, StateWarning, StateCritical},       // 75%: below critical 80, above its clear level 70
		{6964, StateCritical, StateCritical},      // 85%
		{6144, StateWarning, StateCritical},       // back to 75%: the rule engine holds CRITICAL
		{3000, StateOK, StateOK},                  // 36.6%: clear
		{8192 - 40, StateCritical, StateCritical}, // nearly full
	} {
		fill(t, pbx, step.kib)
		rep, data := collectDisk(t, d)
		if len(data.Filesystems) != 2 {
			t.Fatalf("%d filesystems, want 2 (deduplicated by mount): %+v", len(data.Filesystems), data.Filesystems)
		}
		var fs *DiskFilesystem
		for i := range data.Filesystems {
			if data.Filesystems[i].Mountpoint == mnt {
				fs = &data.Filesystems[i]
			}
		}
		if fs == nil || strings.Join(fs.Roles, ",") != "pbx_data,pbx_log" || fs.FSType != "tmpfs" || fs.Total != 8<<20 {
			t.Fatalf("filesystem %+v", fs)
		}
		if rep.State != step.state || rep.Sticky != step.sticky {
			t.Errorf("%d KiB (%.1f%%): state %v sticky %v, want %v / %v; problems %v", step.kib, fs.UsedPercent,
				rep.State, rep.Sticky, step.state, step.sticky, fs.Problems)
		}
		if !strings.HasPrefix(rep.Summary, fmt.Sprintf("%s: %.1f%% used, ", mnt, fs.UsedPercent)) {
			t.Errorf("summary %q", rep.Summary)
		}
		if rep.State == StateOK {
			if rep.Advice != "" {
				t.Errorf("advice when OK: %q", rep.Advice)
			}
			continue
		}
		for _, want := range []string{"500", "502", "calls fail", "pbxagent logs prune --dry-run", filepath.Join(pbx, "log"), "increase the disk"} {
			if !strings.Contains(rep.Advice, want) {
				t.Errorf("advice lacks %q: %s", want, rep.Advice)
			}
		}
	}
	_, data := collectDisk(t, d)
	if f := data.Filesystems[0].Forecast; f.Status != ForecastCollecting {
		t.Errorf("forecast after a few samples: %+v", f)
	}
}

func TestDiskTmpfsMinFree(t *testing.T) {
	mnt := mountTmpfs(t, "size=8m")
	d := NewDisk(diskCfg(99, 100, 1, 2<<20), map[string]string{RolePBXData: mnt}, nil)
	for _, step := range []struct {
		kib           int
		state, sticky State
	}{
		{5120, StateOK, StateOK},             // 3 MiB free
		{6656, StateCritical, StateCritical}, // 1.5 MiB free < 2 MiB
		{6042, StateOK, StateCritical},       // 2.1 MiB free: above min_free, below 2.2 MiB
		{5900, StateOK, StateOK},             // 2.24 MiB free: clear
	} {
		fill(t, mnt, step.kib)
		rep, data := collectDisk(t, d)
		if rep.State != step.state || rep.Sticky != step.sticky {
			t.Errorf("%d KiB used, %d KiB free: state %v sticky %v, want %v / %v", step.kib, data.Filesystems[0].Free>>10,
				rep.State, rep.Sticky, step.state, step.sticky)
		}
		if rep.State == StateCritical && !strings.Contains(strings.Join(data.Filesystems[0].Problems, ";"), "minimum 2.0 MiB") {
			t.Errorf("problems %v", data.Filesystems[0].Problems)
		}
	}
}

func TestDiskTmpfsInodes(t *testing.T) {
	mnt := mountTmpfs(t, "size=8m,nr_inodes=20")
	d := NewDisk(diskCfg(50, 80, 10, 0), map[string]string{RolePBXLog: mnt}, nil)
	for i := range 17 { // 17 files + the root: 18 of 20 inodes, 90%
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprint(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, data := collectDisk(t, d)
	fs := data.Filesystems[0]
	if rep.State != StateCritical || fs.InodesUsedPercent < 80 || !strings.Contains(strings.Join(fs.Problems, ";"), "inodes") {
		t.Fatalf("inodes %.0f%%: state %v, problems %v", fs.InodesUsedPercent, rep.State, fs.Problems)
	}
	if !strings.Contains(rep.Summary, "inodes") || !strings.Contains(rep.Advice, "Inodes are running out") {
		t.Errorf("summary %q advice %q", rep.Summary, rep.Advice)
	}
}

// fakeDisk returns a Disk on a fake filesystem /var/lib/portsip whose usage
// the test sets, with an injected clock.
func fakeDisk(cfg config.DiskCheck, clock *time.Time, used *float64, capacity float64) *Disk {
	d := NewDisk(cfg, map[string]string{RolePBXData: "/var/lib/portsip/pbx", RolePBXLog: "/var/lib/portsip/pbx/log"},
		func() time.Time { return *clock })
	d.partitions = func(context.Context) ([]disk.PartitionStat, error) {
		return []disk.PartitionStat{{Device: "/dev/sda1", Mountpoint: "/", Fstype: "ext4"},
			{Device: "/dev/sdb1", Mountpoint: "/var/lib/portsip", Fstype: "ext4"}}, nil
	}
	d.usage = func(_ context.Context, path string) (*disk.UsageStat, error) {
		if path != "/var/lib/portsip" {
			return nil, fmt.Errorf("unexpected path %s", path)
		}
		u := uint64(*used)
		return &disk.UsageStat{Path: path, Total: uint64(capacity), Used: u, Free: uint64(capacity) - u,
			UsedPercent: 100 * *used / capacity, InodesTotal: 1000, InodesUsed: 10, InodesUsedPercent: 1}, nil
	}
	return d
}

func TestDiskForecastWarns(t *testing.T) {
	// 100 GiB, 40 GiB used, 6 GiB/h: full in 10 h. Sampled every minute.
	clock := t0
	used := 40 * gib
	d := fakeDisk(diskCfg(85, 95, 2, config.GiB), &clock, &used, 100*gib)
	for e := time.Duration(0); e <= 3*time.Hour+10*time.Minute; e += time.Minute {
		clock, used = t0.Add(e), 40*gib+6*gib*e.Hours()
		rep, data := collectDisk(t, d)
		fs := data.Filesystems[0]
		if fs.Mountpoint != "/var/lib/portsip" || fs.Device != "/dev/sdb1" {
			t.Fatalf("filesystem %+v", fs)
		}
		if e < 3*time.Hour {
			if rep.State != StateOK || fs.Forecast.Status != ForecastCollecting || strings.Contains(rep.Summary, "full in") {
				t.Fatalf("at %s: %v %q %+v", e, rep.State, rep.Summary, fs.Forecast)
			}
			continue
		}
		if rep.State != StateWarning || fs.Forecast.Status != ForecastGrowing {
			t.Fatalf("at %s (%.0f%% used): state %v forecast %+v", e, fs.UsedPercent, rep.State, fs.Forecast)
		}
		if eta := fs.Forecast.ETA; eta < 10*time.Hour-e-5*time.Minute || eta > 10*time.Hour-e+5*time.Minute {
			t.Fatalf("at %s: ETA %s, want %s", e, eta, 10*time.Hour-e)
		}
	}
	rep, _ := collectDisk(t, d)
	if want := "/var/lib/portsip: 59.0% used, 41.0 GiB free (full in ~7 h at 6.0 GiB/h)"; rep.Summary != want {
		t.Errorf("summary %q, want %q", rep.Summary, want)
	}
	metrics := map[string]float64{}
	for _, m := range rep.Metrics {
		if m.Label["mountpoint"] != "/var/lib/portsip" {
			t.Errorf("metric %s label %v", m.Name, m.Label)
		}
		metrics[m.Name] = m.Value
	}
	if metrics["disk_used_ratio"] < 0.59 || metrics["disk_used_ratio"] > 0.6 || metrics["disk_free_bytes"] == 0 ||
		metrics["disk_inodes_used_ratio"] != 0.01 || metrics["disk_growth_bytes_per_second"] < 5.9*gib/3600 || metrics["disk_full_eta_seconds"] == 0 {
		t.Errorf("metrics %v", metrics)
	}
	if !strings.Contains(rep.Advice, "pbxagent logs prune --dry-run") || !strings.Contains(rep.Advice, "/var/lib/portsip/pbx/log") {
		t.Errorf("advice %q", rep.Advice)
	}
}

func TestDiskDailySawtoothNeverWarns(t *testing.T) {
	// 200 GiB, 140 GiB after the nightly cleanup, +20 GiB a day, forecast
	// horizon 48 h. After the first cleanup the state is never WARNING.
	clock := t0
	used := 140 * gib
	cfg := diskCfg(85, 95, 2, config.GiB)
	cfg.ForecastHorizon = config.Duration(48 * time.Hour)
	d := fakeDisk(cfg, &clock, &used, 200*gib)
	f := sawtooth(140*gib, 20*gib, 24*time.Hour, func(int) float64 { return 0 })
	for e := time.Duration(0); e <= 3*24*time.Hour; e += time.Minute {
		clock, used = t0.Add(e), f(e)
		rep, data := collectDisk(t, d)
		if e >= 24*time.Hour && rep.Sticky != StateOK {
			t.Fatalf("at %s: state %v sticky %v, %+v", e, rep.State, rep.Sticky, data.Filesystems[0].Forecast)
		}
	}
}

func TestDiskNoPathsAndErrors(t *testing.T) {
	if _, err := NewDisk(diskCfg(85, 95, 2, 0), map[string]string{RolePBXData: ""}, nil).Collect(context.Background()); !errors.Is(err, ErrNoData) {
		t.Errorf("no paths: %v", err)
	}
	clock := t0
	used := 10 * gib
	d := fakeDisk(diskCfg(85, 95, 2, 0), &clock, &used, 100*gib)
	d.usage = func(context.Context, string) (*disk.UsageStat, error) { return nil, errors.New("stale NFS handle") }
	rep, data := collectDisk(t, d)
	if rep.State != StateUnknown || data.Filesystems[0].Error == "" || !strings.Contains(rep.Summary, "usage unknown") {
		t.Errorf("usage failure: %v %q", rep.State, rep.Summary)
	}
	// Extra folders from the configuration are watched too, on their own mount.
	cfg := diskCfg(85, 95, 2, 0)
	cfg.Paths = []string{"/srv/backup"}
	d = fakeDisk(cfg, &clock, &used, 100*gib)
	d.usage = func(_ context.Context, path string) (*disk.UsageStat, error) {
		return &disk.UsageStat{Path: path, Total: 100, Used: 10, Free: 90, UsedPercent: 10}, nil
	}
	_, data = collectDisk(t, d)
	if len(data.Filesystems) != 2 || data.Filesystems[1].Mountpoint != "/" || data.Filesystems[1].Roles[0] != "extra:/srv/backup" {
		t.Errorf("extra path: %+v", data.Filesystems)
	}
}
