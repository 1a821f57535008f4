package bwe

import "encoding/binary"

// A transport-wide feedback report (draft-holmer-rmcat-transport-wide-cc-extensions-01,
// section 3.1), after the RTCP header: sender and media SSRC, the base sequence number
// and the count of packets it covers, a 24-bit reference time in 64 ms and a report
// count; then 16-bit chunks of packet statuses, then one receive delta (in 250 µs) per
// packet received with one: a byte for a small delta, two signed bytes for a large one.

const (
	notReceived = 0
	received    = 1 // with a delta, small or large
	noDelta     = 3 // received, no delta given
)

type feedback struct {
	pkt    []byte // through the last delta, padding removed
	base   uint16
	count  int
	ref    int64
	deltas int // offset of the first receive delta
}

func parseFeedback(pkt []byte) (feedback, bool) {
	const fixed = 20
	if len(pkt) < fixed || pkt[0]>>6 != 2 || pkt[1] != 205 || pkt[0]&0x1f != 15 {
		return feedback{}, false
	}
	end := min(len(pkt), (int(binary.BigEndian.Uint16(pkt[2:4]))+1)*4)
	if pkt[0]&0x20 != 0 {
		pad := int(pkt[end-1])
		if pad == 0 || pad > end-fixed {
			return feedback{}, false
		}
		end -= pad
	}
	fb := feedback{
		pkt:   pkt[:end],
		base:  binary.BigEndian.Uint16(pkt[12:14]),
		count: int(binary.BigEndian.Uint16(pkt[14:16])),
		ref:   int64(pkt[16])<<16 | int64(pkt[17])<<8 | int64(pkt[18]),
	}
	off, n := fixed, 0
	for n < fb.count {
		if off+2 > end {
			return feedback{}, false
		}
		n += chunkLen(binary.BigEndian.Uint16(pkt[off:]))
		off += 2
	}
	fb.deltas = off
	return fb, true
}

// chunkLen is how many packets a status chunk covers.
func chunkLen(c uint16) int {
	switch {
	case c&0x8000 == 0:
		return int(c & 0x1fff) // run length
	case c&0x4000 == 0:
		return 14 // one-bit symbols
	default:
		return 7 // two-bit symbols
	}
}

// each calls f for every packet the report covers, in sequence order, with its status
// and, when received with a delta, the delta in µs. It stops where the deltas run out.
func (fb feedback) each(f func(seq uint16, symbol byte, delta int64)) {
	seq, left := fb.base, fb.count
	d := fb.deltas
	emit := func(symbol byte) bool {
		if left == 0 {
			return false
		}
		var delta int64
		s := byte(notReceived)
		switch symbol {
		case 1: // small delta
			if d+1 > len(fb.pkt) {
				return false
			}
			delta, s = int64(fb.pkt[d])*250, received
			d++
		case 2: // large delta
			if d+2 > len(fb.pkt) {
				return false
			}
			delta, s = int64(int16(binary.BigEndian.Uint16(fb.pkt[d:])))*250, received
			d += 2
		case 3:
			s = noDelta
		}
		f(seq, s, delta)
		seq++
		left--
		return true
	}
	for off := 20; off < fb.deltas; off += 2 {
		c := binary.BigEndian.Uint16(fb.pkt[off:])
		switch {
		case c&0x8000 == 0:
			symbol := byte(c >> 13 & 3)
			for n := int(c & 0x1fff); n > 0; n-- {
				if !emit(symbol) {
					return
				}
			}
		case c&0x4000 == 0:
			for i := 13; i >= 0; i-- {
				if !emit(byte(c >> i & 1)) {
					return
				}
			}
		default:
			for i := 12; i >= 0; i -= 2 {
				if !emit(byte(c >> i & 3)) {
					return
				}
			}
		}
	}
}

// EachReceived calls f with the transport-wide sequence number of every packet a
// feedback report (the RTCP packet, header included) says arrived. A report that does
// not parse calls it for none.
func EachReceived(pkt []byte, f func(seq uint16)) {
	fb, ok := parseFeedback(pkt)
	if !ok {
		return
	}
	fb.each(func(seq uint16, symbol byte, _ int64) {
		if symbol != notReceived {
			f(seq)
		}
	})
}
