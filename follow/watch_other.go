//go:build !linux

package follow

import (
	"os"
	"time"
)

// watcher is change notification, which is only implemented on Linux;
// elsewhere Run only polls.
type watcher struct{}

func newWatcher(string, *os.File, time.Duration) *watcher { return nil }

func (*watcher) events() <-chan struct{} { return nil }

func (*watcher) track(_, _ *os.File) {}

func (*watcher) close() {}
