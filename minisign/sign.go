package minisign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// Signature is a parsed minisign signature file.
type Signature struct {
	// Algorithm is AlgorithmHashed ("ED") or AlgorithmLegacy ("Ed").
	Algorithm string
	// KeyID is the id of the key that made the signature.
	KeyID [KeyIDSize]byte
	// TrustedComment is the comment covered by the signature.
	TrustedComment string
	// UntrustedComment is the free comment on the first line, which anyone
	// can change.
	UntrustedComment string
	// Sig is the Ed25519 signature of the file (or of its digest).
	Sig [ed25519.SignatureSize]byte
	// GlobalSig is the Ed25519 signature of Sig followed by TrustedComment.
	GlobalSig [ed25519.SignatureSize]byte
}

// KeyIDString returns the signing key id the way minisign prints it.
func (s *Signature) KeyIDString() string { return FormatKeyID(s.KeyID) }

// Hashed reports whether the signature covers the BLAKE2b-512 digest of the
// file rather than the file itself.
func (s *Signature) Hashed() bool { return s.Algorithm == AlgorithmHashed }

// NewPrehash returns the hash whose digest SignPrehashed and VerifyPrehashed
// take: unkeyed BLAKE2b-512, as minisign computes it.
func NewPrehash() hash.Hash {
	h, _ := blake2b.New512(nil) // cannot fail without a key
	return h
}

// Sign reads r to its end and returns a minisign signature file for it,
// made in the prehashed mode.
func Sign(priv PrivateKey, r io.Reader, trustedComment, untrustedComment string) ([]byte, error) {
	h := NewPrehash()
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("minisign: reading data to sign: %w", err)
	}
	return priv.SignPrehashed(h.Sum(nil), trustedComment, untrustedComment)
}

// SignPrehashed returns a minisign signature file (the content of a
// .minisig file) for data whose NewPrehash digest is digest. The comments
// must fit on one line; an empty untrusted comment is replaced by minisign's
// default one.
func (k PrivateKey) SignPrehashed(digest []byte, trustedComment, untrustedComment string) ([]byte, error) {
	if len(digest) != blake2b.Size {
		return nil, fmt.Errorf("minisign: digest is %d bytes, want %d (BLAKE2b-512)", len(digest), blake2b.Size)
	}
	if err := k.valid(); err != nil {
		return nil, err
	}
	if untrustedComment == "" {
		untrustedComment = "signature from minisign secret key"
	}
	if err := checkComment("trusted", trustedComment, MaxTrustedCommentLen); err != nil {
		return nil, err
	}
	if err := checkComment("untrusted", untrustedComment, MaxUntrustedCommentLen); err != nil {
		return nil, err
	}

	sigStruct := make([]byte, 0, sigLen)
	sigStruct = append(sigStruct, AlgorithmHashed...)
	sigStruct = append(sigStruct, k.ID[:]...)
	sig := ed25519.Sign(k.Key, digest)
	sigStruct = append(sigStruct, sig...)
	global := ed25519.Sign(k.Key, append(bytes.Clone(sig), trustedComment...))

	var b bytes.Buffer
	b.WriteString(untrustedCommentPrefix + untrustedComment + "\n")
	b.WriteString(base64.StdEncoding.EncodeToString(sigStruct) + "\n")
	b.WriteString(trustedCommentPrefix + trustedComment + "\n")
	b.WriteString(base64.StdEncoding.EncodeToString(global) + "\n")
	return b.Bytes(), nil
}

// checkComment rejects what minisign cannot read back: line breaks, NUL
// bytes (minisign treats comments as C strings) and overlong comments.
func checkComment(kind, c string, limit int) error {
	if i := strings.IndexAny(c, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("%w: %s comment contains %q at byte %d; it must be a single line", ErrInvalidComment, kind, c[i], i)
	}
	if len(c) > limit {
		return fmt.Errorf("%w: %s comment is %d bytes, the limit is %d", ErrInvalidComment, kind, len(c), limit)
	}
	return nil
}

