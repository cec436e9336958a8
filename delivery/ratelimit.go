package delivery

import (
	"context"
	"io"
	"sync"
	"time"
)

// limiter paces bytes to a rate shared by every reader it wraps. It is a
// plain token bucket with one second of burst; the upload needs nothing
// more (no library in the module graph offers one without a new
// dependency).
type limiter struct {
	rate   float64 // bytes per second
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newLimiter(bytesPerSecond int64) *limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	return &limiter{rate: float64(bytesPerSecond), tokens: float64(bytesPerSecond), last: time.Now()}
}

// wait blocks until n bytes may pass or ctx ends.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens += now.Sub(l.last).Seconds() * l.rate
	if l.tokens > l.rate {
		l.tokens = l.rate
	}
	l.last = now
	l.tokens -= float64(n)
	deficit := -l.tokens
	l.mu.Unlock()
	if deficit <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(deficit / l.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// paced is a reader that passes at most the limiter's rate and reports
// progress; reads are cut to 32 KiB so the pacing is smooth.
type paced struct {
	ctx      context.Context
	r        io.Reader
	l        *limiter
	progress func(int64)
}

func (p *paced) Read(b []byte) (int, error) {
	if len(b) > 32<<10 {
		b = b[:32<<10]
	}
	n, err := p.r.Read(b)
	if n > 0 {
		if werr := p.l.wait(p.ctx, n); werr != nil {
			return n, werr
		}
		if p.progress != nil {
			p.progress(int64(n))
		}
	}
	return n, err
}
