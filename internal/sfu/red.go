package sfu

import (
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/red"
)

// audioForm is how a publisher's audio reaches one viewer. A browser publisher may send
// RED (Opus frames each carrying earlier ones, internal/red); an encoder such as OBS
// sends plain Opus. A viewer that takes RED gets it either way, built here from the
// Opus once per packet for every such viewer (LiveKit does the same), so that audio
// lost on the viewer's own link is found in the next packet instead of concealed; a
// viewer that does not gets plain Opus, the RED's primary frame.
type audioForm uint8

const (
	audioSame    audioForm = iota // forwarded as the publisher sends it
	audioRED                      // the publisher's Opus, as RED built by the receiver
	audioPrimary                  // the publisher's RED, as its primary Opus frame
)

// chooseCodec picks which of a viewer's negotiated codecs carries a publisher's track,
// and in which form. A relay to another node takes the track as it is (that node
// makes RED for its own viewers).
func chooseCodec(pub webrtc.RTPCodecParameters, params []webrtc.RTPCodecParameters, relay bool) (webrtc.RTPCodecParameters, audioForm, bool) {
	if !relay && strings.EqualFold(pub.MimeType, webrtc.MimeTypeOpus) {
		c, ok := findCodec(params, mimeTypeRED)
		if _, opus := findCodec(params, webrtc.MimeTypeOpus); ok && opus {
			return c, audioRED, true
		}
	}
	for _, c := range params {
		if codecMatches(c.RTPCodecCapability, pub.RTPCodecCapability) {
			return c, audioSame, true
		}
	}
	if strings.EqualFold(pub.MimeType, mimeTypeRED) {
		if c, ok := findCodec(params, webrtc.MimeTypeOpus); ok {
			return c, audioPrimary, true
		}
	}
	return webrtc.RTPCodecParameters{}, audioSame, false
}

// findCodec is the first of params with the MIME type.
func findCodec(params []webrtc.RTPCodecParameters, mime string) (webrtc.RTPCodecParameters, bool) {
	for _, c := range params {
		if strings.EqualFold(c.MimeType, mime) {
			return c, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// redBlocksPT gives a RED payload's blocks the viewer's Opus payload type, in the down
// track's scratch when they have another (a viewer may number Opus differently from
// the publisher).
func (d *downTrack) redBlocksPT(payload []byte) []byte {
	if len(payload) == 0 || payload[0]&0x7f == d.redPT || len(payload) > len(d.picBuf) {
		return payload
	}
	out := d.picBuf[:len(payload)]
	copy(out, payload)
	red.SetPT(out, d.redPT)
	return out
}

// carries says whether a viewer's codec can carry a publisher's track, in some form.
func carries(viewer, pub webrtc.RTPCodecCapability) bool {
	return codecMatches(viewer, pub) ||
		strings.EqualFold(pub.MimeType, mimeTypeRED) && strings.EqualFold(viewer.MimeType, webrtc.MimeTypeOpus)
}

// audioRate is what the viewer's audio takes, given what the publisher's takes: RED
// built here carries each frame up to 1+MaxDistance times (an upper bound: packet
// headers are not repeated).
func (d *downTrack) audioRate(publisher int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.form == audioRED {
		return publisher * (1 + red.MaxDistance)
	}
	return publisher
}
