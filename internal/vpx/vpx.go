// Package vpx locates the fields of VP8 and VP9 RTP payload descriptors (RFC 7741 §4.2,
// RFC 9628 §4.2) that a forwarder rewrites and a test reads: the picture id and
// TL0PICIDX. It is shared by the SFU's per-viewer rewrite and the test media
// generator, so both read a descriptor the same way. It does no I/O and allocates
// nothing: the SFU calls it once per forwarded VP8 or VP9 packet.
package vpx

// Descriptor is where a payload descriptor keeps its fields. Pic and Tl0 are byte
// offsets (0: the field is absent); Wide says the picture id has 15 bits (else 7); Len
// is the descriptor's length, where the codec's own bytes begin.
type Descriptor struct {
	Pic, Tl0, Len int
	Wide          bool
}

// Parse locates the fields in a VP8 payload, or a VP9 one when vp9 is set. ok is false
// for a payload too short for what its flags declare.
func Parse(p []byte, vp9 bool) (d Descriptor, ok bool) {
	if len(p) == 0 {
		return d, false
	}
	// The fields come in the same order in both, picture id then TL0PICIDX, with
	// different bytes around them: VP9's layer indices come between (when L is set),
	// VP8's TID/KEYIDX byte after.
	var hasPic, hasTl0 bool
	var between, after int
	d.Len = 1
	if vp9 {
		hasPic = p[0]&0x80 != 0 // I
		if p[0]&0x20 != 0 {     // L: the layer indices, then TL0PICIDX unless flexible (F)
			between = 1
			hasTl0 = p[0]&0x10 == 0
		}
	} else if p[0]&0x80 != 0 { // X: an extension byte says which fields follow
		if len(p) < 2 {
			return d, false
		}
		x := p[1]
		d.Len = 2
		hasPic, hasTl0 = x&0x80 != 0, x&0x40 != 0
		if x&0x30 != 0 {
			after = 1
		}
	}
	if hasPic {
		if len(p) <= d.Len {
			return d, false
		}
		d.Pic, d.Wide = d.Len, p[d.Len]&0x80 != 0
		d.Len++
		if d.Wide {
			d.Len++
		}
	}
	d.Len += between
	if hasTl0 {
		d.Tl0 = d.Len
		d.Len++
	}
	d.Len += after
	return d, len(p) >= d.Len
}

// PictureID reads the picture id at d.Pic (d.Wide: 15 bits); p must be what d was
// parsed from.
func (d Descriptor) PictureID(p []byte) uint16 {
	pic := uint16(p[d.Pic] & 0x7f)
	if d.Wide {
		pic = pic<<8 | uint16(p[d.Pic+1])
	}
	return pic
}

// Read returns a payload's picture id and TL0PICIDX, as a viewer's decoder reads them
// (-1: the payload carries none); ok is false as for Parse.
func Read(p []byte, vp9 bool) (pic, tl0 int, ok bool) {
	d, ok := Parse(p, vp9)
	if !ok {
		return -1, -1, false
	}
	pic, tl0 = -1, -1
	if d.Pic != 0 {
		pic = int(d.PictureID(p))
	}
	if d.Tl0 != 0 {
		tl0 = int(p[d.Tl0])
	}
	return pic, tl0, true
}
