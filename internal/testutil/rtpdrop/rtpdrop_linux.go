//go:build linux

package rtpdrop

import (
	"errors"
	"fmt"
	"math/bits"
	"net"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Counter slots of the program's array map.
const (
	slotSeen    = 0 // RTP packets to the port
	slotDropped = 1 // of those, dropped
)

// Offsets in an Ethernet frame carrying IPv4 without options and UDP.
const (
	offEtherType = 12
	offIPFirst   = 14 // version and header length
	offIPProto   = 23
	offUDPDst    = 36
	offRTP       = 42
	minLen       = offRTP + 12
	actShot      = 2 // TC_ACT_SHOT
	actNext      = -1
)

// Dropper is a loaded and attached program; Close detaches it.
type Dropper struct {
	counts *ebpf.Map
	prog   *ebpf.Program
	link   link.Link // TCX (Linux 6.6 and later)
	// Before TCX: a clsact qdisc (created here, or nil when the interface
	// had one) and a bpf filter, through a netlink socket of the
	// interface's namespace.
	nl     *netlink.Handle
	qdisc  *netlink.Clsact
	filter *netlink.BpfFilter
	// Mode is how the program is attached: "tcx" or "clsact".
	Mode string
}

// instructions builds the program: pass everything but version-2 RTP in
// UDP over IPv4 to port; count it; drop it when its sequence number is a
// multiple of every.
func instructions(counts *ebpf.Map, port uint16, every int32) asm.Instructions {
	count := func(slot int32, label string) asm.Instructions {
		return asm.Instructions{
			asm.StoreImm(asm.R10, -4, int64(slot), asm.Word),
			asm.LoadMapPtr(asm.R1, counts.FD()),
			asm.Mov.Reg(asm.R2, asm.R10),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, label),
			asm.Mov.Imm(asm.R1, 1),
			asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		}
	}
	prog := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 76, asm.Word), // skb->data
		asm.LoadMem(asm.R3, asm.R1, 80, asm.Word), // skb->data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, minLen),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, offEtherType, asm.Half),
		asm.JNE.Imm(asm.R5, 0x0008, "pass"), // 0x0800 read little-endian
		asm.LoadMem(asm.R5, asm.R2, offIPFirst, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, "pass"),
		asm.LoadMem(asm.R5, asm.R2, offIPProto, asm.Byte),
		asm.JNE.Imm(asm.R5, 17, "pass"),
		asm.LoadMem(asm.R5, asm.R2, offUDPDst, asm.Half),
		asm.JNE.Imm(asm.R5, int32(bits.ReverseBytes16(port)), "pass"),
		asm.LoadMem(asm.R5, asm.R2, offRTP, asm.Byte),
		asm.And.Imm(asm.R5, 0xc0),
		asm.JNE.Imm(asm.R5, 0x80, "pass"),
		asm.LoadMem(asm.R6, asm.R2, offRTP+2, asm.Byte),
		asm.LSh.Imm(asm.R6, 8),
		asm.LoadMem(asm.R7, asm.R2, offRTP+3, asm.Byte),
		asm.Or.Reg(asm.R6, asm.R7), // sequence number; R6 survives calls
	}
	prog = append(prog, count(slotSeen, "seen")...)
	prog = append(prog,
		asm.Mod.Imm(asm.R6, every).WithSymbol("seen"),
		asm.JNE.Imm(asm.R6, 0, "pass"),
	)
	prog = append(prog, count(slotDropped, "shot")...)
	return append(prog,
		asm.Mov.Imm(asm.R0, actShot).WithSymbol("shot"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, actNext).WithSymbol("pass"),
		asm.Return(),
	)
}

// Attach loads the program and attaches it to the ingress of the
// interface named iface in the calling thread's network namespace (lock
// the OS thread and join the namespace first). Packets the interface
// receives, UDP to port whose RTP sequence number is a multiple of every,
// are dropped before anything above the driver sees them. TCX is used
// where the kernel has it, else a clsact qdisc with a bpf filter.
func Attach(iface string, port uint16, every int32) (*Dropper, error) {
	return attach(iface, port, every, true)
}

