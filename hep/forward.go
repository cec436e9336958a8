package hep

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// forwardQueue bounds the messages waiting for the upstream receiver.
const forwardQueue = 4096

// Forwarder sends HEP messages unchanged to an upstream receiver (a HOMER
// or PortSIP Trace Server), so pointing the PBX at the agent loses the
// upstream nothing. Send never blocks: when the queue is full or the
// upstream is unreachable the message is dropped and counted.
type Forwarder struct {
	network, addr string
	q             chan []byte
	log           *slog.Logger
	sent, dropped atomic.Int64
}

// NewForwarder returns a Forwarder to target, "udp://host:port" or
// "tcp://host:port" (the configuration has checked the form).
func NewForwarder(target string, log *slog.Logger) *Forwarder {
	network, addr, _ := strings.Cut(target, "://")
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{network: network, addr: addr, q: make(chan []byte, forwardQueue), log: log}
}

// Send queues a copy of msg.
func (f *Forwarder) Send(msg []byte) {
	select {
	case f.q <- append([]byte(nil), msg...):
	default:
		f.dropped.Add(1)
	}
}

// Sent and Dropped count the messages delivered to and lost for the
// upstream receiver.
func (f *Forwarder) Sent() int64    { return f.sent.Load() }
func (f *Forwarder) Dropped() int64 { return f.dropped.Load() }

// Run delivers queued messages until ctx is done, reconnecting after an
// error (messages taken while disconnected are dropped and counted).
func (f *Forwarder) Run(ctx context.Context) {
	var c net.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	var warned bool
	for {
		var m []byte
		select {
		case <-ctx.Done():
			return
		case m = <-f.q:
		}
		if c == nil {
			d := net.Dialer{Timeout: 5 * time.Second}
			var err error
			if c, err = d.DialContext(ctx, f.network, f.addr); err != nil {
				f.dropped.Add(1)
				if !warned {
					f.log.Warn("HEP forward: upstream not reachable; messages are dropped until it is", "to", f.addr, "err", err)
					warned = true
				}
				continue
			}
			warned = false
		}
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(m); err != nil {
			f.dropped.Add(1)
			c.Close()
			c = nil
			continue
		}
		f.sent.Add(1)
	}
}
