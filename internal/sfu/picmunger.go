package sfu

import "github.com/livegate/livegate/internal/vpx"

// picMunger keeps a viewer's VP8 or VP9 picture ids and TL0PICIDX (RFC 7741 §4.2, RFC
// 9628 §4.2) continuous across what changes underneath: a simulcast layer switch, an encoder reconnecting.
// Each layer, each encoder connection, numbers its pictures on its own; a decoder that
// sees the picture id jump (Chromium's) takes frames for lost and waits for the next
// keyframe, a freeze of seconds right after a switch up. Like munger, it does no I/O and
// is table-tested and fuzzed on its own.
//
// The picture id keeps the width the packet carries (7 or 15 bits); TL0PICIDX is 8
// bits. A rebase is pending after each start and source change (the down track asks);
// the next packet, a keyframe's first, fixes the offsets so that it continues from the
// last sent. Until anything is sent the offsets are zero: the first source goes out as
// it came.
type picMunger struct {
	vp9              bool // the payloads are VP9's, else VP8's
	pending          bool
	picOff           uint16 // source minus viewer, modulo the id's width
	tl0Off           uint8
	lastPic          uint16
	lastTl0          uint8
	havePic, haveTl0 bool // lastPic and lastTl0 hold something sent
}

// rebase makes the next packet continue the viewer's numbering from the last sent.
func (m *picMunger) rebase() { m.pending = true }

// rewrite maps p's picture id and TL0PICIDX into the viewer's numbering. When there is
// nothing to change it returns p itself; otherwise a copy in dst (p is the fan-out's,
// shared by every viewer). advance says the packet is new media (not a retransmission),
// so that its numbers may become the last sent.
func (m *picMunger) rewrite(p, dst []byte, advance bool) []byte {
	d, ok := vpx.Parse(p, m.vp9)
	pic, wide, tl0 := d.Pic, d.Wide, d.Tl0
	if !ok || (pic == 0 && tl0 == 0) || len(p) > len(dst) {
		return p
	}
	mask := uint16(0x7f)
	var src uint16
	if pic != 0 {
		src = d.PictureID(p)
		if wide {
			mask = 0x7fff
		}
	}
	var srcTl0 uint8
	if tl0 != 0 {
		srcTl0 = p[tl0]
	}
	if advance && m.pending {
		m.picOff, m.tl0Off = 0, 0
		if m.havePic {
			m.picOff = src - (m.lastPic + 1)
		}
		if m.haveTl0 {
			m.tl0Off = srcTl0 - (m.lastTl0 + 1)
		}
		m.pending = false
	}
	if m.picOff == 0 && m.tl0Off == 0 {
		m.note(pic != 0, src, mask, tl0 != 0, srcTl0, advance)
		return p
	}
	out := dst[:len(p)]
	copy(out, p)
	outPic := (src - m.picOff) & mask
	if pic != 0 {
		if wide {
			out[pic] = 0x80 | byte(outPic>>8)
			out[pic+1] = byte(outPic)
		} else {
			out[pic] = byte(outPic)
		}
	}
	outTl0 := srcTl0 - m.tl0Off
	if tl0 != 0 {
		out[tl0] = outTl0
	}
	m.note(pic != 0, outPic, mask, tl0 != 0, outTl0, advance)
	return out
}

// note remembers the newest numbers sent, modulo their widths.
func (m *picMunger) note(hasPic bool, pic, mask uint16, hasTl0 bool, tl0 uint8, advance bool) {
	if !advance {
		return
	}
	if hasPic {
		if d := (pic - m.lastPic) & mask; !m.havePic || (d != 0 && d <= mask/2) {
			m.lastPic, m.havePic = pic, true
		}
	}
	if hasTl0 {
		if d := tl0 - m.lastTl0; !m.haveTl0 || (d != 0 && d <= 127) {
			m.lastTl0, m.haveTl0 = tl0, true
		}
	}
}