func attach(iface string, port uint16, every int32, tcx bool) (*Dropper, error) {
	if every <= 0 {
		return nil, fmt.Errorf("rtpdrop: every must be positive, got %d", every)
	}
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("rtpdrop: %w", err)
	}
	d := &Dropper{}
	d.counts, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if err != nil {
		return nil, fmt.Errorf("rtpdrop: create counter map: %w", err)
	}
	d.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS, License: "GPL", Instructions: instructions(d.counts, port, every),
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("rtpdrop: load program: %w", err)
	}
	if tcx {
		d.link, err = link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: d.prog, Attach: ebpf.AttachTCXIngress})
		if err == nil {
			d.Mode = "tcx"
			return d, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			d.Close()
			return nil, fmt.Errorf("rtpdrop: attach to %s ingress: %w", iface, err)
		}
	}
	if err := d.attachClsact(ifc.Index); err != nil {
		d.Close()
		return nil, fmt.Errorf("rtpdrop: attach to %s ingress: %w", iface, err)
	}
	d.Mode = "clsact"
	return d, nil
}

// attachClsact attaches the program as a direct-action bpf filter on the
// interface's clsact ingress hook, adding the qdisc when there is none.
func (d *Dropper) attachClsact(index int) error {
	var err error
	if d.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	q := &netlink.Clsact{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
	switch err := d.nl.QdiscAdd(q); {
	case err == nil:
		d.qdisc = q
	case !errors.Is(err, unix.EEXIST):
		return fmt.Errorf("add clsact qdisc: %w", err)
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: index, Parent: netlink.HANDLE_MIN_INGRESS,
			Handle: netlink.MakeHandle(0, 1), Protocol: unix.ETH_P_ALL, Priority: 1},
		Fd: d.prog.FD(), Name: "rtpdrop", DirectAction: true,
	}
	if err := d.nl.FilterAdd(f); err != nil {
		return fmt.Errorf("add bpf filter: %w", err)
	}
	d.filter = f
	return nil
}

// AttachIn is Attach in the network namespace named netns (as `ip netns`
// names it). The namespace is joined by a thread of its own, which ends
// with it; the program stays attached until Close.
func AttachIn(netns, iface string, port uint16, every int32) (*Dropper, error) {
	type result struct {
		d   *Dropper
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread leaves the pool when this ends.
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- result{nil, fmt.Errorf("rtpdrop: open namespace %s: %w", netns, err)}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- result{nil, fmt.Errorf("rtpdrop: join namespace %s: %w", netns, err)}
			return
		}
		d, err := Attach(iface, port, every)
		done <- result{d, err}
	}()
	r := <-done
	return r.d, r.err
}

// Counts returns how many RTP packets to the port the program saw and how
// many of them it dropped.
func (d *Dropper) Counts() (seen, dropped uint64, err error) {
	if err := d.counts.Lookup(uint32(slotSeen), &seen); err != nil {
		return 0, 0, fmt.Errorf("rtpdrop: read counter: %w", err)
	}
	if err := d.counts.Lookup(uint32(slotDropped), &dropped); err != nil {
		return 0, 0, fmt.Errorf("rtpdrop: read counter: %w", err)
	}
	return seen, dropped, nil
}

// Close detaches the program and frees it.
func (d *Dropper) Close() error {
	var errs []error
	if d.link != nil {
		errs = append(errs, d.link.Close())
	}
	if d.filter != nil {
		errs = append(errs, d.nl.FilterDel(d.filter))
	}
	if d.qdisc != nil {
		errs = append(errs, d.nl.QdiscDel(d.qdisc))
	}
	if d.nl != nil {
		d.nl.Close()
	}
	if d.prog != nil {
		errs = append(errs, d.prog.Close())
	}
	if d.counts != nil {
		errs = append(errs, d.counts.Close())
	}
	return errors.Join(errs...)
}
