package collectors

import "context"

// loadAverage returns nil: Windows has no run-queue load average.
func loadAverage(context.Context) (*LoadAverage, error) { return nil, nil }
