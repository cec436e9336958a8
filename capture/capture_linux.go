//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// Ring geometry. A TPACKET_V3 block is handed to user space when it is full
// or, when traffic is light, one to two retireTimeouts after its first
// packet: each hand-over wakes the reader, so the timeout bounds the
// wake-ups of a quiet capture (10 per second) as well as how late a packet
// is written.
//
// A block is at most maxBlockSize; smaller rings use smaller blocks so that
// they still have at least minBlocks of them (the kernel fills one while
// user space writes others), but never below minBlockSize, which holds the
// largest packet loopback hands over (64 KiB) whole.
const (
	maxBlockSize      = 1 << 20
	minBlockSize      = 128 << 10
	minBlocks         = 8
	frameSize         = 1 << 11
	defaultBufferSize = 32 << 20
	retireTimeout     = 100 // milliseconds
	// drainTime is how long a reader keeps collecting blocks after the
	// context is done, so packets captured before the stop are written.
	drainTime = 2*retireTimeout*time.Millisecond + 50*time.Millisecond
)

// ring is one AF_PACKET socket bound to one interface with a TPACKET_V3
// receive ring. Packets are written straight from the ring's memory: a
// block goes back to the kernel only once the writer has copied it.
type ring struct {
	fd       int
	file     *os.File        // fd in Go's network poller, for waiting
	conn     syscall.RawConn // of file
	mem      []byte
	blocks   int
	bsize    int // bytes per block
	cur      int
	index    int // pcapng interface number
	desc     ifaceDesc
	loopback bool
	cooked   bool // SOCK_DGRAM: packets start at the network header
	drops    atomic.Int64
	pkts     []packet // the current block's packets, reused
	arena    []byte   // VLAN-tagged packets, rebuilt with their tag
	// wait state, read by readyFn
	woke    bool
	sockErr error
	readyFn func(uintptr) bool
}

func run(ctx context.Context, w io.Writer, opt Options, progress func(Stats)) (Stats, error) {
	start := time.Now()
	ifis, err := interfaces(opt.Interfaces)
	if err != nil {
		return Stats{}, err
	}
	var rings []*ring
	skipped := map[string]InterfaceStats{}
	defer func() {
		for _, r := range rings {
			r.close()
		}
	}()
	for _, ifi := range ifis {
		r, err := openRing(ifi, len(rings), opt)
		if err != nil {
			if errors.Is(err, ErrPermission) || len(opt.Interfaces) > 0 {
				return Stats{}, err
			}
			skipped[ifi.Name] = InterfaceStats{Index: -1, Err: err.Error()}
			continue
		}
		rings = append(rings, r)
	}
	if len(rings) == 0 {
		for name, st := range skipped {
			return Stats{}, fmt.Errorf("capture: no interface could be opened (%s: %s)", name, st.Err)
		}
	}
	srcs := make([]source, len(rings))
	for i, r := range rings {
		srcs[i] = r
	}
	return merge(ctx, w, opt, progress, start, srcs, skipped)
}

// interfaces returns the named interfaces, or all that are up.
func interfaces(names []string) ([]net.Interface, error) {
	if len(names) > 0 {
		var ifis []net.Interface
		for _, n := range names {
			ifi, err := net.InterfaceByName(n)
			if err != nil {
				return nil, fmt.Errorf("capture: interface %q: %w", n, err)
			}
			ifis = append(ifis, *ifi)
		}
		return ifis, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("capture: list interfaces: %w", err)
	}
	var ifis []net.Interface
	for _, ifi := range all {
		if ifi.Flags&net.FlagUp != 0 {
			ifis = append(ifis, ifi)
		}
	}
	if len(ifis) == 0 {
		return nil, errors.New("capture: no interface is up")
	}
	return ifis, nil
}

