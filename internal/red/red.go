// Package red reads and writes RFC 2198 redundant audio payloads (audio/red), the way
// browsers protect Opus against loss: each packet carries, besides its own frame (the
// primary), copies of one or more earlier frames, so that a receiver that lost a packet
// finds its frame in the next one instead of concealing the gap.
package red

import "errors"

// MaxDistance is how many earlier frames a payload built here carries. Two keeps a
// frame unless three packets in a row are lost: at 10% random loss one frame in a
// thousand, where one earlier frame (a browser's default) leaves one in a hundred.
const MaxDistance = 2

// Limits of the format: a redundant block's length has 10 bits, its timestamp offset 14.
const (
	maxBlock  = 1<<10 - 1
	maxOffset = 1<<14 - 1
)

// MaxPayload bounds a payload built here, so that the packet with its RTP header, header
// extensions and SRTP tag stays well under a path's MTU.
const MaxPayload = 1100

// ErrMalformed is a payload that is not RED: headers past its end, a block longer than
// what is left, no primary.
var ErrMalformed = errors.New("red: malformed payload")

// Block is one frame of a RED payload.
type Block struct {
	PT       uint8  // the frame's payload type (Opus's)
	TSOffset uint32 // how far before the packet's timestamp the frame is (0: the primary)
	Data     []byte
}

// Parse splits payload into its blocks, oldest first, the primary last, appending them
// to dst. The blocks' data are slices of payload.
func Parse(payload []byte, dst []Block) ([]Block, error) {
	hdrEnd, err := headersEnd(payload)
	if err != nil {
		return dst, err
	}
	off := hdrEnd
	for i := 0; i < hdrEnd-1; i += 4 {
		var h [4]byte // headersEnd has checked that every header is whole
		copy(h[:], payload[i:])
		n := int(h[2]&0x03)<<8 | int(h[3])
		if off+n > len(payload) {
			return dst, ErrMalformed
		}
		ts := uint32(h[1])<<6 | uint32(h[2])>>2
		dst = append(dst, Block{PT: h[0] & 0x7f, TSOffset: ts, Data: payload[off : off+n]})
		off += n
	}
	return append(dst, Block{PT: payload[hdrEnd-1] & 0x7f, Data: payload[off:]}), nil
}

// Primary returns the primary block of payload: what a receiver that does not take RED
// gets instead of the whole payload. It allocates nothing.
func Primary(payload []byte) (pt uint8, data []byte, err error) {
	hdrEnd, err := headersEnd(payload)
	if err != nil {
		return 0, nil, err
	}
	off := hdrEnd
	for i := 0; i < hdrEnd-1; i += 4 {
		off += int(payload[i+2]&0x03)<<8 | int(payload[i+3])
	}
	if off > len(payload) {
		return 0, nil, ErrMalformed
	}
	return payload[hdrEnd-1] & 0x7f, payload[off:], nil
}

// headersEnd is the length of payload's block headers: 4 bytes per redundant block (the
// F bit set), then 1 for the primary's.
func headersEnd(payload []byte) (int, error) {
	i := 0
	for i < len(payload) && payload[i]&0x80 != 0 {
		i += 4
	}
	if i >= len(payload) {
		return 0, ErrMalformed
	}
	return i + 1, nil
}

// SetPT rewrites every block's payload type in place: a viewer may number Opus
// differently from the publisher. payload must be well formed (Parse accepts it).
func SetPT(payload []byte, pt uint8) {
	i := 0
	for i < len(payload) && payload[i]&0x80 != 0 {
		payload[i] = 0x80 | pt&0x7f
		i += 4
	}
	if i < len(payload) {
		payload[i] = pt & 0x7f
	}
}

// Encoder turns a stream of plain packets (Opus) into RED payloads, each carrying the
// frames of up to MaxDistance packets before it. It keeps copies of those frames; the
// zero value is ready. Not safe for concurrent use.
type Encoder struct {
	hist    [MaxDistance]frame // by sequence number modulo MaxDistance
	last    uint16             // the newest sequence number remembered
	started bool
	out     [MaxPayload]byte
}

type frame struct {
	seq   uint16
	ts    uint32
	pt    uint8
	n     int // 0: empty
	valid bool
	data  [maxBlock]byte
}

// Encode returns the RED payload for the packet seq with timestamp ts, payload type pt
// and payload primary, and remembers it for the packets after it. The result is valid
// until the next call. An earlier frame goes in only when it is the packet right before
// (or two before) in sequence, within the format's timestamp reach and the size bound;
// a packet out of order gets its primary alone and is not remembered.
func (e *Encoder) Encode(seq uint16, ts uint32, pt uint8, primary []byte) []byte {
	if len(primary) > MaxPayload-1 {
		return nil
	}
	var blocks [MaxDistance]*frame
	nb, size := 0, 1+len(primary)
	for k := MaxDistance; k >= 1; k-- {
		f := &e.hist[int(seq-uint16(k))%MaxDistance]
		off := ts - f.ts
		if !f.valid || f.seq != seq-uint16(k) || off == 0 || off > maxOffset || f.n == 0 || size+4+f.n > MaxPayload {
			continue
		}
		blocks[nb] = f
		nb++
		size += 4 + f.n
	}
	out := e.out[:0]
	for _, f := range blocks[:nb] {
		off, n := ts-f.ts, f.n
		out = append(out, 0x80|f.pt&0x7f, byte(off>>6), byte(off<<2)|byte(n>>8), byte(n))
	}
	out = append(out, pt&0x7f)
	for _, f := range blocks[:nb] {
		out = append(out, f.data[:f.n]...)
	}
	out = append(out, primary...)
	e.remember(seq, ts, pt, primary)
	return out
}

// remember keeps the frame unless it came out of order (or twice).
func (e *Encoder) remember(seq uint16, ts uint32, pt uint8, data []byte) {
	if e.started && int16(seq-e.last) <= 0 {
		return
	}
	e.started, e.last = true, seq
	f := &e.hist[int(seq)%MaxDistance]
	f.seq, f.ts, f.pt, f.valid = seq, ts, pt, true
	f.n = 0
	if len(data) <= maxBlock {
		f.n = copy(f.data[:], data)
	}
}

// Reset forgets every frame: the source starts over with other sequence numbers.
func (e *Encoder) Reset() {
	for i := range e.hist {
		e.hist[i].valid = false
	}
	e.started = false
}
