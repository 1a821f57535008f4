package sfu

import "strings"

// isKeyframeStart reports whether an RTP payload of the given codec starts a keyframe, so a
// new viewer's video can begin there and decode from its first packet.
func isKeyframeStart(mime string, payload []byte) bool {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return vp8KeyframeStart(payload)
	case "video/h264":
		return h264KeyframeStart(payload)
	case "video/vp9":
		return vp9KeyframeStart(payload)
	case "video/av1":
		return av1KeyframeStart(payload)
	}
	return false
}

// vp8KeyframeStart reads the VP8 payload descriptor (RFC 7741 §4.2) and the first byte of
// the VP8 frame header: start of partition 0 with the P (inter-frame) bit clear.
func vp8KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	x, s, pid := p[0]&0x80 != 0, p[0]&0x10 != 0, p[0]&0x07
	if !s || pid != 0 {
		return false
	}
	i := 1
	if x {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/KEYIDX byte
			i++
		}
	}
	if len(p) <= i {
		return false
	}
	return p[i]&0x01 == 0
}

// h264KeyframeStart is true for an IDR slice or an SPS, alone, first in a STAP-A, or at the
// start of an FU-A (RFC 6184). Encoders send SPS/PPS right before an IDR.
func h264KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch nal := p[0] & 0x1f; nal {
	case 5, 7:
		return true
	case 24: // STAP-A: 2-byte size, then NAL units
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			if i+2 >= len(p) || size == 0 {
				return false
			}
			if t := p[i+2] & 0x1f; t == 5 || t == 7 {
				return true
			}
			i += 2 + size
		}
	case 28: // FU-A
		return len(p) >= 2 && p[1]&0x80 != 0 && (p[1]&0x1f == 5 || p[1]&0x1f == 7)
	}
	return false
}

// vp9KeyframeStart reads the VP9 payload descriptor: B (begin of frame) set and P (inter
// picture predicted) clear; for spatial layers, the base layer.
func vp9KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	pBit, bBit := p[0]&0x40 != 0, p[0]&0x08 != 0
	return bBit && !pBit
}

// av1KeyframeStart reads the AV1 aggregation header: N marks the first packet of a coded
// video sequence, which begins with a keyframe.
func av1KeyframeStart(p []byte) bool {
	return len(p) >= 1 && p[0]&0x08 != 0
}
