package sfu

import (
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// downTrack is one publisher track as one viewer receives it. It implements
// webrtc.TrackLocal so pion negotiates it, and writes straight to the viewer's SRTP stream
// with its own sequence numbers and timestamps: the viewer sees one continuous stream
// whatever happens upstream: a simulcast layer switch, an encoder reconnecting.
//
// A simulcast track has one layer per publisher encoding (low to high quality); the
// allocator picks which one the viewer gets. A switch subscribes the target layer, keeps
// forwarding the current one until the target's keyframe arrives, then rebases onto it.
type downTrack struct {
	sub     *Subscriber
	relayID string // on a relay to an edge, the track's name there (relayTrackID)
	kind    webrtc.RTPCodecType
	codec   webrtc.RTPCodecParameters
	sender  *webrtc.RTPSender

	mu            sync.Mutex
	layers        []*layer // low to high quality; one for a track without simulcast; replaced, never changed
	bound, active bool
	started       bool // in step with the current layer's numbering
	cur, next     int  // the layer forwarded, the one switched to (-1: none)
	ssrc          uint32
	pt            uint8
	form          audioForm // how audio reaches the viewer: as sent, as RED, as Opus
	redPT         uint8     // the viewer's Opus payload type, for the blocks of RED sent to it
	rtx           bool      // retransmissions go on the viewer's RTX stream (RFC 4588)
	rtxSSRC       uint32
	rtxPT         uint8
	rtxSeq        uint16
	ext           extIDs
	ws            webrtc.TrackLocalWriter
	munger        munger
	picIDs        bool      // the codec is VP8 or VP9: its picture ids are rewritten (pic)
	pic           picMunger // the viewer's VP8 picture ids, continuous across switches
	picBuf        [maxPacket]byte
	rebaseFrom    time.Time  // when the previous source's last packet was forwarded
	hdr           rtp.Header // scratch for writes; a field so it is not allocated per packet
	extBuf        [4]rtp.Extension
	twccBuf       [2]byte // the transport-wide sequence number's slot, stamped at send
	rtxHdr        rtp.Header
	rtxBuf        [maxPacket]byte
	rtxOut        [maxPacket + 2]byte
	padBuf        [padBytes]byte      // a probe's padding (probe.go): zeros, then the count
	repairs       [repairSlots]repair // the last packets resent, by the viewer's sequence number
}

// repair is what a down track remembers of a packet it resent, to bound how often.
type repair struct {
	seq uint16
	n   uint8 // times resent
	at  int64 // when last, unix nanoseconds
}

// Repair limits. A viewer on a lossy link asks for a lost packet again and again while
// the answer is under way (each NACK it sends lists every hole it still sees); answering
// each time multiplies the loss it reports into a storm that crowds out the picture.
// A packet is resent at most once per round trip, at most maxRepairs times, only while
// a player can still use it, and not again once the viewer's transport-wide feedback
// acknowledged a resend of it (deliveries.go).
const (
	repairSlots  = 512
	maxRepairs   = 3
	maxRepairAge = time.Second            // older than a player's jitter buffer: too late
	minRepairGap = 5 * time.Millisecond   // a round trip shorter than this is not trusted
	noRTTRepair  = 100 * time.Millisecond // the gap when the viewer's round trip is unknown
)

// repairDue says whether the packet the viewer numbers seq, arrived at, may be resent
// now, given the viewer's round trip (0: unknown); noteRepair records that it was.
func (d *downTrack) repairDue(seq uint16, arrived int64, rtt time.Duration, now int64) bool {
	if arrived != 0 && time.Duration(now-arrived) > maxRepairAge {
		return false
	}
	gap := noRTTRepair
	if rtt > 0 {
		gap = max(rtt, minRepairGap)
	}
	r := &d.repairs[seq%repairSlots]
	return r.seq != seq || r.n == 0 || r.n < maxRepairs && time.Duration(now-r.at) >= gap
}

func (d *downTrack) noteRepair(seq uint16, now int64) {
	r := &d.repairs[seq%repairSlots]
	if r.seq == seq && r.n > 0 {
		r.n++
	} else {
		*r = repair{seq: seq, n: 1}
	}
	r.at = now
}

// extIDs are the ids one side negotiated for the header extensions livegate forwards, 0
// when not negotiated.
type extIDs struct {
	orientation, audioLevel, twcc uint8
}

// layer is one encoding of a down track's publisher track, as a sink of its receiver.
type layer struct {
	d *downTrack
	i int
	r *receiver
}

var (
	_ webrtc.TrackLocal = (*downTrack)(nil)
	_ sink              = (*layer)(nil)
)

// newDownTrack makes a viewer's track over receivers, the layers of one publisher track
// from low to high quality.
func newDownTrack(s *Subscriber, receivers []*receiver) *downTrack {
	// The first sequence number and timestamp are random as RFC 3550 asks, against
	// known-plaintext guesses, not as secrets: math/rand does.
	d := &downTrack{sub: s, kind: receivers[0].kind, codec: receivers[0].codec, cur: -1, next: -1, rtxSeq: uint16(rand.Uint32()), //nolint:gosec // G404: see above
		munger: newMunger(uint16(rand.Uint32()), rand.Uint32())} //nolint:gosec // G404: see above
	for i, r := range receivers {
		d.layers = append(d.layers, &layer{d: d, i: i, r: r})
	}
	d.pic.vp9 = strings.EqualFold(d.codec.MimeType, webrtc.MimeTypeVP9)
	d.picIDs = d.pic.vp9 || strings.EqualFold(d.codec.MimeType, webrtc.MimeTypeVP8)
	return d
}

func (d *downTrack) ID() string {
	if d.relayID != "" {
		return d.relayID
	}
	return d.kind.String()
}
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return "livegate-" + d.room().id }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.kind }

