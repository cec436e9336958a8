//go:build linux || windows

package capture

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// source is one capture handle (one interface).
type source interface {
	// read sends batches of packets to out until ctx is done (after
	// which it may keep collecting briefly) or hard is closed.
	read(ctx context.Context, hard <-chan struct{}, out chan<- batch) error
	// kernelDropped returns the packets the system dropped so far.
	kernelDropped() int64
	// describe returns the interface's description for the pcapng file.
	describe() ifaceDesc
}

// batch is a group of packets read together from one source.
type batch struct {
	pkts    []packet
	dropped int // packets discarded by the source's own checks
	// buf holds the packets' bytes; release hands it back to the source
	// for reuse once the packets are written.
	buf  *blockBuf
	pool *sync.Pool
}

// blockBuf is the reusable memory of one batch.
type blockBuf struct {
	arena []byte
	pkts  []packet
}

// release returns the batch's memory to its source.
func (b *batch) release() {
	if b.pool != nil && b.buf != nil {
		b.buf.arena = b.buf.arena[:0]
		b.buf.pkts = b.pkts[:0]
		b.pool.Put(b.buf)
	}
	b.buf, b.pkts = nil, nil
}

// merge runs one goroutine per source and writes their packets, in the
// order they arrive, to one pcapng stream on w. Source i is pcapng
// interface i.
func merge(ctx context.Context, w io.Writer, opt Options, progress func(Stats), start time.Time, srcs []source, skipped map[string]InterfaceStats) (Stats, error) {
	descs := make([]ifaceDesc, len(srcs))
	for i, s := range srcs {
		descs[i] = s.describe()
	}
	out, err := newNgOut(w, opt, descs, start)
	if err != nil {
		return Stats{}, err
	}
	out.extra = skipped

	batches := make(chan batch, 64)
	hard := make(chan struct{})
	var hardOnce sync.Once
	stopHard := func() { hardOnce.Do(func() { close(hard) }) }
	defer stopHard()
	readErr := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Go(func() { readErr[i] = s.read(ctx, hard, batches) })
	}
	go func() { wg.Wait(); close(batches) }()
	progress(out.snapshot()) // capture is armed

	updateDrops := func() {
		for i, s := range srcs {
			out.setKernelDropped(i, s.kernelDropped())
		}
	}
	tick := time.NewTicker(opt.ProgressInterval)
	defer tick.Stop()
	var werr error
loop:
	for {
		select {
		case b, ok := <-batches:
			if !ok {
				break loop
			}
			if out.done || werr != nil {
				// Counted, so the manifest shows what a limit cut off.
				out.stats.Seen += int64(len(b.pkts))
				b.release()
				continue
			}
			out.stats.FilterDropped += int64(b.dropped)
			for i := range b.pkts {
				more, err := out.write(&b.pkts[i])
				if err != nil {
					werr = err
				}
				if !more {
					out.stats.Seen += int64(len(b.pkts) - i - 1)
					stopHard()
					break
				}
			}
			b.release()
		case <-tick.C:
			updateDrops()
			if werr == nil && !out.done {
				if err := out.flush(); err != nil {
					werr = fmt.Errorf("capture: write: %w", err)
					stopHard()
				}
			}
			progress(out.snapshot())
		}
	}
	updateDrops()
	failed := 0
	var firstErr error
	for i, err := range readErr {
		if err != nil {
			out.setErr(i, err)
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", descs[i].name, err)
			}
		}
	}
	reason := stopReason(ctx)
	allFailed := ctx.Err() == nil && !out.done && werr == nil && failed == len(srcs)
	if allFailed {
		reason = "capture failed on every interface"
	}
	st, err := out.close(time.Now(), reason)
	switch {
	case werr != nil:
		return st, werr
	case err != nil:
		return st, err
	case allFailed:
		return st, fmt.Errorf("capture: %s: %w", reason, firstErr)
	}
	return st, nil
}

// setKernelDropped records the kernel's drop count for interface i.
func (o *ngOut) setKernelDropped(i int, n int64) { o.per[i].KernelDropped = n }

// setErr records the error that ended capture on interface i.
func (o *ngOut) setErr(i int, err error) { o.per[i].Err = err.Error() }

// flush pushes buffered blocks to the output.
func (o *ngOut) flush() error {
	if err := o.ng.Flush(); err != nil {
		return err
	}
	return o.buf.Flush()
}

// stopReason describes why ctx ended.
func stopReason(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil {
		return c.Error()
	}
	return "stopped"
}
