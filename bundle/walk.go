package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/mholt/archives"
)

// ErrNotArchive is wrapped by Walk's error when the file is not a tar.gz,
// tar.zst or zip archive.
var ErrNotArchive = errors.New("not a bundle archive (tar.gz, tar.zst or zip)")

// Walk calls fn, in archive order, for every file of the archive f (a
// tar.gz, tar.zst or zip, told by name and content) with its cleaned path
// and a reader valid during the call. Verification and the analysis both
// read bundles through it.
func Walk(ctx context.Context, name string, f *os.File, fn func(p string, r io.Reader) error) error {
	return WalkReader(ctx, name, f, fn)
}

// WalkReader is Walk over any reader, such as a stream being decrypted.
// A zip needs random access: give it an *os.File.
func WalkReader(ctx context.Context, name string, r io.Reader, fn func(p string, r io.Reader) error) error {
	format, r, err := archives.Identify(ctx, name, r)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotArchive, err)
	}
	ex, ok := format.(archives.Extractor)
	if !ok {
		return fmt.Errorf("%w: %s is not an archive format", ErrNotArchive, format.Extension())
	}
	return ex.Extract(ctx, r, func(ctx context.Context, fi archives.FileInfo) error {
		if fi.IsDir() {
			return nil
		}
		p := path.Clean(fi.NameInArchive)
		rc, err := fi.Open()
		if err != nil {
			return fmt.Errorf("open %s in archive: %w", p, err)
		}
		defer rc.Close()
		return fn(p, rc)
	})
}
