package portsip

import (
	"errors"
	"syscall"
)

// wsaeconnrefused is Winsock's "connection refused" (WSAECONNREFUSED).
const wsaeconnrefused = syscall.Errno(10061)

// isRefused reports whether err is Windows' connection-refused error.
func isRefused(err error) bool { return errors.Is(err, wsaeconnrefused) }
