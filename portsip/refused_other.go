//go:build !windows

package portsip

// isRefused reports a platform-specific connection-refused error; elsewhere
// syscall.ECONNREFUSED covers it.
func isRefused(error) bool { return false }
