//go:build linux

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/minisign"
)

// ageKey makes an age identity with age-keygen and returns the identity
// file and the recipient.
func ageKey(t *testing.T) (identity, recipient string) {
	t.Helper()
	identity = filepath.Join(t.TempDir(), "support.key")
	if out, err := exec.Command("age-keygen", "-o", identity).CombinedOutput(); err != nil {
		t.Fatalf("age-keygen: %v %s", err, out)
	}
	out, err := exec.Command("age-keygen", "-y", identity).Output()
	must(t, err)
	return identity, strings.TrimSpace(string(out))
}

// sshKey makes an ed25519 SSH key pair with ssh-keygen.
func sshKey(t *testing.T) (identity, recipient string) {
	t.Helper()
	identity = filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", identity).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(identity + ".pub")
	must(t, err)
	return identity, strings.TrimSpace(string(pub))
}

// TestBundleEncrypted: the archive is encrypted while it is written (no
// plaintext file ever appears), stock age decrypts it to the archive whose
// SHA-256 the signature carries, verify --identity checks everything in
// one command, and a flipped byte is caught before decryption.
func TestBundleEncrypted(t *testing.T) {
	have(t, "age", "age-keygen", "ssh-keygen", "tar")
	f := newFixture(t)
	ageID, ageRcpt := ageKey(t)
	sshID, sshRcpt := sshKey(t)
	// Support's key in the config, the administrator's SSH key on the
	// command line: both can decrypt.
	deliveryConfig(t, f, fmt.Sprintf("delivery:\n  encrypt_to: [%q]\n", ageRcpt))
	r := runAgent(t, "bundle", "--config", f.config, "--encrypt-to", sshRcpt, "--json")
	if r.code != 0 {
		t.Fatalf("bundle: exit %d %s", r.code, r.stderr)
	}
	var b struct {
		bundleJSON
		PlainSHA256 string `json:"plain_sha256"`
	}
	must(t, json.Unmarshal([]byte(r.stdout), &b))
	if !strings.HasSuffix(b.Path, ".tar.gz.age") || b.PlainSHA256 == "" {
		t.Fatalf("encrypted bundle: %s", r.stdout)
	}
	ents, err := os.ReadDir(f.out)
	must(t, err)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".age") && !strings.HasSuffix(e.Name(), ".age.minisig") {
			t.Errorf("plaintext file left in the output folder: %s", e.Name())
		}
	}
	for _, id := range []string{ageID, sshID} {
		out, err := exec.Command("age", "-d", "-i", id, b.Path).Output()
		if err != nil {
			t.Fatalf("age -d -i %s: %v", filepath.Base(id), err)
		}
		if sum := sha256.Sum256(out); hex.EncodeToString(sum[:]) != b.PlainSHA256 {
			t.Fatalf("decrypted archive SHA-256 %x, bundle says %s", sum, b.PlainSHA256)
		}
		plain := filepath.Join(t.TempDir(), "b.tar.gz")
		must(t, os.WriteFile(plain, out, 0o600))
		dir := extract(t, plain)
		checkHashes(t, dir, readManifest(t, dir))
	}
	pub := filepath.Join(f.state, "pbxagent.pub")
	if out, err := exec.Command("minisign", "-Vm", b.Path, "-p", pub).CombinedOutput(); err != nil {
		t.Fatalf("minisign rejected the encrypted file's signature: %v %s", err, out)
	}
	v := runAgent(t, "verify", "--config", f.config, "--identity", ageID, b.Path)
	if v.code != 0 || !strings.Contains(v.stdout, "signature: OK") || !strings.Contains(v.stdout, "files match manifest.json") {
		t.Fatalf("verify --identity: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	// Without the identity the signature is still checked, the contents
	// are not, and verify says so.
	if v := runAgent(t, "verify", "--config", f.config, b.Path); v.code != 1 || !strings.Contains(v.stdout, "no age identity") {
		t.Fatalf("verify without identity: exit %d\n%s", v.code, v.stdout)
	}

	orig, err := os.ReadFile(b.Path)
	must(t, err)
	n := len(orig)
	for _, pos := range []int{0, 40, n / 2, n - 1} {
		bad := bytes.Clone(orig)
		bad[pos] ^= 0x01
		must(t, os.WriteFile(b.Path, bad, 0o600))
		v := runAgent(t, "verify", "--config", f.config, "--identity", ageID, b.Path)
		if v.code != 1 || !strings.Contains(v.stdout, "signature: FAILED") || !strings.Contains(v.stdout, "not decrypted") {
			t.Errorf("byte %d flipped: exit %d\n%s", pos, v.code, v.stdout)
		}
	}
	must(t, os.WriteFile(b.Path, orig, 0o600))
}

// TestEncryptionMandatory: with delivery.require_encryption and no
// recipient the agent refuses to write a plaintext bundle; with one given
// on the command line it writes an encrypted one.
func TestEncryptionMandatory(t *testing.T) {
	have(t, "age-keygen")
	f := newFixture(t)
	deliveryConfig(t, f, "delivery:\n  require_encryption: true\n")
	r := runAgent(t, "bundle", "--config", f.config)
	if r.code != 2 || !strings.Contains(r.stderr, "encryption is mandatory") {
		t.Fatalf("plaintext bundle not refused: exit %d %s", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(f.out); len(ents) != 0 {
		t.Fatalf("files written despite the refusal: %v", ents)
	}
	_, rcpt := ageKey(t)
	r = runAgent(t, "bundle", "--config", f.config, "--encrypt-to", rcpt, "--json")
	if r.code != 0 || !strings.HasSuffix(parseBundleJSON(t, r).Path, ".age") {
		t.Fatalf("encrypted bundle: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runAgent(t, "bundle", "--config", f.config, "--encrypt-to", "age1notakey"); r.code != 2 || !strings.Contains(r.stderr, "--encrypt-to") {
		t.Fatalf("bad recipient: exit %d %s", r.code, r.stderr)
	}
}

// TestRetention: 30 signed bundles over the size limit; the next bundle
// run leaves exactly the newest that fit, logs each removal, and never
// touches files it cannot prove are its own.
func TestRetention(t *testing.T) {
	f := newFixture(t)
	deliveryConfig(t, f, "delivery:\n  retention:\n    max_total_size: 10MiB\n    max_age: 0s\n")
	// The first run makes the host key; its bundle is the newest.
	must(t, os.MkdirAll(f.out, 0o700))
	if r := runAgent(t, "keygen", "--config", f.config); r.code != 0 {
		t.Fatalf("keygen: %s", r.stderr)
	}
	priv, err := minisign.LoadPrivateKey(filepath.Join(f.state, "pbxagent.key"))
	must(t, err)
	base := time.Now().Add(-48 * time.Hour).UTC()
	var names []string
	for i := 0; i < 30; i++ {
		ts := base.Add(time.Duration(i) * time.Minute)
		name := fmt.Sprintf("pbx-support-old-%s.tar.gz", ts.Format("20060102T150405Z"))
		p := filepath.Join(f.out, name)
		writeRandom(t, p, 1<<20)
		data, err := os.ReadFile(p)
		must(t, err)
		sig, err := minisign.Sign(priv, bytes.NewReader(data), fmt.Sprintf("timestamp:%d\tfile:%s\thashed", ts.Unix(), name), "test")
		must(t, err)
		must(t, os.WriteFile(p+".minisig", sig, 0o600))
		must(t, os.Chtimes(p, ts, ts))
		names = append(names, name)
	}
	// Decoys: unsigned, signed for another name, a symlink.
	decoys := []string{"pbx-support-x-20200101T000000Z.tar.gz", "pbx-support-y-20200101T000000Z.tar.gz", "pbx-support-z-20200101T000000Z.zip"}
	writeRandom(t, filepath.Join(f.out, decoys[0]), 4<<20)
	writeRandom(t, filepath.Join(f.out, decoys[1]), 4<<20)
	sig, _ := os.ReadFile(filepath.Join(f.out, names[0]+".minisig"))
	must(t, os.WriteFile(filepath.Join(f.out, decoys[1]+".minisig"), sig, 0o600))
	must(t, os.Symlink(filepath.Join(f.out, names[0]), filepath.Join(f.out, decoys[2])))
	old := time.Now().Add(-100 * 24 * time.Hour)
	for _, d := range decoys[:2] {
		must(t, os.Chtimes(filepath.Join(f.out, d), old, old))
	}

	r := runAgent(t, "bundle", "--config", f.config, "--json")
	if r.code != 0 {
		t.Fatalf("bundle: %s", r.stderr)
	}
	nb := parseBundleJSON(t, r)
	// The new bundle is kept and counts; then the newest 1 MiB ones that fit.
	keep := int((10<<20 - nb.Size) / (1 << 20))
	for i, n := range names {
		_, err := os.Stat(filepath.Join(f.out, n))
		_, serr := os.Stat(filepath.Join(f.out, n+".minisig"))
		want := i >= len(names)-keep
		if (err == nil) != want || (serr == nil) != want {
			t.Errorf("bundle %d %s: present=%v, want %v", i, n, err == nil, want)
		}
		if !want && !strings.Contains(r.stderr, "removed old bundle "+n) {
			t.Errorf("removal of %s not reported", n)
		}
	}
	for _, d := range append(decoys, filepath.Base(nb.Path)) {
		if _, err := os.Lstat(filepath.Join(f.out, d)); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
	l := runAgent(t, "bundles", "list", "--config", f.config, "--json")
	var list []struct {
		Name              string
		Signed, Encrypted bool
		Proven            bool
	}
	must(t, json.Unmarshal([]byte(l.stdout), &list))
	if len(list) != keep+1+2 || list[0].Name != filepath.Base(nb.Path) || !list[0].Proven {
		t.Fatalf("bundles list: %s", l.stdout)
	}
	if r := runAgent(t, "bundles", "rm", "--config", f.config, decoys[2]); r.code != 1 || !strings.Contains(r.stderr, "not a regular file") {
		t.Fatalf("bundles rm of a symlink: exit %d %s", r.code, r.stderr)
	}
	if r := runAgent(t, "bundles", "rm", "--config", f.config, filepath.Base(nb.Path)); r.code != 0 {
		t.Fatalf("bundles rm: %s", r.stderr)
	}
	if _, err := os.Stat(nb.Path + ".minisig"); err == nil {
		t.Fatalf("bundles rm left the signature")
	}
}
