package collectors

import (
	"context"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
)

// usageFunc reads one filesystem's usage; disk.UsageWithContext in
// production, a fake in tests.
type usageFunc func(ctx context.Context, path string) (*disk.UsageStat, error)

// usageResult is one path's usage or why it is missing.
type usageResult struct {
	Usage *disk.UsageStat
	Err   string
}

// readUsages reads the usage of every path concurrently, each bounded by
// usageTimeout. A statfs that fails or hangs gets an Err instead of sizes;
// a hung call's goroutine is left behind, since statfs cannot be
// interrupted. Both the mounts snapshot and the disk check use it.
func readUsages(ctx context.Context, paths []string, usage usageFunc) []usageResult {
	type result struct {
		i   int
		u   *disk.UsageStat
		err error
	}
	out := make([]usageResult, len(paths))
	ch := make(chan result, len(paths))
	for i, p := range paths {
		go func() {
			u, err := usage(ctx, p)
			ch <- result{i, u, err}
		}()
	}
	timer := time.NewTimer(usageTimeout)
	defer timer.Stop()
	done := make([]bool, len(paths))
wait:
	for range paths {
		select {
		case r := <-ch:
			done[r.i] = true
			switch {
			case r.err != nil:
				out[r.i].Err = r.err.Error()
			case r.u == nil:
				out[r.i].Err = "filesystem reports no size"
			default:
				out[r.i].Usage = r.u
			}
		case <-timer.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	for i := range paths {
		if !done[i] {
			out[i].Err = "usage timed out"
		}
	}
	return out
}
