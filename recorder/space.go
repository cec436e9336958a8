package recorder

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
)

// DiskLimits are the levels the ring keeps clear of on its filesystem.
type DiskLimits struct {
	// ReservePercent of the filesystem and at least ReserveMin bytes stay
	// free (the bundle reserve).
	ReservePercent float64
	ReserveMin     int64
	// WarningPercent is the disk watcher's warning level: the ring stops
	// one point below it. MinFree is the watcher's absolute floor.
	WarningPercent float64
	MinFree        int64
	// Share is the part of the room above those levels the ring may take;
	// zero means one half.
	Share float64
}

// DiskHeadroom returns a function for [Options.Headroom]: given the bytes
// the ring holds, the bytes it may hold on the filesystem of dir, and the
// reason for the limit. The ring gets Share of the room above the levels
// that its own files and the free space make up; when the filesystem is
// already past a level, the ring gives back the difference.
func DiskHeadroom(dir string, l DiskLimits) func(ring int64) (int64, string, error) {
	if l.Share <= 0 || l.Share > 1 {
		l.Share = 0.5
	}
	return func(ring int64) (int64, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		u, err := disk.UsageWithContext(ctx, dir)
		if err != nil {
			return 0, "", err
		}
		room, why := headroom(u.Used, u.Free, u.Total, l)
		if room < 0 {
			return max(ring+room, 0), why, nil
		}
		return int64(float64(room+ring) * l.Share), why, nil
	}
}

// headroom computes the room above the levels from the filesystem's usage
// as the disk watcher sees it (used percent = used / (used + free)). It is
// negative when the filesystem is already past a level.
func headroom(used, free, total uint64, l DiskLimits) (int64, string) {
	size := float64(used + free)
	belowWarn := size*(l.WarningPercent-1)/100 - float64(used)
	reserve := max(float64(total)*l.ReservePercent/100, float64(l.ReserveMin), float64(l.MinFree))
	aboveReserve := float64(free) - reserve
	room := math.Min(belowWarn, aboveReserve)
	why := fmt.Sprintf("the filesystem is close to the disk warning level (%g%% used); the recorder keeps below %g%%", l.WarningPercent, l.WarningPercent-1)
	if aboveReserve < belowWarn {
		why = fmt.Sprintf("the filesystem's free space is close to the reserve (%d bytes kept free)", int64(reserve))
	}
	return int64(room), why
}
