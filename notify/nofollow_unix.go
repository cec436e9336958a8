//go:build !windows

package notify

import "syscall"

// noFollow refuses to open a queued file through a symlink.
const noFollow = syscall.O_NOFOLLOW
