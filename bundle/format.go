package bundle

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/zip"
	"github.com/mholt/archives"
)

// Format is an archive format a bundle can be written in.
type Format string

// Supported formats. Support opens each with stock tools: GNU tar, unzip,
// or tar with zstd.
const (
	TarGz  Format = "tar.gz"
	TarZst Format = "tar.zst"
	Zip    Format = "zip"
)

// Formats lists the supported formats.
var Formats = []Format{TarGz, TarZst, Zip}

// DefaultFormat is zip on Windows (Explorer opens it) and tar.gz elsewhere.
func DefaultFormat() Format {
	if runtime.GOOS == "windows" {
		return Zip
	}
	return TarGz
}

// ParseFormat accepts a format name, with or without a leading dot.
func ParseFormat(s string) (Format, error) {
	t := Format(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "."))
	switch t {
	case "tgz":
		return TarGz, nil
	case "tzst":
		return TarZst, nil
	}
	for _, f := range Formats {
		if t == f {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown archive format %q: use tar.gz, tar.zst or zip", s)
}

// Ext is the file name extension, with the dot.
func (f Format) Ext() string { return "." + string(f) }

// archiver returns the archive writer and, for tar formats, the compressor
// wrapped around the output.
func (f Format) archiver() (archives.ArchiverAsync, func(io.Writer) (io.WriteCloser, error)) {
	switch f {
	case Zip:
		// Already-compressed files (*.gz logs, pcaps compress poorly
		// anyway) are stored rather than deflated again.
		return archives.Zip{Compression: zip.Deflate, SelectiveCompression: true}, nil
	case TarZst:
		// Independent frames compressed on all cores; see zstd.go and
		// docs/benchmarks.md.
		return archives.Tar{}, newParallelZstd
	default:
		return archives.Tar{}, newGzipWriter
	}
}
