// Command udpgen sends a bounded, paced load of RTP-sized UDP datagrams to
// the loopback address for the packet capture benchmark (bench/capture.sh).
//
// It sends RTP packets (a 12-byte RTP header plus payload, 172 bytes by
// default, i.e. 20 ms of G.711) to a set of ports in the RTP range and one
// SIP-sized datagram in every --sip-every packets to the SIP port, for
// --duration at --rate packets per second (0: as fast as possible). Sending
// is paced with a token bucket and done in batches (sendmmsg). The
// destination ports are bound by the command itself before it sends, so the
// kernel delivers every datagram to a socket instead of answering with ICMP
// port unreachable; with --read the receiving sockets are also drained.
//
// When done it prints one line of key=value pairs on standard output: the
// packets it actually sent, the elapsed time, the achieved rate, send
// errors and the packets read back.
//
//	go run ./bench/udpgen --rate 100000 --duration 10s
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
)

func main() {
	rate := flag.Int("rate", 10000, "packets per second in total; 0 sends as fast as possible")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	size := flag.Int("size", 172, "UDP payload bytes of each RTP packet (at least 12)")
	dst := flag.String("dst", "127.0.0.1", "destination address (must be a loopback address)")
	sipPort := flag.Int("sip-port", 5060, "SIP destination port")
	sipEvery := flag.Int("sip-every", 100, "send one SIP datagram in every N packets; 0 sends none")
	rtpLow := flag.Int("rtp-low", 45000, "first RTP destination port")
	streams := flag.Int("streams", 200, "RTP streams (one even destination port each, from --rtp-low)")
	batch := flag.Int("batch", 64, "datagrams per sendmmsg call")
	workers := flag.Int("workers", 1, "sending goroutines, each with its own socket and an equal share of --rate")
	read := flag.Bool("read", false, "drain the receiving sockets (otherwise they are only bound and drop what overflows their buffer)")
	flag.Parse()

	addr, err := netip.ParseAddr(*dst)
	switch {
	case err != nil:
		fail(2, "--dst %q: %v", *dst, err)
	case !addr.IsLoopback():
		fail(2, "--dst %s: only loopback destinations are allowed", addr)
	case *size < 12 || *size > 1472:
		fail(2, "--size %d: use 12 to 1472", *size)
	case *rate < 0 || *batch < 1 || *batch > 1024 || *workers < 1 || *streams < 1:
		fail(2, "bad --rate, --batch, --workers or --streams")
	case *rtpLow < 1024 || *rtpLow+2*(*streams) > 65536:
		fail(2, "--rtp-low %d with %d streams leaves the port space", *rtpLow, *streams)
	case *duration <= 0:
		fail(2, "--duration must be positive")
	}

	// Bind every destination first so no datagram meets a closed port.
	var dests []netip.AddrPort
	var rx []*net.UDPConn
	bind := func(port int) {
		ap := netip.AddrPortFrom(addr, uint16(port))
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			fail(1, "bind %s: %v", ap, err)
		}
		rx = append(rx, c)
		dests = append(dests, ap)
	}
	for i := range *streams {
		bind(*rtpLow + 2*i)
	}
	sipDest := -1
	if *sipEvery > 0 {
		bind(*sipPort)
		sipDest = len(dests) - 1
	}

	var received atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var rwg sync.WaitGroup
	if *read {
		for _, c := range rx {
			rwg.Go(func() { drain(ctx, c, &received) })
		}
	}

	var sent, errs atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	deadline := start.Add(*duration)
	var wg sync.WaitGroup
	for w := range *workers {
		share := 0.0
		if *rate > 0 {
			share = float64(*rate) / float64(*workers)
		}
		wg.Go(func() {
			n, e, err := send(w, share, deadline, *batch, *size, dests, sipDest, *sipEvery)
			sent.Add(n)
			errs.Add(e)
			if err != nil {
				firstErr.CompareAndSwap(nil, err.Error())
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if *read {
		time.Sleep(200 * time.Millisecond) // let the last datagrams arrive
	}
	cancel()
	for _, c := range rx {
		c.Close()
	}
	rwg.Wait()

	n := sent.Load()
	fmt.Printf("sent=%d elapsed_s=%.3f rate_pps=%.0f target_pps=%d send_errors=%d received=%d",
		n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), *rate, errs.Load(), received.Load())
	if s, ok := firstErr.Load().(string); ok {
		fmt.Printf(" first_error=%q", s)
	}
	fmt.Println()
}

// send runs one sender until deadline at rate packets per second (0: as fast
// as possible) and returns the datagrams sent and the failed sendmmsg calls.
func send(worker int, rate float64, deadline time.Time, batchSize, size int, dests []netip.AddrPort, sipDest, sipEvery int) (int64, int64, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	_ = c.SetWriteBuffer(4 << 20)
	pc := ipv4.NewPacketConn(c)

	rng := rand.New(rand.NewPCG(uint64(worker)+1, 7))
	type stream struct {
		addr     *net.UDPAddr
		seq      uint16
		ts, ssrc uint32
	}
	st := make([]stream, len(dests))
	for i, d := range dests {
		st[i] = stream{addr: net.UDPAddrFromAddrPort(d), seq: uint16(rng.Uint32()), ts: rng.Uint32(), ssrc: rng.Uint32()}
	}
	// One buffer per message of the batch, rewritten before each send. The
	// payloads are cut from a pool of random bytes larger than any
	// compressor's window: audio compresses poorly, and so must the capture.
	msgs := make([]ipv4.Message, batchSize)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, size)}
	}
	pool := make([]byte, 16<<20)
	for i := 0; i < len(pool); i += 8 {
		binary.LittleEndian.PutUint64(pool[i:], rng.Uint64())
	}
	payload := size - 12
	off := 0
	sip := []byte("OPTIONS sip:bench@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-bench\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:udpgen@127.0.0.1>;tag=1\r\nTo: <sip:bench@127.0.0.1>\r\nCall-ID: udpgen-bench\r\n" +
		"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	rtpDests := len(dests)
	if sipDest >= 0 {
		rtpDests--
	}

	var sent, errs int64
	var first error
	var next int64 // packet counter, picks the destination
	start := time.Now()
	for {
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		n := batchSize
		if rate > 0 {
			// Token bucket: the packets due by now, at most one batch.
			due := int64(now.Sub(start).Seconds()*rate) - sent
			if due <= 0 {
				wait := time.Duration(float64(time.Second) / rate * float64(min(batchSize, 16)))
				time.Sleep(min(wait, time.Until(deadline)))
				continue
			}
			n = int(min(due, int64(batchSize)))
		}
		for i := range n {
			m := &msgs[i]
			if sipDest >= 0 && sipEvery > 0 && next%int64(sipEvery) == 0 {
				m.Buffers[0] = append(m.Buffers[0][:0], sip...)
				m.Addr = st[sipDest].addr
			} else {
				s := &st[int(next)%rtpDests]
				b := m.Buffers[0][:size]
				b[0], b[1] = 0x80, 0 // RTP version 2, PCMU
				b[2], b[3] = byte(s.seq>>8), byte(s.seq)
				b[4], b[5], b[6], b[7] = byte(s.ts>>24), byte(s.ts>>16), byte(s.ts>>8), byte(s.ts)
				b[8], b[9], b[10], b[11] = byte(s.ssrc>>24), byte(s.ssrc>>16), byte(s.ssrc>>8), byte(s.ssrc)
				s.seq++
				s.ts += 160
				if off+payload > len(pool) {
					off = 0
				}
				copy(b[12:], pool[off:off+payload])
				off += payload + 1
				m.Buffers[0] = b
				m.Addr = s.addr
			}
			next++
		}
		k, err := pc.WriteBatch(msgs[:n], 0)
		if k > 0 {
			sent += int64(k)
		}
		if err != nil {
			errs++
			if first == nil {
				first = err
			}
			if errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EAGAIN) {
				time.Sleep(100 * time.Microsecond)
			}
		}
		// Messages not sent are rebuilt for the next packets; the
		// destinations they skipped do not matter for the load.
	}
	return sent, errs, first
}

// drain reads datagrams from c in batches until ctx is done or c is closed.
func drain(ctx context.Context, c *net.UDPConn, received *atomic.Int64) {
	_ = c.SetReadBuffer(4 << 20)
	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	for ctx.Err() == nil {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		received.Add(int64(n))
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "udpgen: "+format+"\n", args...)
	os.Exit(code)
}