func (d *downTrack) room() *Room { return d.sub.room }

// Bind picks the viewer's payload type for the publisher's codec (for audio, RED when
// both can: audioForm), its RTX stream when it offered one, and its ids for the header
// extensions livegate forwards.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	params := ctx.CodecParameters()
	c, form, ok := chooseCodec(d.codec, params, d.relayID != "")
	if ok {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.ssrc, d.pt, d.ws, d.bound = uint32(ctx.SSRC()), uint8(c.PayloadType), ctx.WriteStream(), true
		d.form, d.redPT = form, 0
		if form == audioRED || form == audioSame && strings.EqualFold(c.MimeType, mimeTypeRED) {
			if opus, ok := findCodec(params, webrtc.MimeTypeOpus); ok {
				d.redPT = uint8(opus.PayloadType)
			}
		}
		if rtxPT, ok := rtxFor(params, c.PayloadType); ok && ctx.SSRCRetransmission() != 0 {
			d.rtx, d.rtxSSRC, d.rtxPT = true, uint32(ctx.SSRCRetransmission()), rtxPT
		}
		for _, e := range ctx.HeaderExtensions() {
			switch e.URI {
			case extVideoOrientation:
				d.ext.orientation = uint8(e.ID)
			case extAudioLevel:
				d.ext.audioLevel = uint8(e.ID)
			case sdp.TransportCCURI:
				d.ext.twcc = uint8(e.ID)
			}
		}
		return c, nil
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// rtxFor finds the RTX payload type whose apt is pt.
func rtxFor(params []webrtc.RTPCodecParameters, pt webrtc.PayloadType) (uint8, bool) {
	for _, c := range params {
		if strings.EqualFold(c.MimeType, "video/rtx") && fmtpValue(c.SDPFmtpLine, "apt", "") == strconv.Itoa(int(pt)) {
			return uint8(c.PayloadType), true
		}
	}
	return 0, false
}

// Unbind stops writes.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.bound = false
	d.mu.Unlock()
	return nil
}

