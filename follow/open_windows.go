//go:build windows

package follow

import (
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// openShared opens path read-only with FILE_SHARE_READ, FILE_SHARE_WRITE and
// FILE_SHARE_DELETE. os.Open omits FILE_SHARE_DELETE, and holding such a
// handle would make PortSIP's own rename or delete of callmanager.log fail
// with a sharing violation.
func openShared(path string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p,
		windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil,
		windows.OPEN_EXISTING,
		windows.FILE_ATTRIBUTE_NORMAL,
		0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}
