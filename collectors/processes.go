package collectors

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

const (
	// topProcesses is how many processes each top list keeps.
	topProcesses = 15
	// maxCmdline is the longest command line kept, in characters.
	maxCmdline = 200
)

// Processes reports the processes using the most CPU and memory.
type Processes struct {
	sanitize func([]string) []string
	interval time.Duration
}

// NewProcesses returns the processes collector. sanitize rewrites each
// command line's arguments before they are kept (pass a redactor such as
// RedactArgs: command lines may hold passwords); nil keeps them as they are.
func NewProcesses(sanitize func([]string) []string) *Processes {
	return &Processes{sanitize: sanitize, interval: 250 * time.Millisecond}
}

// ProcessInfo is one process in a top list.
type ProcessInfo struct {
	PID  int32  `json:"pid"`
	Name string `json:"name"`
	User string `json:"user,omitempty"`
	// Cmdline is the sanitised command line, cut to 200 characters.
	Cmdline string `json:"cmdline,omitempty"`
	// CPUPercent is the share of one CPU used over the sample (can exceed 100).
	CPUPercent float64 `json:"cpu_percent"`
	RSS        uint64  `json:"rss_bytes"`
}

// ProcessesData is the processes collector's Data.
type ProcessesData struct {
	Count        int           `json:"count"`
	SampleMillis int64         `json:"sample_ms"`
	TopCPU       []ProcessInfo `json:"top_cpu"`
	TopRSS       []ProcessInfo `json:"top_rss"`
	// Unreadable counts processes whose CPU times or memory could not be read.
	Unreadable int `json:"unreadable,omitempty"`
}

type procSample struct {
	p      *process.Process
	cpu0   float64
	cpu    float64
	rss    uint64
	sample bool
}

// Collect samples CPU times of every process twice, interval apart, and
// reads names, users and command lines only for the processes it keeps.
func (c *Processes) Collect(ctx context.Context) (*Report, error) {
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	samples, err := firstSample(ctx, pids)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(c.interval):
	}
	live, unreadable, err := secondSample(ctx, samples, time.Since(start).Seconds())
	if err != nil {
		return nil, err
	}
	d := ProcessesData{Count: len(live), SampleMillis: c.interval.Milliseconds(), Unreadable: unreadable}
	c.fillTops(ctx, live, &d)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return processesReport(d), nil
}

// firstSample reads the CPU times of every process still running.
func firstSample(ctx context.Context, pids []int32) ([]*procSample, error) {
	samples := make([]*procSample, 0, len(pids))
	for _, pid := range pids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, err := process.NewProcessWithContext(ctx, pid)
		if err != nil {
			continue // exited meanwhile
		}
		s := &procSample{p: p}
		if t, err := p.TimesWithContext(ctx); err == nil {
			s.cpu0, s.sample = t.User+t.System, true
		}
		samples = append(samples, s)
	}
	return samples, nil
}

// secondSample reads CPU times and memory again, elapsed seconds after the
// first sample. It drops the processes that exited and counts those still
// running but unreadable.
func secondSample(ctx context.Context, samples []*procSample, elapsed float64) (live []*procSample, unreadable int, err error) {
	live = samples[:0]
	for _, s := range samples {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		ok := false
		if t, err := s.p.TimesWithContext(ctx); err == nil && s.sample {
			s.cpu = max(0, (t.User+t.System-s.cpu0)/elapsed*100)
			ok = true
		}
		if m, err := s.p.MemoryInfoWithContext(ctx); err == nil {
			s.rss = m.RSS
			ok = true
		}
		if !ok {
			if running, _ := s.p.IsRunningWithContext(ctx); !running {
				continue // exited during the sample
			}
			unreadable++
		}
		live = append(live, s)
	}
	return live, unreadable, nil
}

// fillTops sets d's top lists, describing each kept process once.
func (c *Processes) fillTops(ctx context.Context, live []*procSample, d *ProcessesData) {
	byCPU := topBy(live, func(a, b *procSample) bool {
		if a.cpu != b.cpu {
			return a.cpu > b.cpu
		}
		return a.rss > b.rss
	})
	byRSS := topBy(live, func(a, b *procSample) bool {
		if a.rss != b.rss {
			return a.rss > b.rss
		}
		return a.cpu > b.cpu
	})
	details := map[int32]ProcessInfo{}
	info := func(s *procSample) ProcessInfo {
		if pi, ok := details[s.p.Pid]; ok {
			return pi
		}
		pi := c.describe(ctx, s)
		details[s.p.Pid] = pi
		return pi
	}
	for _, s := range byCPU {
		d.TopCPU = append(d.TopCPU, info(s))
	}
	for _, s := range byRSS {
		d.TopRSS = append(d.TopRSS, info(s))
	}
}

func processesReport(d ProcessesData) *Report {
	summary := fmt.Sprintf("%d processes", d.Count)
	if len(d.TopCPU) > 0 {
		p := d.TopCPU[0]
		summary += fmt.Sprintf("; top CPU %s (pid %d) %.1f%%", orUnknown(p.Name), p.PID, p.CPUPercent)
	}
	if len(d.TopRSS) > 0 {
		p := d.TopRSS[0]
		summary += fmt.Sprintf("; top memory %s (pid %d) %s", orUnknown(p.Name), p.PID, formatBytes(p.RSS))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Top %d by CPU (sampled over %d ms):\n", len(d.TopCPU), d.SampleMillis)
	b.WriteString(processTable(d.TopCPU))
	fmt.Fprintf(&b, "\nTop %d by resident memory:\n", len(d.TopRSS))
	b.WriteString(processTable(d.TopRSS))
	return &Report{
		State:   StateOK,
		Summary: summary,
		Metrics: []Metric{{Name: "processes", Value: float64(d.Count)}},
		Data:    d,
		Text:    b.String(),
	}
}

// describe reads the name, user and sanitised command line of one process.
func (c *Processes) describe(ctx context.Context, s *procSample) ProcessInfo {
	pi := ProcessInfo{PID: s.p.Pid, CPUPercent: float64(int(s.cpu*10+0.5)) / 10, RSS: s.rss}
	pi.Name, _ = s.p.NameWithContext(ctx)
	if u, err := s.p.UsernameWithContext(ctx); err == nil {
		pi.User = u
	} else if uids, err := s.p.UidsWithContext(ctx); err == nil && len(uids) > 0 {
		pi.User = fmt.Sprint(uids[0])
	}
	if args, err := s.p.CmdlineSliceWithContext(ctx); err == nil && len(args) > 0 {
		if c.sanitize != nil {
			args = c.sanitize(args)
		}
		pi.Cmdline = truncate(strings.Join(args, " "), maxCmdline)
	}
	return pi
}

func topBy(all []*procSample, less func(a, b *procSample) bool) []*procSample {
	s := append([]*procSample(nil), all...)
	sort.SliceStable(s, func(i, j int) bool {
		if less(s[i], s[j]) {
			return true
		}
		if less(s[j], s[i]) {
			return false
		}
		return s[i].p.Pid < s[j].p.Pid
	})
	return s[:min(len(s), topProcesses)]
}

func processTable(ps []ProcessInfo) string {
	rows := [][]string{{"PID", "USER", "CPU%", "RSS", "NAME", "COMMAND"}}
	for _, p := range ps {
		rows = append(rows, []string{fmt.Sprint(p.PID), p.User, fmt.Sprintf("%.1f", p.CPUPercent), formatBytes(p.RSS), p.Name, p.Cmdline})
	}
	return textTable(rows)
}
