package recorder

import (
	"encoding/binary"
	"errors"
	"time"
)

// linkTypeRaw is pcapng's link type for packets that start with an IPv4 or
// IPv6 header.
const linkTypeRaw = 101

// WriteHEP records one packet rebuilt from the HEP feed (a raw IPv4 or IPv6
// packet) on the pcapng interface named HEPInterface, which is added to the
// current section when it has none. Without a capture stream a section of
// the ring's own is started. The capture writes its section header and
// interface blocks in one Write, so the interface added here always comes
// after the capture's own and does not shift their numbers.
func (r *Ring) WriteHEP(ts time.Time, pkt []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("recorder: ring closed")
	}
	if !r.inSec {
		if err := r.block(blockSHB, hepSHB()); err != nil {
			return err
		}
	}
	iface := -1
	for i, h := range r.sec.hep {
		if h {
			iface = i
		}
	}
	if iface < 0 {
		if err := r.block(blockIDB, hepIDB()); err != nil {
			return err
		}
		iface = len(r.sec.hep) - 1
	}
	return r.packet(hepEPB(iface, ts, pkt))
}

func hepSHB() []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, blockSHB)
	b = le.AppendUint32(b, 28)
	b = le.AppendUint32(b, byteOrderMagic)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint64(b, ^uint64(0)) // section length not known
	return le.AppendUint32(b, 28)
}

// hepIDB is an interface block: link type RAW, no snap length, name "hep",
// nanosecond timestamps.
func hepIDB() []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, blockIDB)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, linkTypeRaw)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, 2) // if_name
	b = le.AppendUint16(b, uint16(len(HEPInterface)))
	b = append(b, HEPInterface...)
	b = append(b, make([]byte, (4-len(HEPInterface)%4)%4)...)
	b = le.AppendUint16(b, 9) // if_tsresol
	b = le.AppendUint16(b, 1)
	b = append(b, 9, 0, 0, 0)
	b = le.AppendUint32(b, 0) // opt_endofopt
	b = le.AppendUint32(b, uint32(len(b)+4))
	le.PutUint32(b[4:], uint32(len(b)))
	return b
}

func hepEPB(iface int, ts time.Time, pkt []byte) []byte {
	le := binary.LittleEndian
	pad := (4 - len(pkt)%4) % 4
	n := 32 + len(pkt) + pad
	ns := uint64(ts.UnixNano())
	b := make([]byte, 0, n)
	b = le.AppendUint32(b, blockEPB)
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint32(b, uint32(iface))
	b = le.AppendUint32(b, uint32(ns>>32))
	b = le.AppendUint32(b, uint32(ns))
	b = le.AppendUint32(b, uint32(len(pkt)))
	b = le.AppendUint32(b, uint32(len(pkt)))
	b = append(b, pkt...)
	b = append(b, make([]byte, pad)...)
	return le.AppendUint32(b, uint32(n))
}
