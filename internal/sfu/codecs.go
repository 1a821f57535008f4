package sfu

import (
	"fmt"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// videoFeedback is what a viewer may ask of us and what we ask of a publisher: NACK for
// loss recovery, PLI and FIR for keyframes, transport-wide congestion control feedback
// (the publisher's send-side estimate gets it from us, ours of each viewer from them).
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
	{Type: webrtc.TypeRTCPFBTransportCC},
}

// Header extensions livegate understands. A publisher's ids are not a viewer's: the
// down track rewrites each one it forwards to the id negotiated with that viewer.
const (
	extVideoOrientation = "urn:3gpp:video-orientation"
	extAudioLevel       = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
)

// headerExtensions are negotiated per side: a publisher's simulcast needs mid and rid
// (RFC 8852) to tell its layers apart; both sides carry the transport-wide sequence
// number for congestion control, the video orientation (a phone held upright) and the
// audio level.
func headerExtensions(publisher bool) map[webrtc.RTPCodecType][]string {
	video := []string{sdp.TransportCCURI, extVideoOrientation}
	audio := []string{sdp.TransportCCURI, extAudioLevel}
	if publisher {
		video = append(video, sdp.SDESMidURI, sdp.SDESRTPStreamIDURI, sdp.SDESRepairRTPStreamIDURI)
		audio = append(audio, sdp.SDESMidURI)
	}
	return map[webrtc.RTPCodecType][]string{webrtc.RTPCodecTypeVideo: video, webrtc.RTPCodecTypeAudio: audio}
}

// codecs are the codecs livegate relays. RTX is left out on purpose: retransmissions go on
// the media SSRC from the publisher track's shared packet cache, which every browser
// accepts and which keeps one cache per track instead of one per viewer.
func codecs() []webrtc.RTPCodecParameters {
	h264 := func(pt webrtc.PayloadType, profile string, mode int) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: pt, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine:  fmt.Sprintf("level-asymmetry-allowed=1;packetization-mode=%d;profile-level-id=%s", mode, profile),
			RTCPFeedback: videoFeedback,
		}}
	}
	video := func(pt webrtc.PayloadType, mime, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: pt, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: videoFeedback,
		}}
	}
	return []webrtc.RTPCodecParameters{
		opusCodec,
		redCodec,
		video(96, webrtc.MimeTypeVP8, ""),
		h264(102, "42001f", 1),
		h264(104, "42001f", 0),
		h264(106, "42e01f", 1),
		h264(108, "42e01f", 0),
		h264(127, "4d001f", 1),
		h264(39, "4d001f", 0),
		h264(112, "64001f", 1),
		video(45, webrtc.MimeTypeAV1, ""),
		video(98, webrtc.MimeTypeVP9, "profile-id=0"),
		video(100, webrtc.MimeTypeVP9, "profile-id=2"),
	}
}

// opusCodec is Opus with in-band FEC (RFC 7587 §3.3): an encoder that hears of loss
// puts a coarse copy of each frame in the next packet, which the receiver decodes
// in place of a lost one.
var opusCodec = webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
	MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
	RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}},
}}

// mimeTypeRED is redundant audio (RFC 2198, internal/red): Opus packets each carrying
// earlier frames, as Chromium sends and receives it (payload type 63, "111/111").
const mimeTypeRED = "audio/red"

var redCodec = webrtc.RTPCodecParameters{PayloadType: 63, RTPCodecCapability: webrtc.RTPCodecCapability{
	MimeType: mimeTypeRED, ClockRate: 48000, Channels: 2, SDPFmtpLine: "111/111",
	RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}},
}}

// rtxPayloadType is the payload type of a video codec's RTX: the one after it, as
// Chromium numbers them (each is free in the table above), and 125 for 127.
func rtxPayloadType(pt webrtc.PayloadType) webrtc.PayloadType {
	if pt == 127 {
		return 125
	}
	return pt + 1
}

// registerCodecs registers every codec livegate forwards; RED only when red is set.
func registerCodecs(m *webrtc.MediaEngine, red bool) error {
	for _, c := range codecs() {
		kind := webrtc.RTPCodecTypeVideo
		switch c.MimeType {
		case webrtc.MimeTypeOpus:
			kind = webrtc.RTPCodecTypeAudio
		case mimeTypeRED:
			if !red {
				continue
			}
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := m.RegisterCodec(c, kind); err != nil {
			return fmt.Errorf("register codec %s: %w", c.MimeType, err)
		}
	}
	return nil
}

func newMediaEngine(publisher, red bool) (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m, red); err != nil {
		return nil, err
	}
	if !publisher {
		// RTX (RFC 4588) for viewers that offer it: a retransmission on its own stream
		// does not skew the viewer's loss and jitter figures for the media stream.
		for _, c := range codecs() {
			if c.MimeType == webrtc.MimeTypeOpus || c.MimeType == mimeTypeRED {
				continue
			}
			rtx := webrtc.RTPCodecParameters{PayloadType: rtxPayloadType(c.PayloadType), RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: "video/rtx", ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", c.PayloadType)}}
			if err := m.RegisterCodec(rtx, webrtc.RTPCodecTypeVideo); err != nil {
				return nil, fmt.Errorf("register rtx for %d: %w", c.PayloadType, err)
			}
		}
	}
	for kind, uris := range headerExtensions(publisher) {
		for _, uri := range uris {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, kind); err != nil {
				return nil, fmt.Errorf("register header extension %s: %w", uri, err)
			}
		}
	}
	return m, nil
}
