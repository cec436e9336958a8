package safefs

import "strings"

// Windows file attributes and file types used by the Windows rules; the
// values are those of the Win32 API, kept here so the rules are plain
// functions that are tested on every platform.
const (
	winAttrDirectory    = 0x10
	winAttrDevice       = 0x40
	winAttrReparsePoint = 0x400
	winFileTypeDisk     = 0x1
	winFileTypeChar     = 0x2
	winFileTypePipe     = 0x3
)

// winReason is the refusal reason for a handle opened with
// FILE_FLAG_OPEN_REPARSE_POINT, from its attributes and GetFileType; ""
// for a regular file. wantDir asks for a folder instead.
func winReason(attrs, fileType uint32, wantDir bool) string {
	switch {
	case attrs&winAttrReparsePoint != 0:
		return ReasonSymlink // symlinks, junctions, mount points
	case fileType == winFileTypePipe:
		return ReasonFIFO
	case fileType == winFileTypeChar || attrs&winAttrDevice != 0:
		return ReasonDevice
	case fileType != winFileTypeDisk:
		return ReasonDevice
	case attrs&winAttrDirectory != 0 && !wantDir:
		return ReasonDirectory
	case attrs&winAttrDirectory == 0 && wantDir:
		return ReasonNotDir
	}
	return ""
}

// winBeneath reports whether final, the final path of an opened file
// (GetFinalPathNameByHandle), lies inside the folder whose final path is
// dir: a reparse point in an intermediate component moves the final path
// elsewhere. Windows paths compare case-insensitively.
func winBeneath(dir, final string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(s, `\\?\`)
		s = strings.ReplaceAll(s, "/", `\`)
		return strings.ToLower(strings.TrimRight(s, `\`))
	}
	d, f := norm(dir), norm(final)
	return d != "" && strings.HasPrefix(f, d+`\`) && !strings.Contains(f[len(d):], `\..\`)
}
