package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/pbxagent/pbxagent/minisign"
)

// maxManifest bounds the manifest read into memory during verification.
const maxManifest = 64 << 20

// Verification is the outcome of checking a bundle.
type Verification struct {
	Archive string `json:"archive"`
	// SignatureOK is true when the detached signature matches the archive
	// and the public key.
	SignatureOK    bool   `json:"signature_ok"`
	SignatureError string `json:"signature_error,omitempty"`
	KeyID          string `json:"key_id,omitempty"`
	TrustedComment string `json:"trusted_comment,omitempty"`
	// Files is the number of files checked against the manifest.
	Files int `json:"files"`
	// Problems lists every difference between the archive and its
	// manifest, one sentence each.
	Problems []string  `json:"problems,omitempty"`
	Manifest *Manifest `json:"-"`
}

// OK reports whether the signature and every hash check out.
func (v *Verification) OK() bool { return v.SignatureOK && len(v.Problems) == 0 }

// maxSignature bounds a signature file read into memory (a minisign
// signature is about 300 bytes).
const maxSignature = 64 << 10

// CheckSignature checks the signed file's content, read from r, against the
// detached signature sigPath made by pub, and records the outcome in v:
// SignatureOK with the key ID and trusted comment, or SignatureError. The
// signature file is read only if it is a regular file, up to 64 KiB.
func (v *Verification) CheckSignature(r io.Reader, sigPath string, pub minisign.PublicKey) {
	sig, err := readSignature(sigPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		v.SignatureError = fmt.Sprintf("no signature file %s next to the archive: copy it along with the bundle", sigPath)
	case err != nil:
		v.SignatureError = fmt.Sprintf("read signature %s: %v", sigPath, err)
	default:
		s, err := minisign.Verify(pub, r, sig)
		if err != nil {
			v.SignatureError = err.Error()
			return
		}
		v.SignatureOK = true
		v.KeyID = pub.IDString()
		v.TrustedComment = s.TrustedComment
	}
}

func readSignature(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSignature+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSignature {
		return nil, fmt.Errorf("larger than %d bytes; a minisign signature is a few hundred", maxSignature)
	}
	return data, nil
}

// Verify checks archive against its detached signature sigPath made by pub,
// then every file inside against manifest.json. It returns an error only when
// the archive cannot be read at all; differences are in the Verification.
func Verify(ctx context.Context, archive, sigPath string, pub minisign.PublicKey) (*Verification, error) {
	v := &Verification{Archive: archive}
	f, err := os.Open(archive)
	if err != nil {
		return nil, fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()

	v.CheckSignature(f, sigPath, pub)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", archive, err)
	}
	v.Problems = checkContents(ctx, archive, f, v)
	return v, nil
}

type seenFile struct {
	size int64
	sum  string
}

// CheckContents reads the archive from r (named name, for its format) and
// records in v every difference between its files and manifest.json. The
// signature is the caller's to check.
func CheckContents(ctx context.Context, name string, r io.Reader, v *Verification) {
	v.Problems = append(v.Problems, checkContents(ctx, name, r, v)...)
}

func checkContents(ctx context.Context, name string, f io.Reader, v *Verification) []string {
	seen, dups, manifestData, err := hashContents(ctx, name, f)
	if errors.Is(err, ErrNotArchive) {
		return []string{err.Error()}
	}
	var problems []string
	if err != nil {
		problems = append(problems, fmt.Sprintf("archive is damaged and could not be read to the end: %v", err))
	}
	for _, d := range dups {
		problems = append(problems, fmt.Sprintf("%s: appears more than once in the archive", d))
	}
	if manifestData == nil {
		return append(problems, "manifest.json is missing from the archive")
	}
	var m Manifest
	if err := json.Unmarshal(manifestData, &m); err != nil {
		return append(problems, fmt.Sprintf("manifest.json is not valid JSON: %v", err))
	}
	v.Manifest = &m
	return append(problems, compareManifest(&m, seen, v)...)
}

// hashContents reads the archive once: the size and SHA-256 of every file,
// the paths that appear more than once, and manifest.json's bytes (nil if
// absent).
func hashContents(ctx context.Context, name string, f io.Reader) (seen map[string]seenFile, dups []string, manifestData []byte, err error) {
	seen = map[string]seenFile{}
	err = WalkReader(ctx, name, f, func(p string, r io.Reader) error {
		if p == ManifestName {
			var err error
			manifestData, err = io.ReadAll(io.LimitReader(r, maxManifest))
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, r)
		if err != nil {
			return fmt.Errorf("read %s in archive: %w", p, err)
		}
		if _, dup := seen[p]; dup {
			dups = append(dups, p)
		}
		seen[p] = seenFile{size: n, sum: hex.EncodeToString(h.Sum(nil))}
		return nil
	})
	return seen, dups, manifestData, err
}

// compareManifest checks each listed file against what the archive holds,
// counting the good ones in v, and lists the files not in the manifest.
func compareManifest(m *Manifest, seen map[string]seenFile, v *Verification) []string {
	var problems []string
	listed := map[string]bool{}
	for _, fe := range m.Files {
		listed[fe.Path] = true
		got, ok := seen[fe.Path]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: listed in the manifest but missing from the archive", fe.Path))
		case got.size != fe.Size:
			problems = append(problems, fmt.Sprintf("%s: size is %d bytes, manifest says %d", fe.Path, got.size, fe.Size))
		case got.sum != fe.SHA256:
			problems = append(problems, fmt.Sprintf("%s: SHA-256 is %s, manifest says %s (the file was changed)", fe.Path, got.sum, fe.SHA256))
		default:
			v.Files++
		}
	}
	var extra []string
	for p := range seen {
		if !listed[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	for _, p := range extra {
		problems = append(problems, fmt.Sprintf("%s: in the archive but not listed in the manifest (added after signing?)", p))
	}
	return problems
}
