package sfu

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// source is what a receiver reads one track from: a WHIP publisher's track today, an
// origin-to-edge relay or a file tomorrow. Nothing of pion shows through it.
type source interface {
	// ReadRTP reads one RTP packet into buf.
	ReadRTP(buf []byte) (int, error)
	// RequestKeyframe asks whoever encodes the track for a keyframe.
	RequestKeyframe() error
}

// sink is what a receiver fans packets out to: a viewer's down track today, a recorder
// or a relay to an edge tomorrow (Galène's disk writer is just another down track).
type sink interface {
	// WriteRTP sends one packet; keyframe says whether it starts a keyframe (worked out
	// only while some sink waits for one). It reports whether the packet went out.
	WriteRTP(h *rtp.Header, payload []byte, keyframe bool) bool
	// Detached tells the sink the receiver dropped it: it will get no more packets and
	// waits for no keyframe.
	Detached()
}

// trackSource is a publisher's WebRTC track as a source.
type trackSource struct {
	track *webrtc.TrackRemote
	pc    *webrtc.PeerConnection
}

func (t trackSource) ReadRTP(buf []byte) (int, error) {
	n, _, err := t.track.Read(buf)
	return n, err
}

func (t trackSource) RequestKeyframe() error {
	return t.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.track.SSRC())}})
}

// receiver reads one publisher track (LiveKit's name for it; one per track, one per
// layer once simulcast arrives) and fans every packet out to its sinks. One goroutine per
// track; nothing allocated per packet.
type receiver struct {
	room  *Room
	src   source
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecParameters
	mime  string
	cache *packetCache

	mu      sync.Mutex             // guards writes of sinks
	sinks   atomic.Pointer[[]sink] // copy-on-write: read lock-free per packet
	waiting atomic.Int32           // sinks waiting for a keyframe
	lastPLI atomic.Int64           // unix nanos of the last keyframe request
}

func newReceiver(r *Room, src source, kind webrtc.RTPCodecType, codec webrtc.RTPCodecParameters) *receiver {
	f := &receiver{room: r, src: src, kind: kind, codec: codec, mime: strings.ToLower(codec.MimeType),
		cache: newPacketCache(r.sfu.cfg.PacketCacheSize)}
	empty := []sink{}
	f.sinks.Store(&empty)
	return f
}

func (f *receiver) addSink(s sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.sinks.Load()
	next := make([]sink, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	f.sinks.Store(&next)
}

func (f *receiver) removeSink(s sink) {
	f.mu.Lock()
	old := *f.sinks.Load()
	next := make([]sink, 0, len(old))
	for _, o := range old {
		if o != s {
			next = append(next, o)
		}
	}
	f.sinks.Store(&next)
	f.mu.Unlock()
	s.Detached()
}

// requestKeyframe asks the source for a keyframe, at most once per PLI throttle.
func (f *receiver) requestKeyframe() {
	if f.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	now := time.Now().UnixNano()
	last := f.lastPLI.Load()
	if now-last < int64(f.room.sfu.cfg.PLIThrottle) || !f.lastPLI.CompareAndSwap(last, now) {
		return
	}
	if err := f.src.RequestKeyframe(); err == nil {
		f.room.sfu.metrics.PLIsSent.Inc()
	}
}

func (f *receiver) run() {
	buf := make([]byte, maxPacket)
	var h rtp.Header
	for {
		n, err := f.src.ReadRTP(buf)
		if err != nil {
			return
		}
		f.forward(&h, buf[:n])
	}
}

// forward caches one packet for NACKs and fans it out.
func (f *receiver) forward(h *rtp.Header, pkt []byte) {
	payload, ok := parseRTP(h, pkt)
	if !ok {
		return
	}
	f.cache.put(h.SequenceNumber, pkt)
	key := false
	if f.waiting.Load() > 0 {
		key = isKeyframeStart(f.mime, payload)
	}
	sinks := *f.sinks.Load()
	sent := 0
	for _, s := range sinks {
		if s.WriteRTP(h, payload, key) {
			sent++
		}
	}
	if sent > 0 {
		m := f.room.sfu.metrics
		m.PacketsForwarded.Add(float64(sent))
		m.BytesForwarded.Add(float64(sent * len(payload)))
	}
}
