//go:build !windows

package main

import "os"

// isAdmin reports whether the process runs as root.
func isAdmin() bool { return os.Geteuid() == 0 }
