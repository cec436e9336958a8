package bundle

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify feeds arbitrary bytes to Verify under each bundle extension:
// whatever the file holds, Verify must report problems, not panic or hang,
// and never call a file OK without a signature.
func FuzzVerify(f *testing.F) {
	seedDir := f.TempDir()
	for i, format := range Formats {
		archive, _ := smallBundle(f, filepath.Join(seedDir, string(format)), format, map[string][]byte{"a.txt": []byte("a\n")})
		data, err := os.ReadFile(archive)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), data)
	}
	f.Add(uint8(0), []byte("\x1f\x8b\x08\x00garbage"))
	f.Add(uint8(2), []byte("PK\x05\x06"+string(make([]byte, 18))))
	f.Add(uint8(3), []byte{})
	pub, _ := newKeys(f)
	names := []string{"x.tar.gz", "x.tar.zst", "x.zip", "x"}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		p := filepath.Join(t.TempDir(), names[int(which)%len(names)])
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		v, err := Verify(context.Background(), p, p+".minisig", pub)
		if err != nil {
			return
		}
		if v.SignatureOK || v.OK() {
			t.Fatalf("unsigned file verified: %+v", v)
		}
		if v.Manifest == nil && len(v.Problems) == 0 {
			t.Fatalf("no manifest and no problem reported")
		}
	})
}
