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
	m := &merger{out: out, srcs: srcs, hard: make(chan struct{})}
	defer m.stopHard()

	readErr := make([]error, len(srcs))
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Go(func() { readErr[i] = s.read(ctx, m.hard, m.emit) })
	}
	readersDone := make(chan struct{})
	go func() { wg.Wait(); close(readersDone) }()
	m.mu.Lock()
	armed := out.snapshot()
	m.mu.Unlock()
	progress(armed) // capture is armed

	tick := time.NewTicker(opt.ProgressInterval)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-readersDone:
			running = false
		case <-tick.C:
			progress(m.flushTick())
		}
	}
	return m.finish(ctx, readErr, descs)
}

// merger is the state the readers share: one output and the first write
// error, under one mutex.
type merger struct {
	mu       sync.Mutex // guards out and werr
	out      *ngOut
	werr     error
	srcs     []source
	hard     chan struct{} // closed when writing ended: readers stop at once
	hardOnce sync.Once
}

func (m *merger) stopHard() { m.hardOnce.Do(func() { close(m.hard) }) }

// emit writes one batch; false tells the reader to stop.
func (m *merger) emit(b *batch) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.out
	if out.done || m.werr != nil {
		// Counted, so the manifest shows what a limit cut off.
		out.stats.Seen += int64(len(b.pkts))
		return false
	}
	out.stats.FilterDropped += int64(b.dropped)
	for i := range b.pkts {
		more, err := out.write(&b.pkts[i])
		if err != nil {
			m.werr = err
		}
		if !more {
			out.stats.Seen += int64(len(b.pkts) - i - 1)
			m.stopHard()
			return false
		}
	}
	return true
}

func (m *merger) updateDrops() {
	for i, s := range m.srcs {
		m.out.setKernelDropped(i, s.kernelDropped())
	}
}

// flushTick flushes the output and returns the progress so far.
func (m *merger) flushTick() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updateDrops()
	if m.werr == nil && !m.out.done {
		if err := m.out.flush(); err != nil {
			m.werr = fmt.Errorf("capture: write: %w", err)
			m.stopHard()
		}
	}
	return m.out.snapshot()
}

// finish closes the output once every reader has returned and tells why
// capture ended; capture failing on every interface is an error.
func (m *merger) finish(ctx context.Context, readErr []error, descs []ifaceDesc) (Stats, error) {
	m.updateDrops()
	failed := 0
	var firstErr error
	for i, err := range readErr {
		if err != nil {
			m.out.setErr(i, err)
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", descs[i].name, err)
			}
		}
	}
	reason := stopReason(ctx)
	allFailed := ctx.Err() == nil && !m.out.done && m.werr == nil && failed == len(m.srcs)
	if allFailed {
		reason = "capture failed on every interface"
	}
	st, err := m.out.close(time.Now(), reason)
	switch {
	case m.werr != nil:
		return st, m.werr
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
