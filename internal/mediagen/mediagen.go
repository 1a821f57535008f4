// Package mediagen makes synthetic RTP media that a receiver can check byte for byte: each
// packet's payload carries its index and a filler derived from it, behind a real VP8,
// H.264 or Opus payload header, so an SFU relays and inspects it like camera output.
package mediagen

import (
	"context"
	"encoding/binary"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/vpx"
)

// headerLen is the codec header, then 8 bytes of index.
const headerLen = 2

// Payload builds packet index's payload of size bytes (at least 10) for mime. first marks
// the first packet of a frame; key a keyframe.
func Payload(dst []byte, mime string, index uint64, first, key bool, size int) []byte {
	if size < headerLen+8 {
		size = headerLen + 8
	}
	p := sized(dst, size)
	switch strings.ToLower(mime) {
	case "video/vp8":
		p[0] = 0
		if first {
			p[0] = 0x10 // S: start of partition 0
		}
		p[1] = 0x01 // P: inter frame
		if key {
			p[1] = 0x00
		}
	case "video/h264":
		p[0] = 0x41 // non-IDR slice
		if key {
			p[0] = 0x65 // IDR slice
		}
		p[1] = 0x88
	case "video/vp9":
		p[0] = 0x40 // P: inter-picture predicted
		if first {
			p[0] |= 0x08 // B: beginning of frame
		}
		if key {
			p[0] &^= 0x40
		}
		p[1] = 0
	case "video/av1":
		p[0] = 0x10 // aggregation header: W=1
		if first && key {
			p[0] |= 0x08 // N: first packet of a coded video sequence
		}
		p[1] = 0
	default: // audio/opus: a TOC byte and a frame byte
		p[0], p[1] = 0xfc, 0xff
	}
	return fill(p, headerLen, index)
}

// sized is dst resized to size bytes, reallocated only when too small.
func sized(dst []byte, size int) []byte {
	if cap(dst) < size {
		return make([]byte, size)
	}
	return dst[:size]
}

// fill writes index at off and the filler after it.
func fill(p []byte, off int, index uint64) []byte {
	binary.BigEndian.PutUint64(p[off:], index)
	for i := off + 8; i < len(p); i++ {
		p[i] = byte(index*7 + uint64(i))
	}
	return p
}

// vp8PicHeader is a VP8 payload descriptor with a 15-bit picture id and a TL0PICIDX
// (5 bytes), then the frame header's first byte.
const vp8PicHeader = 6

// PayloadVP8Pic is Payload for VP8 with the picture id and TL0PICIDX a WebRTC encoder
// (or GStreamer's rtpvp8pay) puts in every packet's payload descriptor.
func PayloadVP8Pic(dst []byte, index uint64, first, key bool, size int, pic uint16, tl0 uint8) []byte {
	size = max(size, vp8PicHeader+8)
	p := sized(dst, size)
	p[0] = 0x80 // X: extensions follow
	if first {
		p[0] |= 0x10
	}
	p[1] = 0xc0                                    // I: picture id, L: TL0PICIDX
	p[2], p[3] = 0x80|byte(pic>>8)&0x7f, byte(pic) // M: 15 bits
	p[4] = tl0
	p[5] = 0x01
	if key {
		p[5] = 0x00
	}
	return fill(p, vp8PicHeader, index)
}

// vp9PicHeader is a VP9 payload descriptor with a 15-bit picture id, the layer indices
// and a TL0PICIDX (non-flexible mode).
const vp9PicHeader = 5

// PayloadVP9Pic is Payload for VP9 with a picture id and TL0PICIDX in its payload
// descriptor, as libwebrtc's non-flexible mode sends them.
func PayloadVP9Pic(dst []byte, index uint64, first, key bool, size int, pic uint16, tl0 uint8) []byte {
	size = max(size, vp9PicHeader+8)
	p := sized(dst, size)
	p[0] = 0x80 | 0x20 | 0x40 // I: picture id, L: layer indices, P: inter-picture predicted
	if first {
		p[0] |= 0x08 // B: beginning of frame
	}
	if key {
		p[0] &^= 0x40
	}
	p[1], p[2] = 0x80|byte(pic>>8)&0x7f, byte(pic) // M: 15 bits
	p[3] = 0                                       // TID 0, SID 0
	p[4] = tl0
	return fill(p, vp9PicHeader, index)
}

// PictureID returns a VP8 or VP9 payload's picture id and TL0PICIDX (-1: the payload
// has none), as a viewer's decoder reads them.
func PictureID(mime string, p []byte) (pic, tl0 int) {
	vp9 := strings.EqualFold(mime, "video/vp9")
	if !vp9 && !strings.EqualFold(mime, "video/vp8") {
		return -1, -1
	}
	pic, tl0, _ = vpx.Read(p, vp9)
	return pic, tl0
}

// descriptorLen is the length of a VP8 or VP9 payload descriptor, or -1 when the
// payload has nothing after it.
func descriptorLen(p []byte, vp9 bool) int {
	d, ok := vpx.Parse(p, vp9)
	if !ok || d.Len >= len(p) {
		return -1
	}
	return d.Len
}

