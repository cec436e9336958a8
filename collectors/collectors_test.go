package collectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/config"
)

// collect runs c with a deadline and checks the parts every snapshot report has.
func collect[T any](t *testing.T, c Collector) (*Report, T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := c.Collect(ctx)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if rep.State != StateOK {
		t.Errorf("state = %v, want OK", rep.State)
	}
	if rep.Summary == "" || strings.Contains(rep.Summary, "\n") {
		t.Errorf("summary %q: want one non-empty line", rep.Summary)
	}
	if strings.TrimSpace(rep.Text) == "" {
		t.Error("empty Text")
	}
	data, ok := rep.Data.(T)
	if !ok {
		t.Fatalf("Data is %T", rep.Data)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("report does not encode: %v", err)
	}
	t.Logf("summary: %s\n%s", rep.Summary, rep.Text)
	return rep, data
}

func TestHost(t *testing.T) {
	_, d := collect[HostData](t, NewHost())
	if d.Hostname == "" {
		t.Error("no hostname")
	}
	if d.OS != runtime.GOOS || d.KernelArch == "" {
		t.Errorf("os %q arch %q", d.OS, d.KernelArch)
	}
	if d.BootTime.IsZero() || d.BootTime.After(time.Now()) {
		t.Errorf("boot time %v", d.BootTime)
	}
	if time.Since(d.TimeUTC) > time.Minute || d.UTCOffset == "" {
		t.Errorf("time %v offset %q", d.TimeUTC, d.UTCOffset)
	}
}

func TestCPU(t *testing.T) {
	rep, d := collect[CPUData](t, NewCPU())
	if d.Logical < 1 || d.UsagePercent < 0 || d.UsagePercent > 100 {
		t.Errorf("logical %d usage %v", d.Logical, d.UsagePercent)
	}
	if runtime.GOOS == "linux" && d.Load == nil {
		t.Error("no load average on Linux")
	}
	if len(rep.Metrics) == 0 {
		t.Error("no metrics")
	}
}

func TestCPUCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := &CPU{interval: time.Hour}
	done := make(chan error, 1)
	go func() { _, err := c.Collect(ctx); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("cancelled collect succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cpu collector ignored the cancelled context")
	}
}

func TestMemory(t *testing.T) {
	_, d := collect[MemoryData](t, NewMemory())
	if d.Total == 0 || d.Available > d.Total || d.UsedPercent <= 0 || d.UsedPercent > 100 {
		t.Errorf("memory %+v", d)
	}
}

func TestMounts(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "portsip", "pbx")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	rep, d := collect[MountsData](t, NewMounts(link, filepath.Join(link, "log"), "/nonexistent/pbxagent/state"))
	var root *Mount
	for i := range d.Mounts {
		if d.Mounts[i].Mountpoint == "/" {
			root = &d.Mounts[i]
		}
	}
	if root == nil {
		t.Fatalf("no / among %d mounts", len(d.Mounts))
	}
	if root.Error == "" && root.Total == 0 {
		t.Errorf("/ has no size: %+v", root)
	}
	if len(d.Paths) != 3 {
		t.Fatalf("paths %+v", d.Paths)
	}
	for _, p := range d.Paths {
		if p.Mountpoint == "" {
			t.Errorf("%s: no mount", p.Role)
		}
		if i := indexHolding(d.Mounts, p.Role); i < 0 || d.Mounts[i].Mountpoint != p.Mountpoint {
			t.Errorf("%s not marked on its mount", p.Role)
		}
	}
	resolvedData, _ := filepath.EvalSymlinks(data)
	if d.Paths[0].Resolved != resolvedData || !d.Paths[0].Exists {
		t.Errorf("data path %+v, want resolved %s", d.Paths[0], resolvedData)
	}
	if d.Paths[1].Exists || d.Paths[1].Resolved != filepath.Join(resolvedData, "log") {
		t.Errorf("log path %+v", d.Paths[1])
	}
	if !strings.HasPrefix(rep.Summary, "PBX data "+link) {
		t.Errorf("summary %q does not name the PBX data filesystem", rep.Summary)
	}
}

func TestMountFor(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix paths")
	}
	mps := []string{"/", "/var", "/var/lib/portsip", "/var/lib/portsip2", "/var", "/boot"}
	for path, want := range map[string]int{
		"/var/lib/portsip/pbx": 2,
		"/var/lib/portsip":     2,
		"/var/lib/portsip2/x":  3,
		"/var/lib/portsipx":    4, // the later /var shadows the earlier one
		"/etc":                 0,
		"/boot":                5,
	} {
		if got := mountFor(mps, path); got != want {
			t.Errorf("mountFor(%s) = %d, want %d", path, got, want)
		}
	}
	if got := mountFor([]string{"/a"}, "/b"); got != -1 {
		t.Errorf("unmatched path got %d", got)
	}
}

func TestNetwork(t *testing.T) {
	_, d := collect[NetworkData](t, NewNetwork())
	if len(d.Interfaces) == 0 {
		t.Fatal("no interfaces")
	}
	if !slices.ContainsFunc(d.Interfaces, func(i Interface) bool { return i.Loopback && len(i.Addresses) > 0 }) {
		t.Error("no loopback interface with an address")
	}
}

