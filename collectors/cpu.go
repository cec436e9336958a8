package collectors

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
)

// CPU reports the processor model, counts, load and current usage.
type CPU struct {
	interval time.Duration
}

// NewCPU returns the CPU collector; usage is sampled over 200 ms.
func NewCPU() *CPU { return &CPU{interval: 200 * time.Millisecond} }

// LoadAverage is the run-queue load over 1, 5 and 15 minutes.
type LoadAverage struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

// CPUData is the CPU collector's Data.
type CPUData struct {
	ModelName string  `json:"model_name"`
	VendorID  string  `json:"vendor_id,omitempty"`
	MHz       float64 `json:"mhz,omitempty"`
	Logical   int     `json:"logical"`
	Physical  int     `json:"physical"`
	// Load is present on Linux only.
	Load *LoadAverage `json:"load,omitempty"`
	// UsagePercent is the busy share of all CPUs over SampleMillis.
	UsagePercent float64  `json:"usage_percent"`
	SampleMillis int64    `json:"sample_ms"`
	Errors       []string `json:"errors,omitempty"`
}

// Collect reads the CPU facts and samples usage; it returns early when ctx ends.
func (c *CPU) Collect(ctx context.Context) (*Report, error) {
	var d CPUData
	var errs []string
	if infos, err := cpu.InfoWithContext(ctx); err != nil {
		errs = append(errs, "info: "+err.Error())
	} else if len(infos) > 0 {
		d.ModelName = strings.TrimSpace(infos[0].ModelName)
		d.VendorID = infos[0].VendorID
		d.MHz = infos[0].Mhz
	}
	if n, err := cpu.CountsWithContext(ctx, true); err != nil {
		errs = append(errs, "logical count: "+err.Error())
	} else {
		d.Logical = n
	}
	if n, err := cpu.CountsWithContext(ctx, false); err != nil {
		errs = append(errs, "physical count: "+err.Error())
	} else {
		d.Physical = n
	}
	load, err := loadAverage(ctx)
	if err != nil {
		errs = append(errs, "load: "+err.Error())
	}
	d.Load = load
	pct, err := cpu.PercentWithContext(ctx, c.interval, false)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cpu usage: %w", ctx.Err())
		}
		errs = append(errs, "usage: "+err.Error())
	} else if len(pct) > 0 {
		d.UsagePercent = pct[0]
	}
	d.SampleMillis = c.interval.Milliseconds()
	d.Errors = errs
	return cpuReport(d), nil
}

func cpuReport(d CPUData) *Report {

	summary := fmt.Sprintf("%.1f%% busy, %d logical CPUs", d.UsagePercent, d.Logical)
	if d.Load != nil {
		summary += fmt.Sprintf(", load %.2f %.2f %.2f", d.Load.Load1, d.Load.Load5, d.Load.Load15)
	}
	if d.ModelName != "" {
		summary += " (" + d.ModelName + ")"
	}
	metrics := []Metric{
		{Name: "cpu_usage_percent", Value: d.UsagePercent, Unit: "%"},
		{Name: "cpu_logical_count", Value: float64(d.Logical)},
		{Name: "cpu_physical_count", Value: float64(d.Physical)},
	}
	rows := [][]string{
		{"Model:", d.ModelName},
		{"CPUs:", fmt.Sprintf("%d logical, %d physical", d.Logical, d.Physical)},
		{"Usage:", fmt.Sprintf("%.1f%% over %d ms", d.UsagePercent, d.SampleMillis)},
	}
	if d.Load != nil {
		metrics = append(metrics,
			Metric{Name: "cpu_load1", Value: d.Load.Load1},
			Metric{Name: "cpu_load5", Value: d.Load.Load5},
			Metric{Name: "cpu_load15", Value: d.Load.Load15})
		rows = append(rows, []string{"Load average:", fmt.Sprintf("%.2f %.2f %.2f", d.Load.Load1, d.Load.Load5, d.Load.Load15)})
	}
	for _, e := range d.Errors {
		rows = append(rows, []string{"Error:", e})
	}
	return &Report{State: StateOK, Summary: summary, Metrics: metrics, Data: d, Text: textTable(rows)}
}
