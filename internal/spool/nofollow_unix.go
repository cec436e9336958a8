//go:build !windows

package spool

import "syscall"

// noFollow refuses to open a queued file through a symlink.
const noFollow = syscall.O_NOFOLLOW