func TestProcesses(t *testing.T) {
	p := NewProcesses(func(args []string) []string {
		out := slices.Clone(args)
		for i := range out {
			out[i] = strings.ToUpper(out[i])
		}
		return out
	})
	_, d := collect[ProcessesData](t, p)
	if d.Count < 2 || len(d.TopCPU) == 0 || len(d.TopRSS) == 0 || len(d.TopCPU) > topProcesses || len(d.TopRSS) > topProcesses {
		t.Fatalf("count %d, %d by CPU, %d by RSS", d.Count, len(d.TopCPU), len(d.TopRSS))
	}
	for i := 1; i < len(d.TopRSS); i++ {
		if d.TopRSS[i].RSS > d.TopRSS[i-1].RSS {
			t.Errorf("top RSS not sorted at %d", i)
		}
	}
	self := false
	for _, pi := range append(d.TopCPU, d.TopRSS...) {
		if len([]rune(pi.Cmdline)) > maxCmdline {
			t.Errorf("cmdline of %d is %d chars", pi.PID, len(pi.Cmdline))
		}
		if pi.Cmdline != strings.ToUpper(pi.Cmdline) {
			t.Errorf("cmdline of %d was not sanitised: %q", pi.PID, pi.Cmdline)
		}
		if int(pi.PID) == os.Getpid() {
			self = true
		}
	}
	t.Logf("test process among the top: %v", self)
}

func TestProcessesCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p := &Processes{interval: time.Hour}
	start := time.Now()
	if _, err := p.Collect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("processes collector ignored the deadline")
	}
}

func TestSnapshotRun(t *testing.T) {
	cfg := config.Default()
	cfg.PBX.DataDir = filepath.Join(t.TempDir(), "no-portsip", "pbx")
	cfg.PBX.DockerSocket = filepath.Join(t.TempDir(), "docker.sock")
	list := Build(Env{Config: cfg}, TagSnapshot)
	want := []string{"host", "cpu", "memory", "mounts", "network", "sockets", "processes", "pbx"}
	if len(list) != len(want) {
		t.Fatalf("snapshot has %d collectors, want %d", len(list), len(want))
	}
	for i, n := range list {
		if n.Name != want[i] {
			t.Fatalf("collector %d is %q, want %q", i, n.Name, want[i])
		}
	}
	start := time.Now()
	outs := Run(context.Background(), list, 10*time.Second)
	for _, o := range outs {
		if !o.Success() {
			t.Errorf("%s failed: %v", o.Name, o.Err)
			continue
		}
		if o.NoData {
			t.Logf("%-9s %6s  no data: %v", o.Name, o.Duration.Round(time.Millisecond), o.Err)
			continue
		}
		t.Logf("%-9s %6s  %s: %s", o.Name, o.Duration.Round(time.Millisecond), o.Report.State, o.Report.Summary)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("snapshot took %v", d)
	}
	if w := Worst(outs); w != StateOK {
		t.Errorf("worst state %v", w)
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536 << 20: "1.5 GiB"} {
		if got := formatBytes(in); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", in, got, want)
		}
	}
	if got := formatDuration(50*time.Hour + 3*time.Minute); got != "2d 2h 3m" {
		t.Errorf("formatDuration = %q", got)
	}
	if got := truncate("abcdef", 5); got != "ab..." {
		t.Errorf("truncate = %q", got)
	}
}

func TestOutcomeReason(t *testing.T) {
	outs := Run(context.Background(), []Named{
		{Name: "absent", Collector: collectorFunc(func(context.Context) (*Report, error) {
			return nil, fmt.Errorf("Docker not installed (no socket at /x): %w", ErrNoData)
		})},
		{Name: "broken", Collector: collectorFunc(func(context.Context) (*Report, error) {
			return nil, errors.New("API answered 500")
		})},
	}, time.Second)
	if got := outs[0].Reason(); got != "Docker not installed (no socket at /x)" || !outs[0].NoData {
		t.Errorf("no-data reason = %q (NoData %v)", got, outs[0].NoData)
	}
	if got := outs[1].Reason(); got != "API answered 500" {
		t.Errorf("failure reason = %q", got)
	}
}

// collectorFunc adapts a function to the Collector interface.
type collectorFunc func(context.Context) (*Report, error)

func (f collectorFunc) Collect(ctx context.Context) (*Report, error) { return f(ctx) }

// stuckCollector blocks, ignoring its context, as a collector stuck in a
// system call would.
type stuckCollector struct{ release chan struct{} }

func (s stuckCollector) Collect(context.Context) (*Report, error) {
	<-s.release
	return &Report{}, nil
}

// TestRunAbandonsStuckCollector: a collector that ignores its context is
// abandoned at its timeout and recorded as timed out; the others finish.
func TestRunAbandonsStuckCollector(t *testing.T) {
	stuck := stuckCollector{release: make(chan struct{})}
	defer close(stuck.release)
	outs := Run(context.Background(), []Named{
		{Name: "stuck", Collector: stuck},
		{Name: "ok", Collector: collectorFunc(func(context.Context) (*Report, error) { return &Report{Summary: "fine"}, nil })},
	}, 50*time.Millisecond)
	if outs[0].Err == nil || !strings.Contains(outs[0].Error, "timed out") || !errors.Is(outs[0].Err, context.DeadlineExceeded) {
		t.Errorf("stuck collector: %+v", outs[0])
	}
	if outs[1].Err != nil || outs[1].Report.Summary != "fine" {
		t.Errorf("other collector: %+v", outs[1])
	}
}
