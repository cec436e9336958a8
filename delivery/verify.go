package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/minisign"
)

// maxSignature bounds a signature file read into memory.
const maxSignature = 64 << 10

// IsEncrypted reports whether a bundle's name says it is age-encrypted.
func IsEncrypted(path string) bool { return strings.HasSuffix(path, bundle.EncryptExt) }

// Verify checks a bundle, encrypted or not, in one pass for the reader:
// for an encrypted bundle the minisign signature over the encrypted file
// is checked first and, only if it matches, the file is decrypted with ids
// as a stream and every file inside is checked against manifest.json, and
// the decrypted archive against the plaintext SHA-256 in the signature's
// trusted comment. A plaintext bundle goes to bundle.Verify.
func Verify(ctx context.Context, archive, sigPath string, pub minisign.PublicKey, ids []age.Identity) (*bundle.Verification, error) {
	if !IsEncrypted(archive) {
		return bundle.Verify(ctx, archive, sigPath, pub)
	}
	v := &bundle.Verification{Archive: archive}
	f, err := os.Open(archive)
	if err != nil {
		return nil, fmt.Errorf("open bundle: %w", err)
	}
	defer f.Close()
	v.CheckSignature(f, sigPath, pub)
	if !v.SignatureOK {
		v.Problems = append(v.Problems, "not decrypted: the encrypted file does not match its signature, so it was changed or damaged after it was signed")
		return v, nil
	}
	if len(ids) == 0 {
		v.Problems = append(v.Problems, "contents not checked: the bundle is encrypted and no age identity was given to decrypt it")
		return v, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", archive, err)
	}
	plain, err := age.Decrypt(f, ids...)
	if err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("cannot decrypt: %v (is the identity one of the bundle's recipients?)", err))
		return v, nil
	}
	h := sha256.New()
	tee := io.TeeReader(plain, h)
	inner := strings.TrimSuffix(archive, bundle.EncryptExt)
	if err := checkDecrypted(ctx, inner, tee, v); err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("decryption failed before the end of the file: %v", err))
		return v, nil
	}
	want := commentField(v.TrustedComment, "plain_sha256")
	got := hex.EncodeToString(h.Sum(nil))
	switch {
	case want == "":
		v.Problems = append(v.Problems, "the signature's trusted comment carries no plain_sha256 to check the decrypted archive against")
	case want != got:
		v.Problems = append(v.Problems, fmt.Sprintf("decrypted archive SHA-256 is %s, the signature says %s", got, want))
	}
	return v, nil
}

// checkDecrypted checks the decrypted archive's contents. A zip needs
// random access, so it goes through a private temporary file on the
// reader's machine; tar archives are checked as a stream.
func checkDecrypted(ctx context.Context, name string, r io.Reader, v *bundle.Verification) error {
	if !strings.HasSuffix(name, ".zip") {
		bundle.CheckContents(ctx, name, r, v)
		return nil
	}
	tmp, err := os.CreateTemp("", "pbxagent-verify-*.zip")
	if err != nil {
		return fmt.Errorf("temporary file for the decrypted zip: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, r); err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("decryption failed: %v", err))
		return nil
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind %s: %w", tmp.Name(), err)
	}
	bundle.CheckContents(ctx, name, tmp, v)
	return nil
}

// commentField returns the value of key in a tab-separated trusted comment
// of key:value pairs.
func commentField(comment, key string) string {
	for _, kv := range strings.Split(comment, "\t") {
		if k, val, ok := strings.Cut(kv, ":"); ok && k == key {
			return val
		}
	}
	return ""
}
