// Package minisign reads and writes minisign keys and signatures: Ed25519
// signatures over the BLAKE2b-512 digest of a file ("ED", the prehashed
// mode), in the exact text formats of the minisign tool, so that
// `minisign -Vm FILE -p KEY` accepts the signatures pbxagent writes and
// pbxagent accepts the signatures minisign writes.
//
// It is a package of its own because three parts of pbxagent depend on it —
// building a support bundle signs it, verifying a bundle checks it, and key
// generation creates and stores the key pair — and the file format is a
// separate concern from any of them: it follows minisign, not pbxagent, and
// is tested against the minisign binary.
//
// Only unencrypted secret keys are supported (as written by
// `minisign -G -W`); pbxagent runs unattended and cannot prompt for a
// password. Legacy non-prehashed signatures ("Ed") are accepted when
// verifying but never produced.
package minisign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// Algorithm identifiers as stored in minisign keys and signatures.
const (
	// AlgorithmHashed marks a signature over the BLAKE2b-512 digest of the
	// file. It is the only kind this package produces.
	AlgorithmHashed = "ED"
	// AlgorithmLegacy marks a signature over the raw file content. Keys
	// always carry this identifier; signatures carry it only in the legacy
	// format, which this package verifies but does not produce.
	AlgorithmLegacy = "Ed"
)

// Sizes of the fixed fields of the minisign formats.
const (
	// KeyIDSize is the length of a key id.
	KeyIDSize = 8
	// MaxTrustedCommentLen is the longest trusted comment, in bytes, that
	// minisign accepts when it verifies a signature.
	MaxTrustedCommentLen = 8192 - len(trustedCommentPrefix) - 2
	// MaxUntrustedCommentLen is the longest untrusted comment, in bytes, that
	// minisign accepts when it reads a signature or key file.
	MaxUntrustedCommentLen = 1024 - len(untrustedCommentPrefix) - 2
)

const (
	untrustedCommentPrefix = "untrusted comment: "
	trustedCommentPrefix   = "trusted comment: "

	kdfNone   = "\x00\x00"
	kdfScrypt = "Sc"
	chkBlake2 = "B2"

	publicKeyLen = 2 + KeyIDSize + ed25519.PublicKeySize                            // 42
	secretKeyLen = 2 + 2 + 2 + 32 + 8 + 8 + KeyIDSize + ed25519.PrivateKeySize + 32 // 158
	sigLen       = 2 + KeyIDSize + ed25519.SignatureSize                            // 74

	// maxLegacyMessage bounds how much of a file is read into memory to
	// check a legacy (non-prehashed) signature.
	maxLegacyMessage = 1 << 30
)

// Errors returned by this package; test for them with errors.Is. The
// returned errors wrap them with the details.
var (
	// ErrMalformed reports a key or signature file that cannot be parsed;
	// the wrapping error names the line and the reason.
	ErrMalformed = errors.New("minisign: malformed file")
	// ErrKeyMismatch reports a signature made by a key other than the one
	// it is checked with; the wrapping error names both key ids.
	ErrKeyMismatch = errors.New("minisign: signature was made by a different key")
	// ErrInvalidSignature reports a signature that does not match the file:
	// the file was changed or the signature is corrupt.
	ErrInvalidSignature = errors.New("minisign: signature verification failed")
	// ErrInvalidTrustedComment reports a trusted comment that does not match
	// its signature: it was edited after signing.
	ErrInvalidTrustedComment = errors.New("minisign: trusted comment signature verification failed")
	// ErrEncryptedKey reports a password-protected secret key, which this
	// package cannot use.
	ErrEncryptedKey = errors.New("minisign: the secret key is encrypted; an unencrypted key is needed (create one with `minisign -G -W`, or remove the password with `minisign -C -W`)")
	// ErrKeyExists reports that a secret key file already exists where a new
	// one was to be written; it is never overwritten.
	ErrKeyExists = errors.New("minisign: secret key file already exists")
	// ErrInvalidComment reports a comment that cannot be written into a
	// signature: it contains a line break or NUL byte, or is too long.
	ErrInvalidComment = errors.New("minisign: invalid comment")
	// ErrInvalidKey reports a key value of the wrong size or whose parts do
	// not belong together.
	ErrInvalidKey = errors.New("minisign: invalid key")
)

// PublicKey is a minisign public key: an Ed25519 public key and the random
// key id that minisign stores alongside it.
type PublicKey struct {
	// ID is the key id, as stored in the file (little-endian).
	ID [KeyIDSize]byte
	// Key is the Ed25519 public key.
	Key ed25519.PublicKey
}

// PrivateKey is an unencrypted minisign secret key.
type PrivateKey struct {
	// ID is the key id, as stored in the file (little-endian).
	ID [KeyIDSize]byte
	// Key is the Ed25519 private key (seed followed by public key).
	Key ed25519.PrivateKey
}