// Check reports whether payload is exactly what Payload made for its index, and returns
// that index and whether it starts a keyframe.
func Check(mime string, payload []byte) (index uint64, key bool, ok bool) {
	off := headerLen
	vp8 := strings.EqualFold(mime, "video/vp8")
	if vp8 {
		if off = descriptorLen(payload, false) + 1; off <= 0 {
			return 0, false, false
		}
	}
	if strings.EqualFold(mime, "video/vp9") && len(payload) > 0 && payload[0]&0xa0 != 0 {
		if off = descriptorLen(payload, true); off <= 0 {
			return 0, false, false
		}
	}
	if len(payload) < off+8 {
		return 0, false, false
	}
	index = binary.BigEndian.Uint64(payload[off:])
	for i := off + 8; i < len(payload); i++ {
		if payload[i] != byte(index*7+uint64(i)) {
			return index, false, false
		}
	}
	switch strings.ToLower(mime) {
	case "video/vp8":
		key = payload[0]&0x10 != 0 && payload[off-1]&0x01 == 0
	case "video/h264":
		key = payload[0]&0x1f == 5 || payload[0]&0x1f == 7 // an IDR slice, or the SPS before one
	case "video/vp9":
		key = payload[0]&0x08 != 0 && payload[0]&0x40 == 0
	case "video/av1":
		key = payload[0]&0x08 != 0
	}
	return index, key, true
}

// Source sends one generated track until stopped.
type Source struct {
	Track *webrtc.TrackLocalStaticRTP
	mime  string
	clock uint32

	// PacketsPerSecond and PacketsPerFrame set the rate; PayloadSize each packet's size.
	PacketsPerSecond int
	PacketsPerFrame  int
	PayloadSize      int
	// KeyframeEvery sends a keyframe every so many frames anyway (0: only on request).
	KeyframeEvery int
	// AnswerKeyframeRequests, when above 0, answers only the first so many PLI and FIR
	// with a keyframe and then counts and ignores them: an encoder with a long fixed
	// interval, or a WebRTC encoder that sent one keyframe for a whole show.
	AnswerKeyframeRequests uint64
	// ParameterSets sends an H.264 keyframe as encoders do: SPS, PPS and the IDR slice,
	// each in a packet of its own with the frame's timestamp (without, the IDR alone).
	ParameterSets bool
	// PictureIDs gives VP8 and VP9 frames a 15-bit picture id, from FirstPictureID on,
	// and a TL0PICIDX (PayloadVP8Pic, PayloadVP9Pic), as WebRTC encoders and GStreamer's rtpvp8pay do: each
	// simulcast layer of such an encoder numbers its pictures from a start of its own.
	PictureIDs     bool
	FirstPictureID uint16
	// Decorate, when set, is called on each packet's header before it is written (to
	// add header extensions).
	Decorate func(h *rtp.Header)

	keyRequested atomic.Bool
	rate         atomic.Int64 // SetPacketsPerSecond's, 0 until called
	sent         atomic.Uint64
	plis         atomic.Uint64
	// sentAt keeps when the last packets were written, by index, so that a receiver in
	// the same process can tell a packet's one-way delay (SentAt).
	sentAt [sentRing]atomic.Int64
}

const sentRing = 1 << 12

// SentAt is when the packet of index was written, if it is among the last few thousand.
func (s *Source) SentAt(index uint64) (time.Time, bool) {
	ns := s.sentAt[index%sentRing].Load()
	if ns == 0 || index+sentRing <= s.sent.Load() {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// NewVideo makes a video source (VP8, H.264, VP9 or AV1 by mime type) at a bitrate in bits
// per second with 1,100-byte packets at 30 frames per second.
func NewVideo(mime string, bitrate int) (*Source, error) {
	return newVideo(mime, bitrate, "", 1100)
}

// NewLayer makes one simulcast layer of a video source: rid names it, and its packets are
// size bytes long, so a viewer can tell the layers apart by packet size. The layers of
// one publisher share the track and stream ids, as a browser's encodings do.
func NewLayer(mime string, bitrate int, rid string, size int) (*Source, error) {
	return newVideo(mime, bitrate, rid, size)
}

func newVideo(mime string, bitrate int, rid string, size int) (*Source, error) {
	c := webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		c.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	case strings.EqualFold(mime, webrtc.MimeTypeVP9):
		c.SDPFmtpLine = "profile-id=0"
	}
	var opts []func(*webrtc.TrackLocalStaticRTP)
	if rid != "" {
		opts = append(opts, webrtc.WithRTPStreamID(rid))
	}
	t, err := webrtc.NewTrackLocalStaticRTP(c, "video", "livegate-gen", opts...)
	if err != nil {
		return nil, err
	}
	pps := bitrate / 8 / size
	if pps < 30 {
		pps = 30
	}
	perFrame := pps / 30
	if strings.EqualFold(mime, webrtc.MimeTypeH264) {
		perFrame = 1 // one NAL unit per frame keeps the H.264 stream simple to check
	}
	return &Source{Track: t, mime: mime, clock: 90000, PacketsPerSecond: pps, PacketsPerFrame: perFrame, PayloadSize: size}, nil
}

// NewOpus makes a 20 ms Opus source of 160-byte packets (64 kbit/s).
func NewOpus() (*Source, error) {
	t, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "livegate-gen")
	if err != nil {
		return nil, err
	}
	return &Source{Track: t, mime: webrtc.MimeTypeOpus, clock: 48000, PacketsPerSecond: 50, PacketsPerFrame: 1, PayloadSize: 160}, nil
}