// hardwareType returns the interface's ARPHRD_* type.
func hardwareType(ifi net.Interface) int {
	b, err := os.ReadFile("/sys/class/net/" + ifi.Name + "/type")
	if err == nil {
		if t, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return t
		}
	}
	switch {
	case ifi.Flags&net.FlagLoopback != 0:
		return unix.ARPHRD_LOOPBACK
	case len(ifi.HardwareAddr) == 6:
		return unix.ARPHRD_ETHER
	}
	return unix.ARPHRD_NONE
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openRing opens, filters, maps and binds a capture socket for ifi. The
// socket is created with protocol 0, so it receives nothing until the
// filter is attached and it is bound to the interface: no unfiltered
// packet or packet of another interface enters the ring.
func openRing(ifi net.Interface, index int, opt Options) (*ring, error) {
	r := &ring{fd: -1, index: index}
	r.desc.name = ifi.Name
	sockType := unix.SOCK_RAW
	switch hardwareType(ifi) {
	case unix.ARPHRD_ETHER:
		r.desc.linkType = layers.LinkTypeEthernet
	case unix.ARPHRD_LOOPBACK:
		r.desc.linkType = layers.LinkTypeEthernet
		r.loopback = true
	default:
		// Tunnels, WireGuard, PPP and other types: let the kernel strip
		// any link-layer header and record bare IP packets.
		r.desc.linkType = layers.LinkTypeRaw
		r.cooked = true
		sockType = unix.SOCK_DGRAM
	}
	prog, err := opt.Filter.program(r.desc.linkType, uint32(opt.SnapLen), r.loopback, opt.NoRTPPayload)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, sockType|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("%w (%w)", ErrPermission, err)
		}
		return nil, fmt.Errorf("capture: open packet socket: %w", err)
	}
	r.fd = fd
	fail := func(what string, err error) (*ring, error) {
		r.close()
		return nil, fmt.Errorf("capture: %s on %s: %w", what, ifi.Name, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("set TPACKET_V3", err)
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fail("attach filter", err)
	}
	size := opt.BufferSize
	if size <= 0 {
		size = defaultBufferSize
	}
	r.bsize = ringBlockSize(size)
	r.blocks = max(size/r.bsize, 2)
	req := unix.TpacketReq3{
		Block_size:     uint32(r.bsize),
		Block_nr:       uint32(r.blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(r.blocks * r.bsize / frameSize),
		Retire_blk_tov: retireTimeout,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("set up ring", err)
	}
	r.mem, err = unix.Mmap(fd, 0, r.blocks*r.bsize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("map ring", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	// Reset the counters; only drops from now on count.
	if _, err := unix.GetsockoptTpacketStatsV3(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err != nil {
		return fail("read statistics", err)
	}
	// The reader waits in Go's network poller (epoll), not in a blocking
	// poll(2): an idle capture holds no thread and keeps the runtime's
	// monitor asleep. The kernel wakes it when it hands over a block.
	r.file = os.NewFile(uintptr(fd), "packet:"+ifi.Name)
	if err := r.file.SetReadDeadline(time.Time{}); err != nil {
		return fail("poll", err)
	}
	if r.conn, err = r.file.SyscallConn(); err != nil {
		return fail("poll", err)
	}
	r.readyFn = r.ready
	return r, nil
}

// ringBlockSize returns the block size for a ring of size bytes.
func ringBlockSize(size int) int {
	b := maxBlockSize
	for b > minBlockSize && size/b < minBlocks {
		b /= 2
	}
	return b
}

func (r *ring) close() {
	if r.mem != nil {
		_ = unix.Munmap(r.mem)
		r.mem = nil
	}
	switch {
	case r.file != nil:
		_ = r.file.Close()
		r.file, r.fd = nil, -1
	case r.fd >= 0:
		_ = unix.Close(r.fd)
		r.fd = -1
	}
}

// kernelDropped returns the kernel's drop count so far (the kernel resets
// its counters when they are read, so they are summed here).
func (r *ring) kernelDropped() int64 {
	if st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		r.drops.Add(int64(st.Drops))
	}
	return r.drops.Load()
}

func (r *ring) describe() ifaceDesc { return r.desc }

// Offsets in struct tpacket_block_desc and struct tpacket3_hdr (followed by
// struct sockaddr_ll), from linux/if_packet.h.
const (
	bdStatus      = 8
	bdNumPkts     = 12
	bdFirstOffset = 16
	bdLen         = 20

	phNext    = 0
	phSec     = 4
	phNsec    = 8
	phSnaplen = 12
	phLen     = 16
	phStatus  = 20
	phMac     = 24
	phVLANTCI = 32
	phVLANTPI = 36
	phSLL     = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
	sllProto  = phSLL + 2
	sllPkt    = phSLL + 10
)

// read hands the ring's blocks to emit until ctx is done (then it keeps
// collecting for drainTime so nothing captured before the stop is lost),
// hard is closed or emit returns false. Each block goes back to the kernel
// as soon as emit has written it. Between blocks the reader sleeps in the
// network poller; the end of ctx or hard wakes it through the socket's read
// deadline.
func (r *ring) read(ctx context.Context, hard <-chan struct{}, emit func(*batch) bool) error {
	// The waker goroutine is waited for before read returns: it uses
	// r.file, which the caller's close clears once read is done.
	done := make(chan struct{})
	var waker sync.WaitGroup
	defer waker.Wait()
	defer close(done)
	waker.Add(1)
	go func() {
		defer waker.Done()
		select {
		case <-ctx.Done():
			r.wake()
		case <-hard:
			r.wake()
			return
		case <-done:
			return
		}
		select {
		case <-hard:
			r.wake()
		case <-done:
		}
	}()
	draining := false
	var deadline time.Time
	var b batch
	for {
		select {
		case <-hard:
			return nil
		default:
		}
		if !draining && ctx.Err() != nil {
			draining, deadline = true, time.Now().Add(drainTime)
		}
		if draining && !time.Now().Before(deadline) {
			return nil
		}
		i := r.cur
		if !r.blockReady(i) {
			if draining {
				_ = r.file.SetReadDeadline(deadline)
			}
			if err := r.wait(); err != nil {
				return err
			}
			continue
		}
		b = r.block(i * r.bsize)
		more := true
		if len(b.pkts) > 0 || b.dropped > 0 {
			more = emit(&b)
		}
		r.release(i)
		r.cur = (i + 1) % r.blocks
		if !more {
			return nil
		}
	}
}

// blockReady reports whether the kernel has handed block i to user space.
func (r *ring) blockReady(i int) bool {
	status := (*uint32)(unsafe.Pointer(&r.mem[i*r.bsize+bdStatus]))
	return atomic.LoadUint32(status)&unix.TP_STATUS_USER != 0
}

// release hands block i back to the kernel.
func (r *ring) release(i int) {
	status := (*uint32)(unsafe.Pointer(&r.mem[i*r.bsize+bdStatus]))
	atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
}

// wake interrupts a wait in the poller.
func (r *ring) wake() { _ = r.file.SetReadDeadline(time.Unix(1, 0)) }

// wait sleeps until the current block is ready, the socket has an error or
// the read deadline passes.
func (r *ring) wait() error {
	r.woke, r.sockErr = false, nil
	err := r.conn.Read(r.readyFn)
	switch {
	case err == nil:
		return r.sockErr
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil
	}
	return fmt.Errorf("poll: %w", err)
}

// ready is the poller's readiness check for wait: it runs before sleeping
// and after each wake-up. A wake-up without a ready block may be an error
// on the socket (such as the interface going away).
func (r *ring) ready(uintptr) bool {
	if r.blockReady(r.cur) {
		return true
	}
	if r.woke {
		if e, _ := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR); e != 0 {
			r.sockErr = fmt.Errorf("socket: %w", unix.Errno(e))
			return true
		}
	}
	r.woke = true
	return false
}

// block parses the packets of the block at base. Their data points into the
// ring (VLAN-tagged packets excepted, which are rebuilt with their tag in
// the ring's arena), so the block must stay with user space until they are
// written. The batch is valid until the next call.
func (r *ring) block(base int) batch {
	ne := binary.NativeEndian
	blockSize := r.bsize
	blk := r.mem[base : base+blockSize]
	// Each packet takes at least its headers, which bounds the count.
	num := min(int(ne.Uint32(blk[bdNumPkts:])), blockSize/(phSLL+20))
	used := min(int(ne.Uint32(blk[bdLen:])), blockSize)
	if cap(r.pkts) < num {
		r.pkts = make([]packet, 0, num)
	}
	b := batch{pkts: r.pkts[:0]}
	arena := r.arena[:0]
	p := int(ne.Uint32(blk[bdFirstOffset:]))
	for range num {
		if p <= 0 || p+phSLL+20 > blockSize {
			break
		}
		h := blk[p:]
		next := int(ne.Uint32(h[phNext:]))
		mac := int(ne.Uint16(h[phMac:]))
		snap := int(ne.Uint32(h[phSnaplen:]))
		if p+mac+snap > blockSize {
			break
		}
		data := h[mac : mac+snap : mac+snap]
		length := int(ne.Uint32(h[phLen:]))
		pkttype := h[sllPkt]
		st := ne.Uint32(h[phStatus:])
		switch {
		case r.loopback && pkttype == unix.PACKET_OUTGOING:
			b.dropped++
		case r.cooked && !isIPProto(binary.BigEndian.Uint16(h[sllProto:])):
			b.dropped++
		default:
			if !r.cooked && st&unix.TP_STATUS_VLAN_VALID != 0 && len(data) >= 12 {
				// The kernel took the tag off; put it back. The arena
				// never grows while in use, so earlier packets stay valid.
				if cap(arena) < used+4*num {
					arena = make([]byte, 0, used+4*num)
					r.arena = arena
				}
				tpid := uint16(unix.ETH_P_8021Q)
				if st&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
					tpid = ne.Uint16(h[phVLANTPI:])
				}
				tci := uint16(ne.Uint32(h[phVLANTCI:]))
				start := len(arena)
				arena = append(arena, data[:12]...)
				arena = binary.BigEndian.AppendUint16(arena, tpid)
				arena = binary.BigEndian.AppendUint16(arena, tci)
				arena = append(arena, data[12:]...)
				data = arena[start:len(arena):len(arena)]
				length += 4
			}
			pk := packet{
				iface:  r.index,
				ts:     int64(ne.Uint32(h[phSec:]))*1e9 + int64(ne.Uint32(h[phNsec:])),
				data:   data,
				length: length,
				dir:    dirIn,
			}
			switch pkttype {
			case unix.PACKET_OUTGOING:
				pk.dir = dirOut
			case unix.PACKET_HOST:
				pk.reception = pcapgo.NgEpbFlagReceptionTypeUnicast
			case unix.PACKET_BROADCAST:
				pk.reception = pcapgo.NgEpbFlagReceptionTypeBroadcast
			case unix.PACKET_MULTICAST:
				pk.reception = pcapgo.NgEpbFlagReceptionTypeMulticast
			case unix.PACKET_OTHERHOST:
				pk.reception = pcapgo.NgEpbFlagReceptionTypePromiscuous
			}
			b.pkts = append(b.pkts, pk)
		}
		if next == 0 {
			break
		}
		p += next
	}
	r.pkts = b.pkts[:0]
	return b
}

func isIPProto(p uint16) bool { return p == unix.ETH_P_IP || p == unix.ETH_P_IPV6 }