// FormatKeyID returns a key id the way minisign prints it: the id read as a
// little-endian 64-bit number, in 16 upper-case hex digits.
func FormatKeyID(id [KeyIDSize]byte) string {
	return fmt.Sprintf("%016X", binary.LittleEndian.Uint64(id[:]))
}

// GenerateKey creates a new key pair, reading the key id and the Ed25519
// seed from rand; a nil rand means crypto/rand.
func GenerateKey(rand io.Reader) (PublicKey, PrivateKey, error) {
	var id [KeyIDSize]byte
	if rand == nil {
		rand = cryptoRand{}
	}
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return PublicKey{}, PrivateKey{}, fmt.Errorf("minisign: generating key id: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return PublicKey{}, PrivateKey{}, fmt.Errorf("minisign: generating key: %w", err)
	}
	return PublicKey{ID: id, Key: pub}, PrivateKey{ID: id, Key: priv}, nil
}

// cryptoRand reads from crypto/rand.
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }

// IDString returns the key id the way minisign prints it (see FormatKeyID).
func (k PublicKey) IDString() string { return FormatKeyID(k.ID) }

// String returns the key as minisign's one-line base64 form, the value
// `minisign -P` takes.
func (k PublicKey) String() string {
	b := make([]byte, publicKeyLen)
	copy(b, AlgorithmLegacy)
	copy(b[2:], k.ID[:])
	copy(b[2+KeyIDSize:], k.Key)
	return base64.StdEncoding.EncodeToString(b)
}

// MarshalFile returns the content of a minisign .pub file for the key.
func (k PublicKey) MarshalFile() []byte {
	return []byte(untrustedCommentPrefix + "minisign public key " + k.IDString() + "\n" + k.String() + "\n")
}

// Equal reports whether two public keys have the same id and key.
func (k PublicKey) Equal(o PublicKey) bool {
	return k.ID == o.ID && bytes.Equal(k.Key, o.Key)
}

// valid reports whether the key has the size of an Ed25519 public key.
func (k PublicKey) valid() error {
	if len(k.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key %s is %d bytes, want %d", ErrInvalidKey, k.IDString(), len(k.Key), ed25519.PublicKeySize)
	}
	return nil
}

// IDString returns the key id the way minisign prints it (see FormatKeyID).
func (k PrivateKey) IDString() string { return FormatKeyID(k.ID) }

// Public returns the public half of the key pair. For a key of the wrong
// size the returned Key is nil.
func (k PrivateKey) Public() PublicKey {
	p := PublicKey{ID: k.ID}
	if len(k.Key) == ed25519.PrivateKeySize {
		p.Key = bytes.Clone(k.Key[32:])
	}
	return p
}

// valid checks the key size and that the stored public half matches the
// seed.
func (k PrivateKey) valid() error {
	if len(k.Key) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: secret key %s is %d bytes, want %d", ErrInvalidKey, k.IDString(), len(k.Key), ed25519.PrivateKeySize)
	}
	derived := ed25519.NewKeyFromSeed(k.Key.Seed())
	if subtle.ConstantTimeCompare(derived, k.Key) != 1 {
		return fmt.Errorf("%w: secret key %s: public half does not match the seed", ErrInvalidKey, k.IDString())
	}
	return nil
}

// MarshalFile returns the content of an unencrypted minisign secret key
// file for the key, in the layout `minisign -G -W` writes, with the
// checksum filled in.
func (k PrivateKey) MarshalFile() []byte {
	b := make([]byte, secretKeyLen)
	copy(b, AlgorithmLegacy)
	copy(b[2:], kdfNone)
	copy(b[4:], chkBlake2)
	// kdf salt, opslimit and memlimit stay zero: the key is not encrypted.
	off := 6 + 32 + 8 + 8
	copy(b[off:], k.ID[:])
	copy(b[off+KeyIDSize:], k.Key)
	chk := secretKeyChecksum(b[off:off+KeyIDSize], b[off+KeyIDSize:off+KeyIDSize+ed25519.PrivateKeySize])
	copy(b[off+KeyIDSize+ed25519.PrivateKeySize:], chk[:])
	return []byte(untrustedCommentPrefix + "minisign unencrypted secret key " + k.IDString() + "\n" +
		base64.StdEncoding.EncodeToString(b) + "\n")
}