// activate starts media on layer i (clamped). Video starts from the layer's cached
// keyframe, or waits for its next one.
func (d *downTrack) activate(i int) {
	d.mu.Lock()
	if d.active {
		d.mu.Unlock()
		return
	}
	i = min(max(i, 0), len(d.layers)-1)
	d.active, d.cur = true, i
	l := d.layers[i]
	d.mu.Unlock()
	if d.kind == webrtc.RTPCodecTypeVideo {
		l.r.join(l)
		return
	}
	l.r.addSink(l)
}

// switchTo moves the viewer to layer i, or pauses video when i is -1 (audio only). A
// switch between layers completes on the target's next keyframe; resuming from a pause
// starts from the layer's cached keyframe.
func (d *downTrack) switchTo(i int) {
	d.mu.Lock()
	if !d.active || i >= len(d.layers) || (i >= 0 && i == d.next) || (i == d.cur && d.next < 0) {
		d.mu.Unlock()
		return
	}
	var drop []*layer
	if d.next >= 0 && d.next != i {
		drop = append(drop, d.layers[d.next]) // an unfinished switch is abandoned
	}
	d.next = -1
	switch {
	case i < 0: // pause
		if d.cur >= 0 {
			drop = append(drop, d.layers[d.cur])
			d.rebaseFrom = time.Unix(0, d.layers[d.cur].r.lastAt.Load())
		}
		d.cur, d.started = -1, false
		d.mu.Unlock()
		d.detach(drop)
		return
	case d.cur < 0: // resume
		d.cur = i
		l := d.layers[i]
		d.mu.Unlock()
		d.detach(drop)
		l.r.join(l)
		return
	case i == d.cur: // back to the current layer: the abandoned switch is all
		d.mu.Unlock()
		d.detach(drop)
		return
	}
	d.next = i
	l := d.layers[i]
	d.mu.Unlock()
	d.detach(drop)
	l.r.addSink(l)
	l.r.requestKeyframe()
}

// snapshot is the down track's layers with the current and target layer among them.
func (d *downTrack) snapshot() (layers []*layer, cur, next int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.layers, d.cur, d.next
}

// currentReceiver is the receiver of the layer forwarded, nil while video is paused.
func (d *downTrack) currentReceiver() *receiver {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur < 0 {
		return nil
	}
	return d.layers[d.cur].r
}

// addLayer gives the viewer a layer that started after it joined: browsers start their
// higher simulcast layers only once their own estimate allows, often seconds into the
// stream, which is when a waiting audience joins. The layer takes its place by rid;
// the current and target layers keep theirs under their new indexes.
func (d *downTrack) addLayer(r *receiver) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.layers {
		if l.r == r {
			return
		}
	}
	var cur, next *layer
	if d.cur >= 0 {
		cur = d.layers[d.cur]
	}
	if d.next >= 0 {
		next = d.layers[d.next]
	}
	// Ordered as trackLayers orders a joiner's layers.
	layers := append(slices.Clone(d.layers), &layer{d: d, r: r})
	sort.SliceStable(layers, func(a, b int) bool { return ridRank(layers[a].r.rid) < ridRank(layers[b].r.rid) })
	for i, l := range layers {
		l.i = i
		switch l {
		case cur:
			d.cur = i
		case next:
			d.next = i
		}
	}
	d.layers = layers
}

func (d *downTrack) detach(ls []*layer) {
	for _, l := range ls {
		l.r.removeSink(l)
	}
}

// detachAll drops the down track from every receiver (the viewer left).
func (d *downTrack) detachAll() {
	layers, _, _ := d.snapshot()
	d.detach(layers)
}

// WriteRTP implements sink: one packet of one layer to the viewer. key says whether it
// starts a keyframe.
func (l *layer) WriteRTP(h *rtp.Header, payload []byte, key bool) bool {
	return l.d.writeLayer(l, h, payload, key)
}

// Budget is how many bytes the viewer's pacer sends within d (unbounded without one).
func (l *layer) Budget(d time.Duration) int {
	if l.d.sub.estimated() {
		return l.d.sub.sendSide.pacer.Budget(d)
	}
	return 1 << 30
}

