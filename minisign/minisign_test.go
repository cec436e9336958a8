package minisign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pbxagent/pbxagent/internal/testutil"
)

func newKey(t *testing.T) (PublicKey, PrivateKey) {
	t.Helper()
	pub, priv, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func mustSign(t *testing.T, priv PrivateKey, data []byte, trusted string) []byte {
	t.Helper()
	sig, err := Sign(priv, bytes.NewReader(data), trusted, "")
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestRoundTrip(t *testing.T) {
	pub, priv := newKey(t)
	data := []byte("support bundle contents\n")
	sig := mustSign(t, priv, data, "timestamp:1700000000\tfile:bundle.zip\thashed")

	s, err := Verify(pub, bytes.NewReader(data), sig)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if s.Algorithm != AlgorithmHashed || s.KeyID != pub.ID ||
		s.TrustedComment != "timestamp:1700000000\tfile:bundle.zip\thashed" ||
		s.UntrustedComment != "signature from minisign secret key" {
		t.Fatalf("unexpected signature %+v", s)
	}

	h := NewPrehash()
	h.Write(data)
	if _, err := VerifyPrehashed(pub, h.Sum(nil), sig); err != nil {
		t.Fatalf("VerifyPrehashed: %v", err)
	}
	sig2, err := priv.SignPrehashed(h.Sum(nil), "tc", "uc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(pub, bytes.NewReader(data), sig2); err != nil {
		t.Fatalf("Verify of SignPrehashed: %v", err)
	}

	// Keys survive their file formats.
	pub2, err := ParsePublicKey(string(pub.MarshalFile()))
	if err != nil || !pub2.Equal(pub) {
		t.Fatalf("ParsePublicKey(file) = %v, %v", pub2, err)
	}
	pub3, err := ParsePublicKey(pub.String())
	if err != nil || !pub3.Equal(pub) {
		t.Fatalf("ParsePublicKey(line) = %v, %v", pub3, err)
	}
	priv2, err := ParsePrivateKeyFile(priv.MarshalFile())
	if err != nil || priv2.ID != priv.ID || !bytes.Equal(priv2.Key, priv.Key) {
		t.Fatalf("ParsePrivateKeyFile = %v", err)
	}
	if !priv2.Public().Equal(pub) {
		t.Fatal("Public() does not match")
	}
	if len(pub.IDString()) != 16 || strings.ToUpper(pub.IDString()) != pub.IDString() {
		t.Fatalf("IDString %q", pub.IDString())
	}
	if !strings.HasPrefix(string(pub.MarshalFile()), "untrusted comment: minisign public key "+pub.IDString()+"\n") {
		t.Fatalf("public key file %q", pub.MarshalFile())
	}
}

func TestKeyIDFormat(t *testing.T) {
	id := [8]byte{0x06, 0x10, 0x5c, 0xdb, 0xad, 0x6b, 0x29, 0x1d}
	if got := FormatKeyID(id); got != "1D296BADDB5C1006" {
		t.Fatalf("FormatKeyID = %s", got)
	}
	if got := FormatKeyID([8]byte{1}); got != "0000000000000001" {
		t.Fatalf("FormatKeyID = %s", got)
	}
}

// A key pair and signature written by minisign 0.11 (`minisign -G -W`,
// `minisign -Sm f -t "tc here"`), checked without the binary.
const (
	fixturePub = "untrusted comment: minisign public key 1D296BADDB5C1006\nRWQGEFzbrWspHV1QeveJg2EidWKQqIU6jIK4Wn7ptnDUOdjvtYZkUWEN\n"
	fixtureSec = "untrusted comment: minisign encrypted secret key\nRWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABhBc261rKR31aWWo9S+beM1nPoCFSVcr0o5DdCAT8IWjGbnW/kMNsl1QeveJg2EidWKQqIU6jIK4Wn7ptnDUOdjvtYZkUWENAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	fixtureSig = "untrusted comment: signature from minisign secret key\nRUQGEFzbrWspHfNaqK7ENxVXspNHZL46dcVITUXODjUHLoW2kEBxjujA/0rrwMhh82gIs1I7mXFV7R7mtI/1hsvTFgICDLNvcwI=\ntrusted comment: tc here\nVig8+REEBRU74zcciP2/2v548yrd97IP7nPsFPYdIcgpxU8LbK9Tmmsl20jZ20HhKrr+AJ2PVIBntOZzIO9RCA==\n"
	fixtureMsg = "hello\n"
)

func TestMinisignFixture(t *testing.T) {
	pub, err := ParsePublicKey(fixturePub)
	if err != nil {
		t.Fatal(err)
	}
	if pub.IDString() != "1D296BADDB5C1006" {
		t.Fatalf("key id %s", pub.IDString())
	}
	s, err := Verify(pub, strings.NewReader(fixtureMsg), []byte(fixtureSig))
	if err != nil {
		t.Fatal(err)
	}
	if s.TrustedComment != "tc here" {
		t.Fatalf("trusted comment %q", s.TrustedComment)
	}
	// CRLF line endings are tolerated.
	crlf := strings.ReplaceAll(fixtureSig, "\n", "\r\n")
	if _, err := Verify(pub, strings.NewReader(fixtureMsg), []byte(crlf)); err != nil {
		t.Fatalf("CRLF: %v", err)
	}
	// The secret key minisign writes with -W has an all-zero checksum.
	priv, err := ParsePrivateKeyFile([]byte(fixtureSec))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Public().Equal(pub) {
		t.Fatal("secret key does not match public key")
	}
}

func TestLegacySignature(t *testing.T) {
	pub, priv := newKey(t)
	msg := []byte("legacy message")
	sig := ed25519.Sign(priv.Key, msg)
	st := append(append([]byte(AlgorithmLegacy), priv.ID[:]...), sig...)
	tc := "legacy tc"
	global := ed25519.Sign(priv.Key, append(append([]byte{}, sig...), tc...))
	file := "untrusted comment: x\n" + base64.StdEncoding.EncodeToString(st) + "\ntrusted comment: " + tc + "\n" +
		base64.StdEncoding.EncodeToString(global) + "\n"
	s, err := Verify(pub, bytes.NewReader(msg), []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if s.Algorithm != AlgorithmLegacy || s.Hashed() {
		t.Fatalf("algorithm %q", s.Algorithm)
	}
	if _, err := Verify(pub, strings.NewReader("other"), []byte(file)); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("changed legacy message: %v", err)
	}
	if _, err := VerifyPrehashed(pub, make([]byte, 64), []byte(file)); err == nil {
		t.Fatal("VerifyPrehashed accepted a legacy signature")
	}
}

func TestVerifyErrors(t *testing.T) {
	pub, priv := newKey(t)
	other, _ := newKey(t)
	data := []byte("0123456789abcdef")
	sig := mustSign(t, priv, data, "trusted")

	_, err := Verify(other, bytes.NewReader(data), sig)
	if !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("wrong key: %v", err)
	}
	if !strings.Contains(err.Error(), pub.IDString()) || !strings.Contains(err.Error(), other.IDString()) {
		t.Fatalf("key mismatch error does not name both keys: %v", err)
	}

	flipped := bytes.Clone(data)
	flipped[3] ^= 1
	if _, err := Verify(pub, bytes.NewReader(flipped), sig); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("flipped byte: %v", err)
	}

	edited := bytes.Replace(sig, []byte("trusted comment: trusted"), []byte("trusted comment: trustee"), 1)
	if _, err := Verify(pub, bytes.NewReader(data), edited); !errors.Is(err, ErrInvalidTrustedComment) {
		t.Fatalf("edited trusted comment: %v", err)
	}

	lines := strings.Split(string(sig), "\n")
	b, _ := base64.StdEncoding.DecodeString(lines[1])
	b[20] ^= 0x80
	lines[1] = base64.StdEncoding.EncodeToString(b)
	if _, err := Verify(pub, bytes.NewReader(data), []byte(strings.Join(lines, "\n"))); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("corrupt signature: %v", err)
	}

	for name, bad := range map[string]string{
		"empty":          "",
		"three lines":    strings.Join(lines[:3], "\n"),
		"no prefix":      "comment\n" + strings.Join(lines[1:], "\n"),
		"bad base64":     lines[0] + "\n!!!!\n" + strings.Join(lines[2:], "\n"),
		"trusted prefix": strings.Join(lines[:2], "\n") + "\ncomment: x\n" + lines[3],
		"trailing":       string(sig) + "junk\n",
	} {
		_, err := Verify(pub, bytes.NewReader(data), []byte(bad))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Verify(PublicKey{}, bytes.NewReader(data), sig); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("empty public key: %v", err)
	}
}

