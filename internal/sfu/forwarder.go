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

// forwarder reads one publisher track and fans every packet out to the viewers' down
// tracks. One goroutine per publisher track; nothing allocated per packet.
type forwarder struct {
	room   *Room
	remote *webrtc.TrackRemote
	pc     *webrtc.PeerConnection
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecParameters
	mime   string
	cache  *packetCache

	mu      sync.Mutex                   // guards writes of downs
	downs   atomic.Pointer[[]*downTrack] // copy-on-write: read lock-free per packet
	waiting atomic.Int32                 // down tracks waiting for a keyframe
	lastPLI atomic.Int64                 // unix nanos of the last keyframe request
}

func newForwarder(r *Room, remote *webrtc.TrackRemote, pc *webrtc.PeerConnection) *forwarder {
	f := &forwarder{room: r, remote: remote, pc: pc, kind: remote.Kind(), codec: remote.Codec(),
		mime: strings.ToLower(remote.Codec().MimeType), cache: newPacketCache(r.sfu.cfg.PacketCacheSize)}
	empty := []*downTrack{}
	f.downs.Store(&empty)
	return f
}

func (f *forwarder) addDown(d *downTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.downs.Load()
	next := make([]*downTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	f.downs.Store(&next)
}

func (f *forwarder) removeDown(d *downTrack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.downs.Load()
	next := make([]*downTrack, 0, len(old))
	for _, o := range old {
		if o != d {
			next = append(next, o)
		}
	}
	f.downs.Store(&next)
	d.stopWaiting()
}

// requestKeyframe asks the publisher for a keyframe, at most once per PLI throttle.
func (f *forwarder) requestKeyframe() {
	if f.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	now := time.Now().UnixNano()
	last := f.lastPLI.Load()
	if now-last < int64(f.room.sfu.cfg.PLIThrottle) || !f.lastPLI.CompareAndSwap(last, now) {
		return
	}
	if err := f.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(f.remote.SSRC())}}); err == nil {
		f.room.sfu.metrics.PLIsSent.Inc()
	}
}

func (f *forwarder) run() {
	buf := make([]byte, maxPacket)
	var h rtp.Header
	m := f.room.sfu.metrics
	for {
		n, _, err := f.remote.Read(buf)
		if err != nil {
			return
		}
		payload, ok := parseRTP(&h, buf[:n])
		if !ok {
			continue
		}
		f.cache.put(h.SequenceNumber, buf[:n])

		key := false
		if f.waiting.Load() > 0 {
			key = isKeyframeStart(f.mime, payload)
		}
		downs := *f.downs.Load()
		sent := 0
		for _, d := range downs {
			if d.writeRTP(&h, payload, key) {
				sent++
			}
		}
		if sent > 0 {
			m.PacketsForwarded.Add(float64(sent))
			m.BytesForwarded.Add(float64(sent * len(payload)))
		}
	}
}
