package hep

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Sink takes the packets rebuilt from accepted HEP messages: raw IP packets
// (link type RAW) with the original capture time.
type Sink interface {
	WriteHEP(ts time.Time, pkt []byte) error
}

// Options configure a Listener.
type Options struct {
	// Stream is the TCP address (PortSIP sends SIP to TCP 9061); it also
	// takes UDP datagrams. Empty means none.
	Stream string
	// Datagram is an extra UDP address (PortSIP sends RTCP to UDP 9060).
	// Empty means none.
	Datagram string
	// Allow lists the source networks whose messages are accepted.
	Allow []netip.Prefix
	// AuthKey, when set, is the key each message must carry.
	AuthKey string
	// MaxConns caps concurrent TCP connections (default 32).
	MaxConns int
	// Idle closes a TCP connection silent this long (default 10m).
	Idle time.Duration
	// Sink receives the rebuilt packets.
	Sink Sink
	// Tee, when set, receives every well-formed, authorised message
	// unchanged; it must not block and must copy what it keeps.
	Tee func([]byte)
	// Log receives the listener's few messages; nil discards them.
	Log *slog.Logger
}

// Counts are a Listener's message counters.
type Counts struct {
	Received     int64 `json:"received"`
	Accepted     int64 `json:"accepted"`
	Malformed    int64 `json:"malformed"`
	Unauthorised int64 `json:"unauthorised"`
	// Refused counts TCP connections closed at once: over MaxConns or from
	// a source that is not allowed.
	Refused int64 `json:"refused"`
}

// Listener receives a HEP feed.
type Listener struct {
	opt  Options
	tcp  net.Listener
	udp  []*net.UDPConn
	pk   *Packetizer
	pkMu sync.Mutex
	sem  chan struct{}

	received, accepted, malformed, unauthorised, refused atomic.Int64
}

// Listen binds the configured addresses.
func Listen(opt Options) (*Listener, error) {
	if opt.MaxConns <= 0 {
		opt.MaxConns = 32
	}
	if opt.Idle <= 0 {
		opt.Idle = 10 * time.Minute
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	l := &Listener{opt: opt, pk: NewPacketizer(), sem: make(chan struct{}, opt.MaxConns)}
	var err error
	if opt.Stream != "" {
		if l.tcp, err = net.Listen("tcp", opt.Stream); err != nil {
			return nil, fmt.Errorf("hep: listen on TCP %s: %w", opt.Stream, err)
		}
	}
	for _, a := range []string{opt.Stream, opt.Datagram} {
		if a == "" {
			continue
		}
		ua, err := net.ResolveUDPAddr("udp", a)
		if err == nil {
			var c *net.UDPConn
			if c, err = net.ListenUDP("udp", ua); err == nil {
				l.udp = append(l.udp, c)
				continue
			}
		}
		l.close()
		return nil, fmt.Errorf("hep: listen on UDP %s: %w", a, err)
	}
	return l, nil
}

// TCPAddr returns the bound TCP address, or nil.
func (l *Listener) TCPAddr() net.Addr {
	if l.tcp == nil {
		return nil
	}
	return l.tcp.Addr()
}

// UDPAddrs returns the bound UDP addresses.
func (l *Listener) UDPAddrs() []net.Addr {
	var out []net.Addr
	for _, c := range l.udp {
		out = append(out, c.LocalAddr())
	}
	return out
}

// Counts returns the counters so far.
func (l *Listener) Counts() Counts {
	return Counts{Received: l.received.Load(), Accepted: l.accepted.Load(), Malformed: l.malformed.Load(),
		Unauthorised: l.unauthorised.Load(), Refused: l.refused.Load()}
}

func (l *Listener) close() {
	if l.tcp != nil {
		l.tcp.Close()
	}
	for _, c := range l.udp {
		c.Close()
	}
}

// Serve receives until ctx is done, then closes the listener.
func (l *Listener) Serve(ctx context.Context) {
	var wg sync.WaitGroup
	conns := make(map[net.Conn]struct{})
	var mu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		l.close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	for _, c := range l.udp {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.serveUDP(c)
		}()
	}
	if l.tcp != nil {
		for {
			c, err := l.tcp.Accept()
			if err != nil {
				if ctx.Err() == nil {
					l.opt.Log.Warn("HEP listener stopped", "err", err)
				}
				break
			}
			if !l.allowed(c.RemoteAddr()) {
				l.refused.Add(1)
				c.Close()
				continue
			}
			select {
			case l.sem <- struct{}{}:
			default:
				l.refused.Add(1)
				c.Close()
				continue
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.serveConn(c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				<-l.sem
			}()
		}
	}
	l.close()
	wg.Wait()
}

func (l *Listener) allowed(a net.Addr) bool {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	case *net.UDPAddr:
		ip = a.AddrPort().Addr()
	}
	ip = ip.Unmap()
	for _, p := range l.opt.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (l *Listener) serveUDP(c *net.UDPConn) {
	buf := make([]byte, MaxMessage)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !l.allowed(from) {
			l.received.Add(1)
			l.unauthorised.Add(1)
			continue
		}
		l.message(buf[:n])
	}
}

// serveConn reads HEP v3 messages off one TCP connection. A message whose
// frame cannot be read (bad magic, impossible length) ends the connection,
// since the stream cannot be resynchronised.
func (l *Listener) serveConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, MaxMessage)
	for {
		_ = c.SetReadDeadline(time.Now().Add(l.opt.Idle))
		if _, err := io.ReadFull(c, buf[:6]); err != nil {
			return
		}
		n, err := Length(buf[:6])
		if err != nil {
			l.received.Add(1)
			l.malformed.Add(1)
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(c, buf[6:n]); err != nil {
			l.received.Add(1)
			l.malformed.Add(1)
			return
		}
		l.message(buf[:n])
	}
}

// message handles one message from an allowed source.
func (l *Listener) message(b []byte) {
	l.received.Add(1)
	m, err := Decode(b)
	if err != nil {
		l.malformed.Add(1)
		return
	}
	if k := l.opt.AuthKey; k != "" && subtle.ConstantTimeCompare([]byte(m.AuthKey), []byte(k)) != 1 {
		l.unauthorised.Add(1)
		return
	}
	if l.opt.Tee != nil {
		l.opt.Tee(b)
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	l.pkMu.Lock()
	defer l.pkMu.Unlock()
	pkt, err := l.pk.Packet(m)
	if err != nil {
		l.malformed.Add(1)
		return
	}
	if l.opt.Sink != nil {
		if err := l.opt.Sink.WriteHEP(m.Time, pkt); err != nil {
			l.opt.Log.Debug("HEP message not recorded", "err", err)
			return
		}
	}
	l.accepted.Add(1)
}
