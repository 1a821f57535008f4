package sfu

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// downTrack is one publisher track as one viewer receives it. It implements
// webrtc.TrackLocal so pion negotiates it, and writes straight to the viewer's SRTP stream
// with its own sequence numbers and timestamps: the viewer sees one continuous stream
// whatever happens upstream.
type downTrack struct {
	receiver *receiver
	sub      *Subscriber
	sender   *webrtc.RTPSender

	mu            sync.Mutex
	bound, active bool
	started       bool
	ssrc          uint32
	pt            uint8
	ws            webrtc.TrackLocalWriter
	munger        munger
	rebaseFrom    time.Time  // when the previous source's last packet was forwarded
	hdr           rtp.Header // scratch for writes; a field so it is not allocated per packet
	rtxHdr        rtp.Header
	rtxBuf        [maxPacket]byte
}

var (
	_ webrtc.TrackLocal = (*downTrack)(nil)
	_ sink              = (*downTrack)(nil)
)

func newDownTrack(f *receiver, s *Subscriber) *downTrack {
	return &downTrack{receiver: f, sub: s, munger: newMunger(uint16(rand.Uint32()), rand.Uint32())}
}

func (d *downTrack) ID() string                { return d.receiver.kind.String() }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return "livegate-" + d.receiver.room.id }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.receiver.kind }

// Bind picks the viewer's payload type for the publisher's codec.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if codecMatches(c.RTPCodecCapability, d.receiver.codec.RTPCodecCapability) {
			d.mu.Lock()
			d.ssrc, d.pt, d.ws, d.bound = uint32(ctx.SSRC()), uint8(c.PayloadType), ctx.WriteStream(), true
			d.mu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind stops writes.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.bound = false
	d.mu.Unlock()
	return nil
}

// activate joins the receiver's fan-out. Video starts from the receiver's cached
// keyframe (or, without one, waits for the next, requested then).
func (d *downTrack) activate() {
	d.mu.Lock()
	if d.active {
		d.mu.Unlock()
		return
	}
	d.active = true
	d.mu.Unlock()
	if d.receiver.kind == webrtc.RTPCodecTypeVideo {
		d.receiver.join(d)
		return
	}
	d.receiver.addSink(d)
}

// Detached implements sink: the receiver dropped this viewer. A down track holds nothing
// of the receiver's to give back.
func (d *downTrack) Detached() {}

// Rebase implements sink: the source changed; continue the viewer's numbering from the
// next packet (video: the next keyframe), its timestamps advanced by the real gap.
func (d *downTrack) Rebase(last time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.started = false
	d.rebaseFrom = last
}

// WriteRTP implements sink: one packet of the receiver to this viewer. key says whether
// the packet starts a keyframe (computed only while someone waits for one).
func (d *downTrack) WriteRTP(h *rtp.Header, payload []byte, key bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.bound {
		return false
	}
	if !d.started {
		if d.receiver.kind == webrtc.RTPCodecTypeVideo && !key {
			d.receiver.requestKeyframe()
			return false
		}
		d.started = true
		if d.munger.started {
			gap := time.Since(d.rebaseFrom).Seconds() * float64(d.receiver.codec.ClockRate)
			d.munger.rebase(h.SequenceNumber, h.Timestamp, uint32(min(gap, 1<<31)))
		} else {
			d.munger.start(h.SequenceNumber, h.Timestamp)
		}
	}
	if !d.write(&d.hdr, h, payload) {
		return false
	}
	d.sub.sentFirst()
	return true
}

// write rewrites src into scratch for this viewer and sends it. Header extensions are
// dropped: their ids were negotiated with the publisher, not with this viewer.
func (d *downTrack) write(scratch, src *rtp.Header, payload []byte) bool {
	*scratch = *src
	scratch.SSRC = d.ssrc
	scratch.PayloadType = d.pt
	scratch.SequenceNumber, scratch.Timestamp = d.munger.rewrite(src.SequenceNumber, src.Timestamp)
	scratch.Extension = false
	scratch.ExtensionProfile = 0
	scratch.Extensions = nil
	_, err := d.ws.WriteRTP(scratch, payload)
	return err == nil
}

// retransmit answers one NACKed sequence number (in the viewer's numbering) from the
// track's packet cache.
func (d *downTrack) retransmit(seq uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.bound || !d.started {
		return
	}
	n := d.receiver.cache.get(d.munger.upstream(seq), d.rtxBuf[:])
	if n == 0 {
		return
	}
	payload, ok := parseRTP(&d.rtxHdr, d.rtxBuf[:n])
	if !ok {
		return
	}
	if d.write(&d.hdr, &d.rtxHdr, payload) {
		d.receiver.room.sfu.metrics.Retransmits.Inc()
	}
}

// readRTCP serves the viewer's feedback until its connection closes: NACKs from the
// cache, PLI/FIR upstream (throttled), receiver reports recorded.
func (d *downTrack) readRTCP() {
	buf := make([]byte, maxPacket)
	m := d.receiver.room.sfu.metrics
	for {
		n, _, err := d.sender.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.receiver.requestKeyframe()
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					pair.Range(func(seq uint16) bool {
						m.NACKsReceived.Inc()
						d.retransmit(seq)
						return true
					})
				}
			case *rtcp.ReceiverReport:
				for _, r := range p.Reports {
					if r.SSRC == d.ssrc {
						m.ViewerLoss.Observe(float64(r.FractionLost) / 256)
					}
				}
			}
		}
	}
}

// parseRTP reads a packet's header into h and returns its payload without padding.
func parseRTP(h *rtp.Header, pkt []byte) ([]byte, bool) {
	hl, err := h.Unmarshal(pkt)
	if err != nil {
		return nil, false
	}
	end := len(pkt)
	h.PaddingSize = 0
	if h.Padding {
		pad := int(pkt[end-1])
		if pad == 0 || hl+pad > end {
			return nil, false
		}
		h.PaddingSize = byte(pad)
		end -= pad
	}
	return pkt[hl:end], true
}
