//go:build !linux

package recorder

import "net"

// peerAllowed relies on the socket file's mode (0600 in a 0700 folder)
// where peer credentials are not available.
func peerAllowed(net.Conn) error { return nil }