// Sent is how many packets were written.
func (s *Source) Sent() uint64 { return s.sent.Load() }

// PLIs is how many keyframe requests arrived.
func (s *Source) PLIs() uint64 { return s.plis.Load() }

// RequestKeyframe makes the next frame a keyframe.
func (s *Source) RequestKeyframe() { s.keyRequested.Store(true) }

// ReadRTCP answers PLI and FIR from the sender with a keyframe, until the sender closes.
func (s *Source) ReadRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if n := s.plis.Add(1); s.AnswerKeyframeRequests == 0 || n <= s.AnswerKeyframeRequests {
					s.RequestKeyframe()
				}
			}
		}
	}
}

// ReadRTCPLayers answers each simulcast layer's PLI and FIR with a keyframe of that
// layer, until the sender closes. layers are the sender's encodings in order.
func ReadRTCPLayers(sender *webrtc.RTPSender, layers []*Source) {
	bySSRC := map[uint32]*Source{}
	for i, e := range sender.GetParameters().Encodings {
		if i < len(layers) {
			bySSRC[uint32(e.SSRC)] = layers[i]
		}
	}
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			var ssrc uint32
			switch p := p.(type) {
			case *rtcp.PictureLossIndication:
				ssrc = p.MediaSSRC
			case *rtcp.FullIntraRequest:
				ssrc = p.MediaSSRC
			default:
				continue
			}
			if l := bySSRC[ssrc]; l != nil {
				l.plis.Add(1)
				l.RequestKeyframe()
			}
		}
	}
}

// Run writes packets at the source's rate until ctx ends. The first frame is a keyframe.
func (s *Source) Run(ctx context.Context) {
	pps := s.PacketsPerSecond
	framesPerSecond := max(pps/s.PacketsPerFrame, 1)
	tick := time.NewTicker(time.Second / time.Duration(framesPerSecond))
	defer tick.Stop()
	var index uint64
	frame := 0
	var ts uint32
	buf := make([]byte, 0, s.PayloadSize)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2}}
	s.keyRequested.Store(true)
	for {
		if r := int(s.rate.Load()); r > 0 && r != pps {
			pps = r
			framesPerSecond = max(pps/s.PacketsPerFrame, 1)
			tick.Reset(time.Second / time.Duration(framesPerSecond))
		}
		key := s.keyRequested.Swap(false) || (s.KeyframeEvery > 0 && frame%s.KeyframeEvery == 0)
		// An H.264 keyframe's SPS and PPS go first, as packets of the frame.
		var sets []byte
		if key && s.ParameterSets && strings.EqualFold(s.mime, webrtc.MimeTypeH264) {
			sets = []byte{0x67, 0x68}
		}
		for i := range len(sets) + s.PacketsPerFrame {
			switch {
			case s.PictureIDs && strings.EqualFold(s.mime, webrtc.MimeTypeVP8):
				pic := s.FirstPictureID + uint16(frame)
				buf = PayloadVP8Pic(buf, index, i == 0, key, s.PayloadSize, pic&0x7fff, uint8(frame))
			case s.PictureIDs && strings.EqualFold(s.mime, webrtc.MimeTypeVP9):
				pic := s.FirstPictureID + uint16(frame)
				buf = PayloadVP9Pic(buf, index, i == 0, key, s.PayloadSize, pic&0x7fff, uint8(frame))
			default:
				buf = Payload(buf, s.mime, index, i <= len(sets), key, s.PayloadSize)
			}
			if i < len(sets) {
				buf[0] = sets[i]
			}
			pkt.SequenceNumber = uint16(index)
			pkt.Timestamp = ts
			pkt.Marker = i == len(sets)+s.PacketsPerFrame-1
			pkt.Payload = buf
			pkt.Extension, pkt.Extensions = false, nil
			if s.Decorate != nil {
				s.Decorate(&pkt.Header)
			}
			// A write fails only for a viewer-less or closing connection; keep the clock.
			s.sentAt[index%sentRing].Store(time.Now().UnixNano())
			_ = s.Track.WriteRTP(pkt)
			index++
			s.sent.Add(1)
		}
		frame++
		ts += s.clock / uint32(framesPerSecond)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// SetPacketsPerSecond changes a running source's rate from its next frame: an encoder
// whose bitrate steps up or down, at the same packet size.
func (s *Source) SetPacketsPerSecond(n int) { s.rate.Store(int64(n)) }
