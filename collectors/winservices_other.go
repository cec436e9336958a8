//go:build !windows

package collectors

import "context"

// listPortSIPServices reports ErrNoData: Windows services exist only on
// Windows.
func listPortSIPServices(context.Context) ([]WindowsService, error) {
	return nil, noData("Windows services are checked on Windows only")
}
