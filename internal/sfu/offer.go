package sfu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Offer is what livegate needs to know of a client's SDP offer before negotiating.
type Offer struct {
	Media []OfferMedia
}

// OfferMedia is one audio or video m-line.
type OfferMedia struct {
	Kind      webrtc.RTPCodecType
	Mid       string
	Direction string // sendrecv, sendonly, recvonly or inactive
	Codecs    []webrtc.RTPCodecCapability
	// RIDs are the simulcast layers the offerer sends in this section (a=rid:<id> send),
	// empty without simulcast.
	RIDs []string
	// Rejected is a section the offerer itself turned off: port 0 without a=bundle-only.
	// Port 0 with a=bundle-only (RFC 8843 §6, as GStreamer and Firefox send it) is a
	// section that rides on the BUNDLE transport, not a rejection.
	Rejected bool
}

// maxMedia bounds the m-lines of one offer; nobody sends 64 tracks to one stream.
const maxMedia = 16

// maxLayers bounds the simulcast layers of one section (browsers send up to three).
const maxLayers = 4

// ParseOffer checks an SDP offer and lists its audio and video sections with the codecs
// livegate relays. It never panics on any input (it is fuzzed).
func ParseOffer(raw string) (Offer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return Offer{}, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return Offer{}, fmt.Errorf("%w: no media sections", ErrBadOffer)
	}
	if len(sd.MediaDescriptions) > maxMedia {
		return Offer{}, fmt.Errorf("%w: more than %d media sections", ErrBadOffer, maxMedia)
	}
	supported := codecs()
	var o Offer
	for _, md := range sd.MediaDescriptions {
		var kind webrtc.RTPCodecType
		switch md.MediaName.Media {
		case "audio":
			kind = webrtc.RTPCodecTypeAudio
		case "video":
			kind = webrtc.RTPCodecTypeVideo
		default:
			continue // data channels and others are not relayed
		}
		m := OfferMedia{Kind: kind, Direction: "sendrecv"}
		bundleOnly := false
		for _, a := range md.Attributes {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				m.Direction = a.Key
			case "mid":
				m.Mid = a.Value
			case "bundle-only":
				bundleOnly = true
			case "rid":
				if id, dir, ok := strings.Cut(a.Value, " "); ok && strings.HasPrefix(strings.TrimSpace(dir), "send") && len(m.RIDs) < maxLayers {
					m.RIDs = append(m.RIDs, id)
				}
			}
		}
		if md.MediaName.Port.Value == 0 && !bundleOnly {
			m.Rejected = true
			m.Direction = "inactive"
		}
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 8)
			if err != nil {
				continue
			}
			c, err := sd.GetCodecForPayloadType(uint8(pt))
			if err != nil {
				continue
			}
			mime := kind.String() + "/" + c.Name
			for _, s := range supported {
				if strings.EqualFold(s.MimeType, mime) && s.ClockRate == c.ClockRate {
					m.Codecs = append(m.Codecs, webrtc.RTPCodecCapability{MimeType: s.MimeType, ClockRate: c.ClockRate, SDPFmtpLine: c.Fmtp})
					break
				}
			}
		}
		o.Media = append(o.Media, m)
	}
	if len(o.Media) == 0 {
		return Offer{}, fmt.Errorf("%w: no audio or video section", ErrNoCodec)
	}
	usable := false
	for _, m := range o.Media {
		usable = usable || len(m.Codecs) > 0
	}
	if !usable {
		return Offer{}, fmt.Errorf("%w: none of H.264, VP8, VP9, AV1 or Opus offered", ErrNoCodec)
	}
	return o, nil
}

// sending counts the tracks a publisher will send: one per section, or one per layer of
// a simulcast section.
// sections counts the offer's audio and video sections that are not rejected.
func (o Offer) sections() int {
	n := 0
	for _, m := range o.Media {
		if !m.Rejected {
			n++
		}
	}
	return n
}

func (o Offer) sending() int {
	n := 0
	for _, m := range o.Media {
		if len(m.Codecs) > 0 && (m.Direction == "sendonly" || m.Direction == "sendrecv") {
			n += max(1, len(m.RIDs))
		}
	}
	return n
}

// receives reports whether a viewer's offer has a section that can receive the codec.
func (o Offer) receives(kind webrtc.RTPCodecType, c webrtc.RTPCodecParameters) bool {
	for _, m := range o.Media {
		if m.Kind != kind || !(m.Direction == "recvonly" || m.Direction == "sendrecv") {
			continue
		}
		for _, oc := range m.Codecs {
			if carries(oc, c.RTPCodecCapability) {
				return true
			}
		}
	}
	return false
}

// codecMatches says whether a viewer's codec can carry a publisher's stream unchanged:
// same codec, and for H.264 the same packetization mode and profile, for VP9 the same
// profile.
func codecMatches(a, b webrtc.RTPCodecCapability) bool {
	if !strings.EqualFold(a.MimeType, b.MimeType) || a.ClockRate != b.ClockRate {
		return false
	}
	switch strings.ToLower(a.MimeType) {
	case "video/h264":
		if fmtpValue(a.SDPFmtpLine, "packetization-mode", "0") != fmtpValue(b.SDPFmtpLine, "packetization-mode", "0") {
			return false
		}
		pa, pb := fmtpValue(a.SDPFmtpLine, "profile-level-id", "42001f"), fmtpValue(b.SDPFmtpLine, "profile-level-id", "42001f")
		return len(pa) >= 2 && len(pb) >= 2 && strings.EqualFold(pa[:2], pb[:2])
	case "video/vp9":
		return fmtpValue(a.SDPFmtpLine, "profile-id", "0") == fmtpValue(b.SDPFmtpLine, "profile-id", "0")
	}
	return true
}

func fmtpValue(line, key, def string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return def
}

// sdpAttr returns the value of the first a=name:value line.
func sdpAttr(sdpText, name string) string {
	prefix := "a=" + name + ":"
	for _, line := range strings.Split(sdpText, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), prefix); ok {
			return v
		}
	}
	return ""
}
