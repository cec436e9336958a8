//go:build !windows

package recorder

import "syscall"

const noFollow = syscall.O_NOFOLLOW