func TestComments(t *testing.T) {
	_, priv := newKey(t)
	for _, tc := range []string{"a\nb", "a\rb", "a\x00b", strings.Repeat("x", MaxTrustedCommentLen+1)} {
		if _, err := Sign(priv, strings.NewReader("x"), tc, ""); !errors.Is(err, ErrInvalidComment) {
			t.Errorf("trusted comment %.20q: %v", tc, err)
		}
	}
	if _, err := Sign(priv, strings.NewReader("x"), "ok", "two\nlines"); !errors.Is(err, ErrInvalidComment) {
		t.Errorf("untrusted comment with newline: %v", err)
	}
	if _, err := Sign(PrivateKey{}, strings.NewReader("x"), "ok", ""); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("empty private key: %v", err)
	}
	if _, err := priv.SignPrehashed([]byte("short"), "ok", ""); err == nil {
		t.Error("short digest accepted")
	}
}

func TestParsePrivateKeyFileErrors(t *testing.T) {
	_, priv := newKey(t)
	file := priv.MarshalFile()
	lines := strings.Split(string(file), "\n")
	raw, _ := base64.StdEncoding.DecodeString(lines[1])

	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(raw)
		f(b)
		return []byte(lines[0] + "\n" + base64.StdEncoding.EncodeToString(b) + "\n")
	}
	enc := mod(func(b []byte) { copy(b[2:], "Sc") })
	if _, err := ParsePrivateKeyFile(enc); !errors.Is(err, ErrEncryptedKey) {
		t.Fatalf("encrypted: %v", err)
	}
	if !strings.Contains(ErrEncryptedKey.Error(), "minisign -G -W") {
		t.Fatal("encrypted key error does not say how to make an unencrypted key")
	}
	badChk := mod(func(b []byte) { b[len(b)-1] ^= 1 })
	if _, err := ParsePrivateKeyFile(badChk); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad checksum: %v", err)
	}
	// A corrupted key with a zero checksum is caught by the seed check.
	badSeed := mod(func(b []byte) {
		b[70] ^= 1 // inside the seed
		clear(b[len(b)-32:])
	})
	if _, err := ParsePrivateKeyFile(badSeed); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad seed: %v", err)
	}
	if _, err := ParsePrivateKeyFile([]byte("garbage")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestWriteKeyPairAndLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	sec := filepath.Join(dir, "keys", "sub", "agent.key")
	pubPath := filepath.Join(dir, "keys", "sub", "agent.pub")

	priv, created, err := LoadOrCreate(sec, pubPath)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate = %v, %v", created, err)
	}
	if runtime.GOOS != "windows" {
		for _, p := range []string{sec, pubPath} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v, want 0600", p, st.Mode().Perm())
			}
		}
		for _, d := range []string{filepath.Join(dir, "keys"), filepath.Dir(sec)} {
			st, err := os.Stat(d)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o700 {
				t.Errorf("%s mode %v, want 0700", d, st.Mode().Perm())
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(sec))
	if len(entries) != 2 {
		t.Errorf("leftover files: %v", entries)
	}

	priv2, created, err := LoadOrCreate(sec, pubPath)
	if err != nil || created || !bytes.Equal(priv2.Key, priv.Key) {
		t.Fatalf("second LoadOrCreate = %v, %v", created, err)
	}

	// A missing public key is written again.
	if err := os.Remove(pubPath); err != nil {
		t.Fatal(err)
	}
	if _, created, err = LoadOrCreate(sec, pubPath); err != nil || created {
		t.Fatalf("LoadOrCreate without .pub = %v, %v", created, err)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("rewritten public key: %v", err)
	}

	// A foreign public key file is reported.
	otherPub, otherPriv := newKey(t)
	if err := os.WriteFile(pubPath, otherPub.MarshalFile(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(sec, pubPath); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("mismatched .pub: %v", err)
	}

	// The secret key is never overwritten.
	before, _ := os.ReadFile(sec)
	err = WriteKeyPair(sec, pubPath, otherPub, otherPriv)
	if !errors.Is(err, ErrKeyExists) {
		t.Fatalf("overwrite: %v", err)
	}
	after, _ := os.ReadFile(sec)
	if !bytes.Equal(before, after) {
		t.Fatal("secret key changed")
	}
	if err := WriteKeyPair(filepath.Join(dir, "x.key"), "", otherPub, priv); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("mismatched pair: %v", err)
	}
}

