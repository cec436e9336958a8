package collectors

import (
	"context"

	"github.com/shirou/gopsutil/v4/load"
)

// loadAverage reads /proc/loadavg.
func loadAverage(ctx context.Context) (*LoadAverage, error) {
	a, err := load.AvgWithContext(ctx)
	if err != nil {
		return nil, err
	}
	return &LoadAverage{Load1: a.Load1, Load5: a.Load5, Load15: a.Load15}, nil
}
