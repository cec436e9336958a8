package delivery

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// partServer answers UploadPart requests like S3: it checks each part's
// MD5 and signed SHA-256, and holds every request until `hold` of them
// are in flight at once, so a sender that sends one at a time never gets
// an answer (the test then fails on its own deadline, not on timing).
type partServer struct {
	t       *testing.T
	hold    int
	mu      sync.Mutex
	cond    *sync.Cond
	active  int
	maxSeen int
	got     []int
}

func (s *partServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
	if r.Method != http.MethodPut || err != nil || r.URL.Query().Get("uploadId") != "up1" {
		http.Error(w, "unexpected request "+r.Method+" "+r.URL.String(), http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	m, sh := md5.Sum(body), sha256.Sum256(body)
	if r.Header.Get("Content-Md5") != base64.StdEncoding.EncodeToString(m[:]) || r.Header.Get("X-Amz-Content-Sha256") != hex.EncodeToString(sh[:]) {
		http.Error(w, "checksum mismatch", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.active++
	s.maxSeen = max(s.maxSeen, s.active)
	s.got = append(s.got, n)
	s.cond.Broadcast()
	for s.active < s.hold && s.maxSeen < s.hold && r.Context().Err() == nil {
		s.cond.Wait()
	}
	s.active--
	s.mu.Unlock()
	w.Header().Set("ETag", `"`+hex.EncodeToString(m[:])+`"`)
}

// TestSendPartsParallelAndResume: with 4 workers, 4 parts are in flight at
// once; parts the server already confirmed are not sent again; the list
// for CompleteMultipartUpload is whole and in order; progress ends at the
// file size and never exceeds it.
func TestSendPartsParallelAndResume(t *testing.T) {
	const partSize = 5 << 20
	const nParts = 11
	size := int64(nParts-1)*partSize + 12345
	path := filepath.Join(t.TempDir(), "bundle.tar.zst")
	data := make([]byte, size)
	_, _ = rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := &partServer{t: t, hold: 4}
	srv.cond = sync.NewCond(&srv.mu)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer func() { srv.mu.Lock(); srv.cond.Broadcast(); srv.mu.Unlock() }()
	u, _ := url.Parse(hs.URL)
	core, err := minio.NewCore(u.Host, &minio.Options{Creds: credentials.NewStaticV4("k", "secretsecret", ""), Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Parts 1, 2 and 7 were confirmed by an earlier, interrupted run.
	done := map[int]minio.ObjectPart{}
	for _, i := range []int{1, 2, 7} {
		done[i] = minio.ObjectPart{PartNumber: i, Size: partSize, ETag: fmt.Sprintf("old-%d", i)}
	}
	st := &uploadState{Bucket: "bucket", Object: "o", UploadID: "up1", Size: size, PartSize: partSize}
	var last, over int64
	var calls sync.Mutex
	opt := UploadOptions{Parallel: 4, Retries: 0, Progress: func(d, total int64) {
		calls.Lock()
		defer calls.Unlock()
		last = d
		if d > total {
			over = d
		}
	}}.withLog()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc := &Receipt{}
	parts, err := sendParts(ctx, core, f, st, done, opt, rc, "test server")
	srv.mu.Lock()
	maxSeen := srv.maxSeen
	srv.mu.Unlock()
	if err != nil {
		t.Fatalf("sendParts: %v (parts in flight at most %d, want 4)", err, maxSeen)
	}
	if maxSeen != 4 {
		t.Errorf("at most %d parts were in flight, want 4", maxSeen)
	}
	slices.Sort(srv.got)
	if want := []int{3, 4, 5, 6, 8, 9, 10, 11}; !slices.Equal(srv.got, want) {
		t.Errorf("parts sent %v, want only the missing %v", srv.got, want)
	}
	if rc.PartsSent != 8 || rc.BytesSent != size-3*partSize {
		t.Errorf("receipt counts %d parts, %d bytes", rc.PartsSent, rc.BytesSent)
	}
	if len(parts) != nParts {
		t.Fatalf("%d parts to complete, want %d", len(parts), nParts)
	}
	for i, p := range parts {
		off := int64(i) * partSize
		m := md5.Sum(data[off:min(off+partSize, size)])
		want := hex.EncodeToString(m[:])
		if d, ok := done[i+1]; ok {
			want = d.ETag
		}
		if p.PartNumber != i+1 || p.ETag != want {
			t.Errorf("part %d: %+v, want number %d ETag %s", i, p, i+1, want)
		}
	}
	if last != size || over != 0 {
		t.Errorf("progress ended at %d of %d (over the size: %d)", last, size, over)
	}
}

func TestParallelism(t *testing.T) {
	for in, want := range map[int]int{0: DefaultParallel, -1: DefaultParallel, 1: 1, 4: 4, 99: MaxParallel} {
		if got := parallelism(in); got != want {
			t.Errorf("parallelism(%d) = %d, want %d", in, got, want)
		}
	}
}