// minisignBinary returns the path of the minisign tool (skip locally, fail
// under CI when it is missing).
func minisignBinary(t *testing.T) string {
	t.Helper()
	return testutil.NeedTool(t, "minisign")
}

func runMinisign(t *testing.T, bin string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader("")
	return cmd.CombinedOutput()
}

func TestMinisignVerifiesOurSignature(t *testing.T) {
	bin := minisignBinary(t)
	dir := t.TempDir()
	sec := filepath.Join(dir, "our.key")
	pubPath := filepath.Join(dir, "our.pub")
	priv, _, err := LoadOrCreate(sec, pubPath)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "bundle.zip")
	data := bytes.Repeat([]byte("PortSIP support bundle "), 5000)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	trusted := "timestamp:1700000000\tfile:bundle.zip\thashed  "
	sig := mustSign(t, priv, data, trusted)
	if err := os.WriteFile(file+".minisig", sig, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runMinisign(t, bin, "-Vm", file, "-p", pubPath)
	if err != nil {
		t.Fatalf("minisign rejected our signature: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Trusted comment: "+trusted) {
		t.Fatalf("minisign output: %s", out)
	}
	// The bare key line works too.
	if out, err := runMinisign(t, bin, "-Vm", file, "-P", priv.Public().String()); err != nil {
		t.Fatalf("minisign -P rejected our signature: %v\n%s", err, out)
	}

	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 1
	if err := os.WriteFile(file, flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runMinisign(t, bin, "-Vm", file, "-p", pubPath); err == nil {
		t.Fatalf("minisign accepted a changed file:\n%s", out)
	}

	// minisign can sign with the secret key file we write.
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runMinisign(t, bin, "-Sm", file, "-s", sec, "-x", file+".theirs", "-t", "from minisign")
	if err != nil {
		t.Fatalf("minisign cannot sign with our secret key: %v\n%s", err, out)
	}
	theirs, err := os.ReadFile(file + ".theirs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(priv.Public(), bytes.NewReader(data), theirs); err != nil {
		t.Fatal(err)
	}
}

func TestWeVerifyMinisignSignature(t *testing.T) {
	bin := minisignBinary(t)
	dir := t.TempDir()
	pubPath := filepath.Join(dir, "mk.pub")
	sec := filepath.Join(dir, "mk.key")
	if out, err := runMinisign(t, bin, "-G", "-W", "-f", "-p", pubPath, "-s", sec); err != nil {
		t.Fatalf("minisign -G: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "data.bin")
	data := bytes.Repeat([]byte{0, 1, 2, 3, 250}, 10000)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runMinisign(t, bin, "-Sm", file, "-s", sec, "-t", "signed by minisign", "-c", "their comment"); err != nil {
		t.Fatalf("minisign -S: %v\n%s", err, out)
	}
	sigFile, err := os.ReadFile(file + ".minisig")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Verify(pub, bytes.NewReader(data), sigFile)
	if err != nil {
		t.Fatalf("Verify of minisign's signature: %v", err)
	}
	if s.TrustedComment != "signed by minisign" || s.UntrustedComment != "their comment" || !s.Hashed() {
		t.Fatalf("signature %+v", s)
	}
	flipped := bytes.Clone(data)
	flipped[7] ^= 1
	if _, err := Verify(pub, bytes.NewReader(flipped), sigFile); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("flipped byte: %v", err)
	}

	// Legacy signatures from minisign -l.
	if out, err := runMinisign(t, bin, "-Sl", "-m", file, "-s", sec, "-x", file+".legacy"); err != nil {
		t.Fatalf("minisign -Sl: %v\n%s", err, out)
	}
	legacy, err := os.ReadFile(file + ".legacy")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Verify(pub, bytes.NewReader(data), legacy); err != nil || s.Hashed() {
		t.Fatalf("Verify of minisign's legacy signature: %v", err)
	}

	// Its secret key signs with our code, and minisign verifies the result.
	priv, err := LoadPrivateKey(sec)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Public().Equal(pub) {
		t.Fatal("secret and public key files do not match")
	}
	ours := mustSign(t, priv, data, "signed by pbxagent")
	if err := os.WriteFile(file+".minisig", ours, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runMinisign(t, bin, "-Vm", file, "-p", pubPath); err != nil {
		t.Fatalf("minisign rejected a signature made with its own key: %v\n%s", err, out)
	}

	// minisign reports a signature from another key as a failure too.
	other, otherPriv := newKey(t)
	otherPath := filepath.Join(dir, "other.pub")
	if err := os.WriteFile(otherPath, other.MarshalFile(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runMinisign(t, bin, "-Vm", file, "-p", otherPath); err == nil {
		t.Fatalf("minisign accepted a signature with the wrong key:\n%s", out)
	}
	_ = otherPriv
}

func FuzzParseSignature(f *testing.F) {
	f.Add([]byte(fixtureSig))
	f.Add([]byte(strings.ReplaceAll(fixtureSig, "\n", "\r\n")))
	f.Add([]byte("untrusted comment: \n\ntrusted comment: \n\n"))
	f.Add([]byte(""))
	pub, _ := ParsePublicKey(fixturePub)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSignature(data)
		if err == nil && s == nil {
			t.Fatal("nil signature without error")
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error does not wrap ErrMalformed: %v", err)
		}
		_, _ = Verify(pub, strings.NewReader(fixtureMsg), data)
	})
}

func FuzzParsePublicKey(f *testing.F) {
	f.Add(fixturePub)
	f.Add(strings.Split(fixturePub, "\n")[1])
	f.Add("untrusted comment:\n\n\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKey(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if len(k.Key) != ed25519.PublicKeySize {
			t.Fatalf("key of %d bytes", len(k.Key))
		}
		_ = k.String()
		_ = k.MarshalFile()
		_, _ = ParsePrivateKeyFile([]byte(s))
	})
}

func TestMinisignCommentLimits(t *testing.T) {
	bin := minisignBinary(t)
	dir := t.TempDir()
	pub, priv := newKey(t)
	pubPath := filepath.Join(dir, "k.pub")
	if err := os.WriteFile(pubPath, pub.MarshalFile(), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	sig, err := Sign(priv, strings.NewReader("x"), strings.Repeat("t", MaxTrustedCommentLen), strings.Repeat("u", MaxUntrustedCommentLen))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file+".minisig", sig, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runMinisign(t, bin, "-Vm", file, "-p", pubPath); err != nil {
		t.Fatalf("minisign rejected the longest comments: %v\n%s", err, out)
	}
}
