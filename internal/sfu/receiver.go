package sfu

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/red"
)

// source is what a receiver reads one track from: a WHIP publisher's track, or on an edge
// the origin's relay of it (a WebRTC connection pulled like a publisher's). Nothing of pion
// shows through it.
type source interface {
	// ReadRTP reads one RTP packet into buf.
	ReadRTP(buf []byte) (int, error)
	// RequestKeyframe asks whoever encodes the track for a keyframe.
	RequestKeyframe() error
}

// sink is what a receiver fans packets out to: a viewer's down track, which on an origin
// is also how a relay to an edge is fed. A recorder taps the receiver instead (tap.go),
// so that it never holds a viewer's pacing.
type sink interface {
	// WriteRTP sends one packet; keyframe says whether it starts a keyframe. It reports
	// whether the packet went out.
	WriteRTP(h *rtp.Header, payload []byte, keyframe bool) bool
	// Detached tells the sink the receiver dropped it: it will get no more packets and
	// waits for no keyframe.
	Detached()
	// Rebase tells the sink the source changed underneath (a reconnected encoder, a
	// relay taking over): the next packets come with other sequence numbers and
	// timestamps, and video must wait for a keyframe. last is when the previous source's
	// last packet was forwarded, so the sink's timeline can advance by the real gap.
	Rebase(last time.Time)
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
// track; nothing allocated per packet. It outlives one source: when the publisher
// reconnects, the new connection's track becomes its source and its sinks carry on.
type receiver struct {
	room  *Room
	kind  webrtc.RTPCodecType
	rid   string                 // simulcast layer; empty for a single-layer track
	track string                 // the publisher's track id: the layers of one track share it
	ext   atomic.Pointer[extIDs] // the current source's header extension ids
	codec webrtc.RTPCodecParameters
	mime  string
	cache *packetCache
	owner *Publisher // whose track is the source now; guarded by room.mu

	runMu   sync.Mutex // one source read at a time
	runs    int        // sources read so far; guarded by runMu
	src     atomic.Pointer[sourceRef]
	lastAt  atomic.Int64           // unix nanos of the last packet forwarded
	bytesIn atomic.Uint64          // bytes read from sources, for the layer's bitrate
	bitrate atomic.Int64           // bits per second, as the room's allocator last measured
	mu      sync.Mutex             // guards writes of sinks
	sinks   atomic.Pointer[[]sink] // copy-on-write: read lock-free per packet

	// Viewers starting from the cached keyframe (replay.go).
	joiners      []sink // guarded by mu
	pendingJoins atomic.Int32
	keySeq       uint16 // the newest keyframe's first packet; the receiver goroutine's
	keyTS        uint32 // its timestamp
	haveKey      bool
	replay       []replayed
	replayBuf    []byte

	// Audio in the other form for viewers that take it (red.go): RED built from the
	// publisher's Opus, or Opus from its RED. Set per packet by the receiver goroutine
	// before the fan-out and read by sinks within it; nil when there is none.
	alt    []byte
	redEnc *red.Encoder // for Opus: builds RED
	redIn  bool         // the track is RED: alt is its primary
}

type sourceRef struct{ source }

func newReceiver(r *Room, kind webrtc.RTPCodecType, track, rid string, codec webrtc.RTPCodecParameters) *receiver {
	f := &receiver{room: r, kind: kind, track: track, rid: rid, codec: codec, mime: strings.ToLower(codec.MimeType),
		cache: newPacketCache(r.sfu.cfg.PacketCacheSize)}
	switch {
	case f.mime == mimeTypeRED:
		f.redIn = true
	case f.mime == strings.ToLower(webrtc.MimeTypeOpus) && r.sfu.cfg.RED:
		f.redEnc = &red.Encoder{}
	}
	empty := []sink{}
	f.sinks.Store(&empty)
	return f
}

func (f *receiver) addSink(ss ...sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.sinks.Load()
	next := make([]sink, len(old), len(old)+len(ss))
	copy(next, old)
	next = append(next, ss...)
	f.sinks.Store(&next)
}

func (f *receiver) removeSink(s sink) {
	f.mu.Lock()
	for i, j := range f.joiners {
		if j == s {
			f.joiners = append(f.joiners[:i], f.joiners[i+1:]...)
			break
		}
	}
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

// requestKeyframe asks the source for a keyframe, at most once per PLI throttle and
// publisher.
func (f *receiver) requestKeyframe() {
	if f.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	// One request per throttle interval for the whole publisher, whichever layer asks:
	// an encoder's keyframes are expensive on every layer, and a switch that misses a
	// window asks again on its next packet.
	now := time.Now().UnixNano()
	last := f.room.lastPLI.Load()
	if now-last < int64(f.room.sfu.cfg.PLIThrottle) || !f.room.lastPLI.CompareAndSwap(last, now) {
		return
	}
	src := f.src.Load()
	if src == nil {
		return
	}
	if err := src.RequestKeyframe(); err == nil {
		f.room.sfu.metrics.PLIsSent.Inc()
	}
}

// run forwards src until it ends. A second source waits for the first to end (its
// connection is closed before a new one takes over), then the sinks rebase onto it.
func (f *receiver) run(src source) {
	f.runMu.Lock()
	defer f.runMu.Unlock()
	f.src.Store(&sourceRef{src})
	if f.runs > 0 {
		f.cache.reset()
		f.haveKey = false
		if f.redEnc != nil {
			f.redEnc.Reset()
		}
		last := time.Unix(0, f.lastAt.Load())
		for _, s := range *f.sinks.Load() {
			s.Rebase(last)
		}
		f.room.lastPLI.Store(0) // the new encoder is asked at once
		f.requestKeyframe()
	}
	f.runs++
	buf := make([]byte, maxPacket)
	var h rtp.Header
	for {
		n, err := src.ReadRTP(buf)
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
	now := time.Now().UnixNano()
	f.cache.put(h.SequenceNumber, pkt, now)
	f.lastAt.Store(now)
	key := false
	if f.kind == webrtc.RTPCodecTypeVideo {
		key = isKeyframeStart(f.mime, payload) && f.noteKeyframe(h)
	}
	if f.pendingJoins.Load() > 0 {
		f.serveJoiners(h)
	}
	f.alt = nil
	switch {
	case f.redEnc != nil:
		f.alt = f.redEnc.Encode(h.SequenceNumber, h.Timestamp, h.PayloadType, payload)
	case f.redIn:
		if _, primary, err := red.Primary(payload); err == nil {
			f.alt = primary
		}
	}
	sinks := *f.sinks.Load()
	sent := 0
	fan := f.room.sfu.fanOuts
	if len(sinks) < 2 {
		fan = nil // one datagram: nothing to batch
	}
	if fan != nil {
		fan.begin()
	}
	for _, s := range sinks {
		if s.WriteRTP(h, payload, key) {
			sent++
		}
	}
	if fan != nil {
		fan.end()
	}
	if sent > 0 {
		m := f.room.sfu.metrics
		m.PacketsForwarded.Add(float64(sent))
		m.BytesForwarded.Add(float64(sent * len(payload)))
	}
	f.bytesIn.Add(uint64(len(pkt)))
}