// secretKeyChecksum is minisign's BLAKE2b-256(sig_alg || keyid || sk).
func secretKeyChecksum(id, sk []byte) [32]byte {
	h, _ := blake2b.New256(nil) // cannot fail without a key
	h.Write([]byte(AlgorithmLegacy))
	h.Write(id)
	h.Write(sk)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// ParsePublicKey parses a public key given either as minisign's one-line
// base64 form or as the whole content of a .pub file.
func ParsePublicKey(s string) (PublicKey, error) {
	lines := splitLines([]byte(s))
	var line string
	lineNo := 1
	switch len(lines) {
	case 0:
		return PublicKey{}, fmt.Errorf("%w: public key: empty", ErrMalformed)
	case 1:
		line = strings.TrimSpace(lines[0])
	case 2:
		if !strings.HasPrefix(lines[0], "untrusted comment:") {
			return PublicKey{}, fmt.Errorf("%w: public key: line 1: does not start with %q", ErrMalformed, untrustedCommentPrefix)
		}
		line, lineNo = strings.TrimSpace(lines[1]), 2
	default:
		return PublicKey{}, fmt.Errorf("%w: public key: %d lines, want 1 or 2", ErrMalformed, len(lines))
	}
	b, err := decodeBase64(line, publicKeyLen)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: public key: line %d: %v", ErrMalformed, lineNo, err)
	}
	if string(b[:2]) != AlgorithmLegacy {
		return PublicKey{}, fmt.Errorf("%w: public key: line %d: unsupported signature algorithm %q", ErrMalformed, lineNo, b[:2])
	}
	var k PublicKey
	copy(k.ID[:], b[2:])
	k.Key = ed25519.PublicKey(bytes.Clone(b[2+KeyIDSize:]))
	return k, nil
}

// ParsePrivateKeyFile parses the content of an unencrypted minisign secret
// key file. It checks the algorithms, the checksum, and that the public half
// of the key matches its seed. An encrypted key gives ErrEncryptedKey.
//
// `minisign -G -W` leaves the checksum of an unencrypted key all zero; such
// a key is accepted, relying on the seed check alone.
func ParsePrivateKeyFile(data []byte) (PrivateKey, error) {
	lines := splitLines(data)
	var line string
	lineNo := 1
	switch len(lines) {
	case 0:
		return PrivateKey{}, fmt.Errorf("%w: secret key: empty", ErrMalformed)
	case 1:
		line = strings.TrimSpace(lines[0])
	case 2:
		if !strings.HasPrefix(lines[0], "untrusted comment:") {
			return PrivateKey{}, fmt.Errorf("%w: secret key: line 1: does not start with %q", ErrMalformed, untrustedCommentPrefix)
		}
		line, lineNo = strings.TrimSpace(lines[1]), 2
	default:
		return PrivateKey{}, fmt.Errorf("%w: secret key: %d lines, want 2", ErrMalformed, len(lines))
	}
	b, err := decodeBase64(line, secretKeyLen)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%w: secret key: line %d: %v", ErrMalformed, lineNo, err)
	}
	if string(b[0:2]) != AlgorithmLegacy {
		return PrivateKey{}, fmt.Errorf("%w: secret key: line %d: unsupported signature algorithm %q", ErrMalformed, lineNo, b[0:2])
	}
	switch string(b[2:4]) {
	case kdfNone:
	case kdfScrypt:
		return PrivateKey{}, ErrEncryptedKey
	default:
		return PrivateKey{}, fmt.Errorf("%w: secret key: line %d: unsupported key derivation function %q", ErrMalformed, lineNo, b[2:4])
	}
	if string(b[4:6]) != chkBlake2 {
		return PrivateKey{}, fmt.Errorf("%w: secret key: line %d: unsupported checksum function %q", ErrMalformed, lineNo, b[4:6])
	}
	off := 6 + 32 + 8 + 8
	id := b[off : off+KeyIDSize]
	sk := b[off+KeyIDSize : off+KeyIDSize+ed25519.PrivateKeySize]
	chk := b[off+KeyIDSize+ed25519.PrivateKeySize:]
	if !allZero(chk) {
		want := secretKeyChecksum(id, sk)
		if subtle.ConstantTimeCompare(want[:], chk) != 1 {
			return PrivateKey{}, fmt.Errorf("%w: secret key: line %d: checksum mismatch (file corrupt)", ErrMalformed, lineNo)
		}
	}
	var k PrivateKey
	copy(k.ID[:], id)
	k.Key = ed25519.PrivateKey(bytes.Clone(sk))
	if err := k.valid(); err != nil {
		return PrivateKey{}, fmt.Errorf("%w: secret key: line %d: %v", ErrMalformed, lineNo, err)
	}
	return k, nil
}

// splitLines splits data into lines, dropping a trailing carriage return
// from each line and any empty lines at the end.
func splitLines(data []byte) []string {
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// decodeBase64 decodes standard base64 and checks the decoded length.
func decodeBase64(s string, want int) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty base64 line")
	}
	if len(s) > base64.StdEncoding.EncodedLen(want) {
		return nil, fmt.Errorf("base64 value too long: %d characters, want %d", len(s), base64.StdEncoding.EncodedLen(want))
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %v", err)
	}
	if len(b) != want {
		return nil, fmt.Errorf("decodes to %d bytes, want %d", len(b), want)
	}
	return b, nil
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
