package redact

import (
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkBytes(b *testing.B) {
	var data []byte
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, name := range files {
		d, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, d...)
	}
	r := New()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r.Bytes(data)
	}
}
