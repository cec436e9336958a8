package redact

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkBytes(b *testing.B) {
	var data []byte
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, name := range files {
		if fi, err := os.Stat(name); err != nil || fi.IsDir() {
			continue // testdata/fuzz holds the fuzz corpus
		}
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

// benchLog is about 4 MiB of callmanager.log-like lines: SIP messages with
// Authorization headers, database and API lines, one secret-bearing line
// in a hundred.
func benchLog() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 4<<20; i++ {
		fmt.Fprintf(&b, "2026-11-27 10:%02d:%02d.%03d [INFO] [callmanager] INVITE sip:10%02d@pbx.example.com SIP/2.0 Call-ID: %08x@192.0.2.10 CSeq: %d INVITE\n",
			i/3600%60, i/60%60, i%1000, i%100, i*2654435761, i)
		fmt.Fprintf(&b, "2026-11-27 10:%02d:%02d.%03d [DEBUG] [sip] Authorization: Digest username=\"10%02d\", realm=\"pbx\", nonce=\"%x\", uri=\"sip:pbx\", response=\"%x\"\n",
			i/3600%60, i/60%60, i%1000, i%100, i*7, i*13)
		fmt.Fprintf(&b, "2026-11-27 10:%02d:%02d.%03d [INFO] [media] RTP session %d started 192.0.2.%d:%d -> 198.51.100.%d:%d codec PCMA\n",
			i/3600%60, i/60%60, i%1000, i, i%250, 10000+i%5000, i%250, 20000+i%5000)
		if i%100 == 0 {
			fmt.Fprintf(&b, "2026-11-27 10:00:00.000 [WARN] [db] reconnect postgres://portsip:Pg-Pass-%d@127.0.0.1:5432/pbx password=%d\n", i, i)
		}
	}
	return b.Bytes()
}

// BenchmarkCopyLog is log redaction as the bundle runs it: streaming, with
// the configuration's secret values added.
func BenchmarkCopyLog(b *testing.B) {
	data := benchLog()
	for _, tc := range []struct {
		name string
		r    *Redactor
	}{
		{"rules", New()},
		{"rules+values", New().WithValues("Api-S3cret-Pass", "Smtp-S3cret-Pass", "Fallback-S3cret")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := tc.r.Copy(io.Discard, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValues is the value matcher alone on the same log.
func BenchmarkValues(b *testing.B) {
	data := string(benchLog())
	vs := New().WithValues("Api-S3cret-Pass", "Smtp-S3cret-Pass", "Fallback-S3cret").vals
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		vs.scan(data)
	}
}
