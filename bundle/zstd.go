package bundle

import (
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdChunk is the input compressed as one independent zstd frame. The
// encoder's window is 2 MiB (zstd -3's), so frames of that size lose little
// against one long stream (on PBX logs the archive is no larger), and the
// frames are compressed on all cores at once: a streaming encoder keeps
// only about 1.3 cores busy. zstd, tar --zstd and every decoder read
// concatenated frames as one stream.
const zstdChunk = 2 << 20

// parallelZstd compresses its input in zstdChunk frames on several
// goroutines and writes the frames in order.
type parallelZstd struct {
	w       io.Writer
	enc     *zstd.Encoder // EncodeAll is safe for concurrent use
	buf     []byte
	pending chan chan zstdResult // in submission order
	done    chan struct{}
	bufs    sync.Pool

	mu  sync.Mutex
	err error
}

type zstdResult struct {
	out []byte
	in  []byte
}

// zstdMaxWorkers caps the frames compressed at once whatever the core
// count, so memory stays within the bundle's budget on large hosts.
const zstdMaxWorkers = 4

// newParallelZstd returns a writer whose frames go to w. At most
// min(GOMAXPROCS, 4) frames are in flight, each holding its input and its
// output, plus the one being filled.
func newParallelZstd(w io.Writer) (io.WriteCloser, error) {
	workers := min(runtime.GOMAXPROCS(0), zstdMaxWorkers)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithWindowSize(2<<20),
		zstd.WithEncoderConcurrency(workers),
		zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	z := &parallelZstd{
		w:       w,
		enc:     enc,
		pending: make(chan chan zstdResult, workers),
		done:    make(chan struct{}),
	}
	z.buf = z.newBuf()
	go z.drain()
	return z, nil
}

func (z *parallelZstd) newBuf() []byte {
	if b, ok := z.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, zstdChunk)
}

// drain writes finished frames in order.
func (z *parallelZstd) drain() {
	defer close(z.done)
	for ch := range z.pending {
		r := <-ch
		if z.failed() == nil {
			if _, err := z.w.Write(r.out); err != nil {
				z.fail(err)
			}
		}
		in := r.in[:0]
		z.bufs.Put(&in)
	}
}

func (z *parallelZstd) fail(err error) {
	z.mu.Lock()
	if z.err == nil {
		z.err = err
	}
	z.mu.Unlock()
}

func (z *parallelZstd) failed() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.err
}

// submit compresses the current chunk on its own goroutine.
func (z *parallelZstd) submit() {
	in := z.buf
	z.buf = z.newBuf()
	ch := make(chan zstdResult, 1)
	z.pending <- ch // blocks while 2 × GOMAXPROCS frames are in flight
	go func() {
		ch <- zstdResult{out: z.enc.EncodeAll(in, make([]byte, 0, len(in)/4)), in: in}
	}()
}

func (z *parallelZstd) Write(p []byte) (int, error) {
	if err := z.failed(); err != nil {
		return 0, err
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), zstdChunk-len(z.buf))
		z.buf = append(z.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(z.buf) == zstdChunk {
			z.submit()
		}
	}
	return n, nil
}

// Close compresses what is left, waits for every frame to be written and
// reports the first write error.
func (z *parallelZstd) Close() error {
	if z.pending == nil {
		return errors.New("zstd writer already closed")
	}
	if len(z.buf) > 0 {
		z.submit()
	}
	close(z.pending)
	<-z.done
	z.pending = nil
	z.enc.Close()
	return z.failed()
}
