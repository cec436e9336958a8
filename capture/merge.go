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
	// read hands batches of packets to emit until ctx is done (after
	// which it may keep collecting briefly), hard is closed or emit
	// returns false. The packets may point into the source's own memory:
	// they are written before emit returns and not used afterwards.
	read(ctx context.Context, hard <-chan struct{}, emit func(*batch) bool) error
	// kernelDropped returns the packets the system dropped so far.
	kernelDropped() int64
	// describe returns the interface's description for the pcapng file.
	describe() ifaceDesc
}

// batch is a group of packets read together from one source.
type batch struct {
	pkts    []packet
	dropped int // packets discarded by the source's own checks
}

// merge runs one goroutine per source, each writing its packets as it reads
// them, in the order they arrive, to one pcapng stream on w; a mutex orders
// the writers. There is no hand-over between goroutines: with one interface
// the reader writes its ring's blocks itself, straight from the ring. Source
// i is pcapng interface i. merge's own goroutine reports progress and
// flushes the output every opt.ProgressInterval.
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

	hard := make(chan struct{})
	var hardOnce sync.Once
	stopHard := func() { hardOnce.Do(func() { close(hard) }) }
	defer stopHard()

	var mu sync.Mutex // guards out and werr
	var werr error
	emit := func(b *batch) bool {
		mu.Lock()
		defer mu.Unlock()
		if out.done || werr != nil {
			// Counted, so the manifest shows what a limit cut off.
			out.stats.Seen += int64(len(b.pkts))
			return false
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
				return false
			}
		}
		return true
	}

	readErr := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Go(func() { readErr[i] = s.read(ctx, hard, emit) })
	}
	readersDone := make(chan struct{})
	go func() { wg.Wait(); close(readersDone) }()
	mu.Lock()
	armed := out.snapshot()
	mu.Unlock()
	progress(armed) // capture is armed

	updateDrops := func() {
		for i, s := range srcs {
			out.setKernelDropped(i, s.kernelDropped())
		}
	}
	tick := time.NewTicker(opt.ProgressInterval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-readersDone:
			break loop
		case <-tick.C:
			mu.Lock()
			updateDrops()
			if werr == nil && !out.done {
				if err := out.flush(); err != nil {
					werr = fmt.Errorf("capture: write: %w", err)
					stopHard()
				}
			}
			snap := out.snapshot()
			mu.Unlock()
			progress(snap)
		}
	}
	// Every reader has returned.
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
	return o.flushBuf()
}

// stopReason describes why ctx ended.
func stopReason(ctx context.Context) string {
	if c := context.Cause(ctx); c != nil {
		return c.Error()
	}
	return "stopped"
}