// Detached implements sink. A layer holds nothing of the receiver's to give back.
func (l *layer) Detached() {}

// Rebase implements sink: the layer's source changed (the encoder reconnected).
func (l *layer) Rebase(last time.Time) {
	d := l.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == l.i {
		d.started = false
		d.rebaseFrom = last
	}
}

func (d *downTrack) writeLayer(l *layer, h *rtp.Header, payload []byte, key bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.bound {
		return false
	}
	if d.form != audioSame {
		// The receiver's other form of this packet, made once for every viewer that
		// takes it (red.go); sinks are called within the receiver's fan-out.
		if payload = l.r.alt; len(payload) == 0 {
			return false
		}
	}
	var drop *layer
	if l.i == d.next && key && d.cur >= 0 {
		// The target layer's keyframe: switch here, continuing the viewer's numbering
		// from the current layer's last packet.
		drop = d.layers[d.cur]
		d.rebaseFrom = time.Unix(0, drop.r.lastAt.Load())
		d.cur, d.next, d.started = l.i, -1, false
		d.room().sfu.metrics.LayerSwitches.Inc()
	}
	if l.i != d.cur {
		if l.i == d.next {
			// Still waiting for the target's keyframe. The request that started the
			// switch may have fallen inside another viewer's throttle window, and an
			// encoder (a browser) may send none until asked: ask again (throttled).
			l.r.requestKeyframe()
		}
		return false
	}
	if !d.started {
		if d.kind == webrtc.RTPCodecTypeVideo && !key {
			l.r.requestKeyframe()
			return false
		}
		d.started = true
		d.pic.rebase()
		if d.munger.started {
			gap := time.Since(d.rebaseFrom).Seconds() * float64(d.codec.ClockRate)
			d.munger.rebase(h.SequenceNumber, h.Timestamp, uint32(min(max(gap, 0), 1<<31)))
		} else {
			d.munger.start(h.SequenceNumber, h.Timestamp)
		}
	}
	if drop != nil {
		// Safe under d.mu: no receiver holds its own lock while it calls a sink.
		drop.r.removeSink(drop)
	}
	if !d.write(&d.hdr, h, l.r, payload, true) {
		return false
	}
	d.sub.sentFirst()
	return true
}

// write rewrites src into scratch for this viewer and sends it. Of the publisher's
// header extensions, video orientation and audio level are kept, under the ids this
// viewer negotiated; the rest were the publisher's business. fresh says it is new
// media, not a retransmission.
func (d *downTrack) write(scratch, src *rtp.Header, r *receiver, payload []byte, fresh bool) bool {
	switch {
	case d.picIDs:
		payload = d.pic.rewrite(payload, d.picBuf[:], fresh)
	case d.redPT != 0:
		payload = d.redBlocksPT(payload)
	}
	*scratch = *src
	scratch.SSRC = d.ssrc
	scratch.PayloadType = d.pt
	scratch.SequenceNumber, scratch.Timestamp = d.munger.rewrite(src.SequenceNumber, src.Timestamp)
	d.rewriteExtensions(scratch, src, r)
	_, err := d.ws.WriteRTP(scratch, payload)
	return err == nil
}

func (d *downTrack) rewriteExtensions(scratch, src *rtp.Header, r *receiver) {
	scratch.Extension = false
	scratch.ExtensionProfile = 0
	scratch.Extensions = d.extBuf[:0]
	if d.ext.twcc != 0 {
		// A slot for the viewer's send-side estimator to number in place when the
		// packet leaves (sendSide.stamp), so that numbering allocates nothing.
		_ = scratch.SetExtension(d.ext.twcc, d.twccBuf[:])
	}
	pub := r.ext.Load()
	if !src.Extension || pub == nil {
		return
	}
	if d.ext.orientation != 0 && pub.orientation != 0 {
		if v := src.GetExtension(pub.orientation); v != nil {
			_ = scratch.SetExtension(d.ext.orientation, v)
		}
	}
	if d.ext.audioLevel != 0 && pub.audioLevel != 0 {
		if v := src.GetExtension(pub.audioLevel); v != nil {
			_ = scratch.SetExtension(d.ext.audioLevel, v)
		}
	}
}