// ParseSignature parses a minisign signature file without checking it
// against any key or data.
func ParseSignature(data []byte) (*Signature, error) {
	lines := splitLines(data)
	if len(lines) < 4 {
		return nil, fmt.Errorf("%w: signature: %d lines, want 4", ErrMalformed, len(lines))
	}
	for i := 4; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "" {
			return nil, fmt.Errorf("%w: signature: line %d: unexpected content after the signature", ErrMalformed, i+1)
		}
	}
	var s Signature

	untrusted, ok := strings.CutPrefix(lines[0], untrustedCommentPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: signature: line 1: does not start with %q", ErrMalformed, untrustedCommentPrefix)
	}
	s.UntrustedComment = untrusted

	b, err := decodeBase64(strings.TrimSpace(lines[1]), sigLen)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: line 2: %v", ErrMalformed, err)
	}
	switch alg := string(b[:2]); alg {
	case AlgorithmHashed, AlgorithmLegacy:
		s.Algorithm = alg
	default:
		return nil, fmt.Errorf("%w: signature: line 2: unsupported signature algorithm %q", ErrMalformed, alg)
	}
	copy(s.KeyID[:], b[2:])
	copy(s.Sig[:], b[2+KeyIDSize:])

	trusted, ok := strings.CutPrefix(lines[2], trustedCommentPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: signature: line 3: does not start with %q", ErrMalformed, trustedCommentPrefix)
	}
	s.TrustedComment = trusted

	g, err := decodeBase64(strings.TrimSpace(lines[3]), ed25519.SignatureSize)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: line 4: %v", ErrMalformed, err)
	}
	copy(s.GlobalSig[:], g)
	return &s, nil
}

// Verify reads r to its end and checks sigFile, a minisign signature file,
// against it and pub. Both prehashed and legacy signatures are accepted; a
// legacy signature needs the whole data in memory and is limited to 1 GiB.
//
// The returned Signature is non-nil only when the data and the trusted
// comment are both verified. Errors wrap ErrMalformed, ErrKeyMismatch,
// ErrInvalidSignature or ErrInvalidTrustedComment.
func Verify(pub PublicKey, r io.Reader, sigFile []byte) (*Signature, error) {
	s, err := parseFor(pub, sigFile)
	if err != nil {
		return nil, err
	}
	var msg []byte
	if s.Hashed() {
		h := NewPrehash()
		if _, err := io.Copy(h, r); err != nil {
			return nil, fmt.Errorf("minisign: reading signed data: %w", err)
		}
		msg = h.Sum(nil)
	} else {
		msg, err = io.ReadAll(io.LimitReader(r, maxLegacyMessage+1))
		if err != nil {
			return nil, fmt.Errorf("minisign: reading signed data: %w", err)
		}
		if len(msg) > maxLegacyMessage {
			return nil, fmt.Errorf("minisign: data covered by a legacy (non-prehashed) signature is larger than %d bytes", maxLegacyMessage)
		}
	}
	if err := s.check(pub, msg); err != nil {
		return nil, err
	}
	return s, nil
}

// VerifyPrehashed is Verify for data already hashed with NewPrehash. A
// legacy (non-prehashed) signature cannot be checked this way and gives an
// error.
func VerifyPrehashed(pub PublicKey, digest []byte, sigFile []byte) (*Signature, error) {
	if len(digest) != blake2b.Size {
		return nil, fmt.Errorf("minisign: digest is %d bytes, want %d (BLAKE2b-512)", len(digest), blake2b.Size)
	}
	s, err := parseFor(pub, sigFile)
	if err != nil {
		return nil, err
	}
	if !s.Hashed() {
		return nil, fmt.Errorf("minisign: legacy (non-prehashed) signature cannot be checked against a digest; use Verify")
	}
	if err := s.check(pub, digest); err != nil {
		return nil, err
	}
	return s, nil
}

// parseFor parses sigFile and checks that pub made it.
func parseFor(pub PublicKey, sigFile []byte) (*Signature, error) {
	if err := pub.valid(); err != nil {
		return nil, err
	}
	s, err := ParseSignature(sigFile)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(s.KeyID[:], pub.ID[:]) != 1 {
		return nil, fmt.Errorf("%w: signature key id is %s but the public key id is %s", ErrKeyMismatch, s.KeyIDString(), pub.IDString())
	}
	return s, nil
}

// check verifies the signature of msg and then the trusted comment.
func (s *Signature) check(pub PublicKey, msg []byte) error {
	if !ed25519.Verify(pub.Key, msg, s.Sig[:]) {
		return fmt.Errorf("%w: key %s: the data was changed or the signature is corrupt", ErrInvalidSignature, pub.IDString())
	}
	signed := append(bytes.Clone(s.Sig[:]), s.TrustedComment...)
	if !ed25519.Verify(pub.Key, signed, s.GlobalSig[:]) {
		return fmt.Errorf("%w: key %s: the trusted comment %q was changed after signing", ErrInvalidTrustedComment, pub.IDString(), s.TrustedComment)
	}
	return nil
}
