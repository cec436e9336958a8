package delivery

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbxagent/pbxagent/minisign"
)

func signedBundle(t *testing.T, dir string, priv minisign.PrivateKey, ts time.Time, size int) string {
	t.Helper()
	name := fmt.Sprintf("pbx-support-h-%s.tar.zst", ts.UTC().Format("20060102T150405Z"))
	p := filepath.Join(dir, name)
	data := bytes.Repeat([]byte{1}, size)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sig, err := minisign.Sign(priv, bytes.NewReader(data), fmt.Sprintf("timestamp:%d\tfile:%s\thashed", ts.Unix(), name), "x")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p+".minisig", sig, 0o600)
	return p
}

func TestPruneAgeAndKeep(t *testing.T) {
	pub, priv, _ := minisign.GenerateKey(nil)
	otherPub, _, _ := minisign.GenerateKey(nil)
	dir := t.TempDir()
	now := time.Now()
	old := signedBundle(t, dir, priv, now.Add(-40*24*time.Hour), 10)
	recent := signedBundle(t, dir, priv, now.Add(-time.Hour), 10)
	huge := signedBundle(t, dir, priv, now, 1000)

	// Another host's key proves nothing: nothing is removed.
	if rm, err := Prune(dir, &otherPub, Retention{MaxAge: 24 * time.Hour, MaxTotal: 1}, now, nil); err != nil || len(rm) != 0 {
		t.Fatalf("pruned with a foreign key: %v %v", rm, err)
	}
	rm, err := Prune(dir, &pub, Retention{MaxAge: 30 * 24 * time.Hour, MaxTotal: 500, Keep: huge}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	// old goes for its age; huge alone exceeds the total but is kept, so
	// recent goes for the size.
	if len(rm) != 2 || rm[0].Path != recent || rm[1].Path != old {
		t.Fatalf("removed %+v", rm)
	}
	if _, err := os.Stat(huge); err != nil {
		t.Fatal("the kept bundle was removed")
	}
	if _, err := os.Stat(old + ".minisig"); err == nil {
		t.Fatal("the signature of a removed bundle was left")
	}
}
