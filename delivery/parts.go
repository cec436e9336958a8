package delivery

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
)

// DefaultParallel and MaxParallel bound how many parts are in flight.
const (
	DefaultParallel = 4
	MaxParallel     = 16
)

// partJob is one part still to send.
type partJob struct {
	num       int
	off, size int64
}

// partSender sends the missing parts of one multipart upload with a few
// workers. Each worker owns one part-size buffer, so memory stays at
// Parallel × PartSize however large the bundle is; the bandwidth limit is
// one limiter shared by all workers.
type partSender struct {
	core   *minio.Core
	f      *os.File
	st     *uploadState
	opt    UploadOptions
	target string
	n      int
	lim    *limiter

	mu    sync.Mutex // guards what follows and serialises opt.Progress
	sent  int64      // bytes confirmed or in flight, for progress
	parts []minio.CompletePart
	rc    *Receipt
	err   error
}

// sendParts uploads every part the server has not confirmed, each with its
// MD5 (checked against the part's ETag by the server) and SHA-256 (signed
// in the request, checked by the server), up to opt.Parallel at a time.
// The first failure stops the others; parts that were in flight are simply
// sent again by the next run.
func sendParts(ctx context.Context, core *minio.Core, f *os.File, st *uploadState, done map[int]minio.ObjectPart,
	opt UploadOptions, rc *Receipt, target string) ([]minio.CompletePart, error) {
	n := max(int((st.Size+st.PartSize-1)/st.PartSize), 1)
	s := &partSender{core: core, f: f, st: st, opt: opt, target: target, n: n, lim: newLimiter(opt.LimitRate),
		parts: make([]minio.CompletePart, n), rc: rc}
	var todo []partJob
	for i := 1; i <= n; i++ {
		off := int64(i-1) * st.PartSize
		size := min(st.PartSize, st.Size-off)
		if p, ok := done[i]; ok && p.Size == size {
			s.parts[i-1] = minio.CompletePart{PartNumber: i, ETag: p.ETag}
			s.sent += size
			continue
		}
		todo = append(todo, partJob{i, off, size})
	}
	s.progress(0)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan partJob)
	var wg sync.WaitGroup
	for range min(parallelism(opt.Parallel), max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.worker(ctx, cancel, jobs)
		}()
	}
feed:
	for _, j := range todo {
		select {
		case jobs <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if s.err != nil {
		return nil, s.err
	}
	if err := ctx.Err(); err != nil {
		return nil, classify(err, target)
	}
	return s.parts, nil
}

// parallelism returns p within 1..MaxParallel, DefaultParallel for 0.
func parallelism(p int) int {
	if p <= 0 {
		return DefaultParallel
	}
	return min(p, MaxParallel)
}

func (s *partSender) worker(ctx context.Context, cancel func(), jobs <-chan partJob) {
	var buf []byte
	for j := range jobs {
		if buf == nil {
			buf = make([]byte, s.st.PartSize)
		}
		if err := s.sendPart(ctx, buf[:j.size], j); err != nil {
			s.mu.Lock()
			// The first failure is the cause; the others were cancelled by it.
			if s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
			cancel()
			return
		}
	}
}

// progress adds delta (negative when a failed attempt is retried) to the
// bytes sent and reports the total.
func (s *partSender) progress(delta int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent += delta
	if s.opt.Progress != nil {
		s.opt.Progress(s.sent, s.st.Size)
	}
}

func (s *partSender) sendPart(ctx context.Context, b []byte, j partJob) error {
	if _, err := s.f.ReadAt(b, j.off); err != nil && !(errors.Is(err, io.EOF) && j.size == 0) {
		return fmt.Errorf("read part %d of %s: %w", j.num, s.f.Name(), err)
	}
	m := md5.Sum(b)
	sh := sha256.Sum256(b)
	var part minio.ObjectPart
	err := retry(ctx, s.opt, fmt.Sprintf("part %d/%d", j.num, s.n), s.target, func() error {
		var sent int64
		r := &paced{ctx: ctx, r: bytes.NewReader(b), l: s.lim, progress: func(k int64) {
			sent += k
			s.progress(k)
		}}
		var err error
		part, err = s.core.PutObjectPart(ctx, s.st.Bucket, s.st.Object, s.st.UploadID, j.num, r, j.size,
			minio.PutObjectPartOptions{Md5Base64: base64.StdEncoding.EncodeToString(m[:]), Sha256Hex: hex.EncodeToString(sh[:]),
				// Sign the part's SHA-256 computed above instead of
				// minio-go's per-64KiB streaming signature over plain
				// HTTP: the server checks the same hash for less CPU.
				DisableContentSha256: true})
		if err != nil {
			s.progress(-sent)
		}
		return err
	})
	if err != nil {
		return err
	}
	if got := strings.Trim(part.ETag, `"`); len(got) == 32 && got != hex.EncodeToString(m[:]) {
		return &UploadError{Kind: "corrupt", Message: fmt.Sprintf("%s: part %d was stored with ETag %s, not its MD5 %x", s.target, j.num, got, m)}
	}
	s.mu.Lock()
	s.parts[j.num-1] = minio.CompletePart{PartNumber: j.num, ETag: part.ETag}
	s.rc.PartsSent++
	s.rc.BytesSent += j.size
	s.mu.Unlock()
	return nil
}
