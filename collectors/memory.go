package collectors

import (
	"context"
	"fmt"

	"github.com/shirou/gopsutil/v4/mem"
)

// Memory reports physical memory and swap.
type Memory struct{}

// NewMemory returns the memory collector.
func NewMemory() *Memory { return &Memory{} }

// MemoryData is the memory collector's Data; sizes are in bytes.
type MemoryData struct {
	Total           uint64  `json:"total_bytes"`
	Available       uint64  `json:"available_bytes"`
	Used            uint64  `json:"used_bytes"`
	Free            uint64  `json:"free_bytes"`
	UsedPercent     float64 `json:"used_percent"`
	Buffers         uint64  `json:"buffers_bytes,omitempty"`
	Cached          uint64  `json:"cached_bytes,omitempty"`
	SwapTotal       uint64  `json:"swap_total_bytes"`
	SwapUsed        uint64  `json:"swap_used_bytes"`
	SwapFree        uint64  `json:"swap_free_bytes"`
	SwapUsedPercent float64 `json:"swap_used_percent"`
	// SwapError is set when swap could not be read; the memory figures stand.
	SwapError string `json:"swap_error,omitempty"`
}

// Collect reads memory and swap usage.
func (m *Memory) Collect(ctx context.Context) (*Report, error) {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	d := MemoryData{
		Total: vm.Total, Available: vm.Available, Used: vm.Used, Free: vm.Free,
		UsedPercent: vm.UsedPercent, Buffers: vm.Buffers, Cached: vm.Cached,
	}
	if sw, err := mem.SwapMemoryWithContext(ctx); err != nil {
		d.SwapError = err.Error()
	} else {
		d.SwapTotal, d.SwapUsed, d.SwapFree, d.SwapUsedPercent = sw.Total, sw.Used, sw.Free, sw.UsedPercent
	}
	summary := fmt.Sprintf("%.1f%% used, %s available of %s", d.UsedPercent, formatBytes(d.Available), formatBytes(d.Total))
	swap := "none"
	if d.SwapTotal > 0 {
		swap = fmt.Sprintf("%s of %s used (%.1f%%)", formatBytes(d.SwapUsed), formatBytes(d.SwapTotal), d.SwapUsedPercent)
		summary += fmt.Sprintf("; swap %.1f%% used", d.SwapUsedPercent)
	} else {
		summary += "; no swap"
	}
	if d.SwapError != "" {
		swap = "error: " + d.SwapError
	}
	rows := [][]string{
		{"Total:", formatBytes(d.Total)},
		{"Available:", formatBytes(d.Available)},
		{"Used:", fmt.Sprintf("%s (%.1f%%)", formatBytes(d.Used), d.UsedPercent)},
		{"Swap:", swap},
	}
	return &Report{
		State:   StateOK,
		Summary: summary,
		Metrics: []Metric{
			{Name: "memory_total_bytes", Value: float64(d.Total), Unit: "B"},
			{Name: "memory_available_bytes", Value: float64(d.Available), Unit: "B"},
			{Name: "memory_used_percent", Value: d.UsedPercent, Unit: "%"},
			{Name: "swap_total_bytes", Value: float64(d.SwapTotal), Unit: "B"},
			{Name: "swap_used_percent", Value: d.SwapUsedPercent, Unit: "%"},
		},
		Data: d,
		Text: textTable(rows),
	}, nil
}