// retransmit answers one NACKed sequence number (in the viewer's numbering) from the
// current layer's packet cache, within the repair limits: on the RTX stream when
// negotiated, else as the packet itself. rtt is the viewer's round trip (0: unknown).
func (d *downTrack) retransmit(seq uint16, rtt time.Duration, now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.bound || !d.started || d.cur < 0 {
		return
	}
	up, ok := d.munger.upstream(seq)
	if !ok {
		return
	}
	r := d.layers[d.cur].r
	n, arrived := r.cache.getAt(up, d.rtxBuf[:])
	if n == 0 {
		return
	}
	if !d.repairDue(seq, arrived, rtt, now) ||
		d.sub.estimated() && (d.rtx && d.sub.sendSide.deliveries.delivered(d.rtxSSRC, seq, now) ||
			!d.sub.sendSide.pacer.allowRepair(n, time.Unix(0, now))) {
		r.room.sfu.metrics.RepairsHeld.Inc()
		return
	}
	d.noteRepair(seq, now)
	payload, ok := parseRTP(&d.rtxHdr, d.rtxBuf[:n])
	if !ok {
		return
	}
	if !d.rtx {
		if d.write(&d.hdr, &d.rtxHdr, r, payload, false) {
			r.room.sfu.metrics.Retransmits.Inc()
		}
		return
	}
	h := &d.hdr
	*h = d.rtxHdr
	h.SSRC, h.PayloadType = d.rtxSSRC, d.rtxPT
	h.SequenceNumber = seq // the original, for the payload's first two bytes
	_, h.Timestamp = d.munger.rewrite(d.rtxHdr.SequenceNumber, d.rtxHdr.Timestamp)
	d.rewriteExtensions(h, &d.rtxHdr, r)
	if d.picIDs {
		payload = d.pic.rewrite(payload, d.picBuf[:], false)
	}
	out := d.rtxOut[:2+len(payload)]
	out[0], out[1] = byte(seq>>8), byte(seq)
	copy(out[2:], payload)
	d.rtxSeq++
	h.SequenceNumber = d.rtxSeq
	h.Padding, h.PaddingSize = false, 0
	if _, err := d.ws.WriteRTP(h, out); err == nil {
		r.room.sfu.metrics.Retransmits.Inc()
	}
}

// readRTCP serves the viewer's feedback until its connection closes: NACKs from the
// cache, PLI/FIR upstream (throttled), receiver reports recorded.
func (d *downTrack) readRTCP() {
	buf := make([]byte, maxPacket)
	m := d.room().sfu.metrics
	for {
		n, _, err := d.sender.Read(buf)
		if err != nil {
			return
		}
		eachRTCP(buf[:n], func(raw []byte) {
			if !isTWCC(raw) { // the send-side estimator's, parsed there
				d.handleRTCP(raw, m)
			}
		})
	}
}

// handleRTCP serves one feedback packet of the viewer's.
func (d *downTrack) handleRTCP(raw []byte, m *Metrics) {
	pkts, err := rtcp.Unmarshal(raw)
	if err != nil {
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			if r := d.currentReceiver(); r != nil {
				r.requestKeyframe()
			}
		case *rtcp.TransportLayerNack:
			rtt, now := d.sub.rtt(), time.Now().UnixNano()
			for _, pair := range p.Nacks {
				pair.Range(func(seq uint16) bool {
					m.NACKsReceived.Inc()
					d.retransmit(seq, rtt, now)
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

// parseExtIDs reads the ids a track negotiated.
func parseExtIDs(exts []webrtc.RTPHeaderExtensionParameter) extIDs {
	var out extIDs
	for _, e := range exts {
		switch e.URI {
		case extVideoOrientation:
			out.orientation = uint8(e.ID)
		case extAudioLevel:
			out.audioLevel = uint8(e.ID)
		}
	}
	return out
}
