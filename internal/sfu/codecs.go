package sfu

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// videoFeedback is what a viewer may ask of us and what we ask of a publisher: NACK for
// loss recovery, PLI and FIR for keyframes.
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
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
		{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		}},
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

func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range codecs() {
		kind := webrtc.RTPCodecTypeVideo
		if c.MimeType == webrtc.MimeTypeOpus {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := m.RegisterCodec(c, kind); err != nil {
			return nil, fmt.Errorf("register codec %s: %w", c.MimeType, err)
		}
	}
	return m, nil
}
