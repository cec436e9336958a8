package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// pcapng block types the recorder looks at.
const (
	blockSHB = 0x0a0d0d0a
	blockIDB = 0x00000001
	blockEPB = 0x00000006
	blockISB = 0x00000005
)

// byteOrderMagic is the SHB's byte-order magic in little-endian files (the
// capture package writes little-endian).
const byteOrderMagic = 0x1a2b3c4d

// maxBlock bounds one pcapng block; a larger length field means corruption.
const maxBlock = 1 << 20

// errCorrupt marks a stream that is not a well-formed little-endian pcapng.
var errCorrupt = errors.New("not a well-formed pcapng stream")

// blockLen checks the header of the block at the start of b and returns its
// type and total length, or ok=false when b holds less than a header.
func blockLen(b []byte) (typ uint32, n int, ok bool, err error) {
	if len(b) < 12 {
		return 0, 0, false, nil
	}
	le := binary.LittleEndian
	typ = le.Uint32(b)
	l := le.Uint32(b[4:])
	if l < 12 || l%4 != 0 || l > maxBlock {
		return 0, 0, false, fmt.Errorf("%w: block length %d", errCorrupt, l)
	}
	if typ == blockSHB && le.Uint32(b[8:]) != byteOrderMagic {
		return 0, 0, false, fmt.Errorf("%w: big-endian or bad section header", errCorrupt)
	}
	return typ, int(l), true, nil
}

// complete reports whether b holds the whole block of length n with a
// matching trailing length.
func complete(b []byte, n int) (bool, error) {
	if len(b) < n {
		return false, nil
	}
	if binary.LittleEndian.Uint32(b[n-4:]) != uint32(n) {
		return false, fmt.Errorf("%w: trailing block length mismatch", errCorrupt)
	}
	return true, nil
}

// tsUnit returns the timestamp unit of an Interface Description Block in
// nanoseconds per tick (if_tsresol, default microseconds).
func tsUnit(idb []byte) float64 {
	le := binary.LittleEndian
	if len(idb) < 20 {
		return 1000
	}
	opts := idb[16 : len(idb)-4]
	for len(opts) >= 4 {
		code, l := le.Uint16(opts), int(le.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			break
		}
		if code == 9 && l >= 1 {
			r := opts[4]
			if r&0x80 != 0 {
				return 1e9 / math.Pow(2, float64(r&0x7f))
			}
			return 1e9 / math.Pow(10, float64(r))
		}
		opts = opts[4+(l+3)&^3:]
	}
	return 1000
}

// linkType returns an IDB's link type.
func linkType(idb []byte) uint16 {
	if len(idb) < 10 {
		return 0
	}
	return binary.LittleEndian.Uint16(idb[8:])
}

// epb is the part of an Enhanced Packet Block the recorder uses.
type epb struct {
	iface int
	ts    int64 // Unix nanoseconds
	data  []byte
}

// parseEPB decodes an Enhanced Packet Block given the timestamp units of the
// section's interfaces.
func parseEPB(b []byte, units []float64) (epb, bool) {
	le := binary.LittleEndian
	if len(b) < 32 {
		return epb{}, false
	}
	iface := int(le.Uint32(b[8:]))
	if iface >= len(units) {
		return epb{}, false
	}
	raw := uint64(le.Uint32(b[12:]))<<32 | uint64(le.Uint32(b[16:]))
	capLen := int(le.Uint32(b[20:]))
	if 28+capLen > len(b)-4 {
		return epb{}, false
	}
	ts := int64(raw)
	if u := units[iface]; u != 1 {
		ts = int64(float64(raw) * u)
	}
	return epb{iface: iface, ts: ts, data: b[28 : 28+capLen]}, true
}

// section tracks the header blocks (SHB and IDBs) of the current pcapng
// section, so a segment can start with them.
type section struct {
	header []byte
	units  []float64
	links  []uint16
	hep    []bool
}

// HEPInterface is the name of the pcapng interface that carries packets
// rebuilt from the HEP feed.
const HEPInterface = "hep"

func (s *section) isHEP(iface int) bool { return iface < len(s.hep) && s.hep[iface] }

func (s *section) reset(shb []byte) {
	s.header = append(s.header[:0], shb...)
	s.units = s.units[:0]
	s.links = s.links[:0]
	s.hep = s.hep[:0]
}

func (s *section) addIDB(idb []byte) {
	s.header = append(s.header, idb...)
	s.units = append(s.units, tsUnit(idb))
	s.links = append(s.links, linkType(idb))
	s.hep = append(s.hep, ifName(idb) == HEPInterface)
}

// ifName returns an IDB's if_name option.
func ifName(idb []byte) string {
	le := binary.LittleEndian
	if len(idb) < 20 {
		return ""
	}
	opts := idb[16 : len(idb)-4]
	for len(opts) >= 4 {
		code, l := le.Uint16(opts), int(le.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			break
		}
		if code == 2 {
			return string(opts[4 : 4+l])
		}
		opts = opts[4+(l+3)&^3:]
	}
	return ""
}

// scanBlocks calls fn for each complete block read from r and returns the
// number of bytes of complete, well-formed blocks. A torn or corrupt tail
// ends the scan without an error: the prefix is what can be kept. The
// slice passed to fn is only valid during the call.
func scanBlocks(r io.Reader, fn func(typ uint32, b []byte) error) (int64, error) {
	base := make([]byte, maxBlock+12)
	start, end := 0, 0
	var off int64
	eof := false
	for {
		for {
			b := base[start:end]
			typ, n, ok, err := blockLen(b)
			if err != nil || !ok {
				if err != nil {
					return off, nil
				}
				break
			}
			if off == 0 && typ != blockSHB {
				return 0, nil
			}
			c, err := complete(b, n)
			if err != nil {
				return off, nil
			}
			if !c {
				break
			}
			if err := fn(typ, b[:n]); err != nil {
				return off, err
			}
			off += int64(n)
			start += n
		}
		if eof {
			return off, nil
		}
		end = copy(base, base[start:end])
		start = 0
		m, err := r.Read(base[end:])
		end += m
		if err == io.EOF {
			eof = true
		} else if err != nil {
			return off, err
		}
	}
}
