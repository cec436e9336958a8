package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/pbxagent/pbxagent/bundle"
	"github.com/pbxagent/pbxagent/minisign"
)

// countingIdentity counts unwrap attempts, i.e. decryptions begun.
type countingIdentity struct {
	age.Identity
	n *atomic.Int64
}

func (c countingIdentity) Unwrap(s []*age.Stanza) ([]byte, error) {
	c.n.Add(1)
	return c.Identity.Unwrap(s)
}

func writeEncrypted(t *testing.T, dir string, format bundle.Format, rcpt age.Recipient, priv minisign.PrivateKey) *bundle.Result {
	t.Helper()
	w, err := bundle.Create(bundle.Options{Dir: dir, Name: "pbx-support-h-20261204T000000Z" + format.Ext() + bundle.EncryptExt,
		Format: format, Guard: bundle.NewGuard(dir, 0, 0), Encrypt: Encrypter([]age.Recipient{rcpt})})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20)
	rand.Read(data)
	if err := w.AddBytes("logs/a.log", "test", data); err != nil {
		t.Fatal(err)
	}
	if err := w.AddBytes("system/b.txt", "test", []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	res, err := w.Close(&bundle.Manifest{Host: "h", FinishedAt: time.Now()}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestEncryptedBundleVerify(t *testing.T) {
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []bundle.Format{"tar.gz", "tar.zst", "zip"} {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			res := writeEncrypted(t, dir, format, id.Recipient(), priv)
			if !strings.HasSuffix(res.Path, ".age") || res.PlainSHA256 == "" || res.PlainSHA256 == res.SHA256 {
				t.Fatalf("result %+v", res)
			}
			var n atomic.Int64
			ids := []age.Identity{countingIdentity{id, &n}}
			v, err := Verify(context.Background(), res.Path, res.SignaturePath, pub, ids)
			if err != nil || !v.OK() || v.Files != 2 {
				t.Fatalf("verify: %v %+v", err, v)
			}
			if n.Load() != 1 {
				t.Fatalf("decryptions begun: %d", n.Load())
			}
			// A flipped byte anywhere: refused before any decryption.
			orig, _ := os.ReadFile(res.Path)
			for _, pos := range []int{0, len(orig) / 2, len(orig) - 1} {
				bad := bytes.Clone(orig)
				bad[pos] ^= 0x80
				os.WriteFile(res.Path, bad, 0o600)
				n.Store(0)
				v, err := Verify(context.Background(), res.Path, res.SignaturePath, pub, ids)
				if err != nil || v.OK() || v.SignatureOK || n.Load() != 0 || !strings.Contains(strings.Join(v.Problems, " "), "not decrypted") {
					t.Fatalf("byte %d flipped: err %v, %+v, decryptions %d", pos, err, v, n.Load())
				}
			}
			os.WriteFile(res.Path, orig, 0o600)
			other, _ := age.GenerateX25519Identity()
			v, err = Verify(context.Background(), res.Path, res.SignaturePath, pub, []age.Identity{other})
			if err != nil || v.OK() || !strings.Contains(strings.Join(v.Problems, " "), "cannot decrypt") {
				t.Fatalf("wrong identity: %v %+v", err, v)
			}
			// Nothing but the encrypted file and its signature on disk.
			ents, _ := os.ReadDir(dir)
			if len(ents) != 2 {
				t.Fatalf("files in the output folder: %v", ents)
			}
		})
	}
}

func TestParseRecipients(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	dir := t.TempDir()
	file := filepath.Join(dir, "r.txt")
	os.WriteFile(file, []byte("# support\n"+id.Recipient().String()+"\n\n"), 0o600)
	good := [][]string{
		{id.Recipient().String()},
		{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN test"},
		{file},
	}
	for _, g := range good {
		if rs, err := ParseRecipients(g); err != nil || len(rs) != 1 {
			t.Errorf("%q: %v", g, err)
		}
	}
	bad := map[string]string{
		"":             "empty recipient",
		"age1xyz":      "age recipient",
		"pgp-key":      "neither an age public key",
		"ssh-rsa AAAA": "SSH recipient",
	}
	for in, want := range bad {
		if _, err := ParseRecipients([]string{in}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	if _, err := ParseRecipients(nil); err == nil {
		t.Error("no recipients accepted")
	}
}

func FuzzParseRecipient(f *testing.F) {
	f.Add("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
	f.Add("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN")
	f.Add("ssh-rsa ")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecipient(s)
		if (r == nil) == (err == nil) {
			t.Fatalf("%q: recipient %v, error %v", s, r, err)
		}
	})
}

func TestCommentField(t *testing.T) {
	c := "timestamp:1\tfile:a:b.tar.gz\thashed\tplain_sha256:abc"
	for k, want := range map[string]string{"timestamp": "1", "file": "a:b.tar.gz", "plain_sha256": "abc", "hashed": "", "x": ""} {
		if got := commentField(c, k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}
