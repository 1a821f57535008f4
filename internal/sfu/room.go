package sfu

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Room is one live stream on this node: its publisher, the receivers of the publisher's
// tracks, and the viewers. A room outlives its publisher's connection: an encoder that
// drops is given a grace window to reconnect, and a new publisher with the stream's key
// takes over at once. Viewers stay connected through both and resume on the new
// publisher's tracks, their numbering continuous.
type Room struct {
	id       string
	sfu      *SFU
	log      *slog.Logger // the node's, with this stream
	expected int
	opts     PublishOptions
	live     atomic.Bool   // a publisher connected at least once
	lastPLI  atomic.Int64  // unix nanos of the last keyframe request to the publisher
	done     chan struct{} // closed when the room closes

	mu          sync.Mutex
	pub         *Publisher // the current publisher; nil while reconnecting
	reconnectBy time.Time  // while reconnecting: when the grace window ends
	grace       *time.Timer
	receivers   []*receiver
	ready       chan struct{} // closed once every track the first publisher announced has arrived
	subs        map[*Subscriber]struct{}
	closed      bool
	relayed     bool           // the room's media comes from another node (an edge's pull)
	wg          sync.WaitGroup // receiver goroutines
}

func newRoom(s *SFU, id string, expected int, opts PublishOptions) *Room {
	r := &Room{id: id, sfu: s, log: s.log.With("stream", id), expected: expected, opts: opts,
		done: make(chan struct{}), ready: make(chan struct{}), subs: map[*Subscriber]struct{}{}}
	go r.allocate() // until the room closes
	return r
}

// ID is the stream id.
func (r *Room) ID() string { return r.id }

// Subscribers is how many viewers the room has.
func (r *Room) Subscribers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs)
}

// Reconnecting reports whether the room waits for its publisher to come back, and until
// when.
func (r *Room) Reconnecting() (bool, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pub == nil && !r.closed, r.reconnectBy
}

// takeOver makes p the room's publisher. The one it replaces (an encoder that reconnected
// before its old connection timed out) is closed without ending the room. It reports
// false when the room has closed meanwhile.
func (r *Room) takeOver(p *Publisher) bool {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return false
	}
	old := r.pub
	r.pub = p
	r.reconnectBy = time.Time{}
	if r.relayed && !p.relay {
		// The creator's encoder has come to this node, which was only relaying the stream:
		// the room is now the stream's origin, and its life the encoder's.
		r.relayed = false
		r.opts = p.opts
		r.live.Store(false) // so that the encoder's connection marks the stream live
	}
	if r.grace != nil {
		r.grace.Stop()
		r.grace = nil
	}
	r.mu.Unlock()
	p.counted.Store(true)
	r.sfu.metrics.Publishers.Inc()
	if old != nil {
		r.log.Info("publisher replaced by a new connection", "old", old.ID(), "new", p.ID())
		old.release()
	}
	return true
}

// publisherGone is called when p's connection failed or closed. A room that was live
// waits for a reconnect for the grace window; one whose publisher never connected, or
// with no grace configured, ends now.
func (r *Room) publisherGone(p *Publisher, reason string) {
	r.mu.Lock()
	if r.closed || r.pub != p {
		r.mu.Unlock()
		p.release()
		return
	}
	grace := r.sfu.cfg.ReconnectGrace
	if p.relay {
		// An edge's viewers wait, attached, for the stream to come back from wherever its
		// encoder reconnects (see relayGrace).
		grace = max(grace, relayGrace)
	}
	if !r.live.Load() || grace <= 0 {
		r.mu.Unlock()
		r.Close(reason)
		return
	}
	r.pub = nil
	r.reconnectBy = time.Now().Add(grace)
	r.grace = time.AfterFunc(grace, func() { r.graceOver() })
	onLost := r.opts.OnLost
	r.mu.Unlock()
	p.release()
	r.log.Info("publisher lost; waiting for it to reconnect", "peer", p.ID(), "reason", reason, "grace", grace)
	if onLost != nil {
		go onLost()
	}
}

func (r *Room) graceOver() {
	r.mu.Lock()
	over := r.pub == nil && !r.closed
	r.mu.Unlock()
	if over {
		r.Close("publisher left")
	}
}

// addTrack routes a publisher's track to the receiver it continues (same kind, layer and
// codec as a track of the previous publisher: its viewers resume on it) or to a new one.
func (r *Room) addTrack(p *Publisher, remote *webrtc.TrackRemote, rtpReceiver *webrtc.RTPReceiver, pc *webrtc.PeerConnection) {
	src := trackSource{track: remote, pc: pc}
	// A relay names each layer in its track id; an encoder's layers come with their rid.
	trackID, rid := remote.ID(), remote.RID()
	if p.relay {
		var ok bool
		if _, rid, trackID, ok = parseRelayTrackID(remote.ID()); !ok {
			r.log.Warn("relay track with a name livegate did not give it; ignored", "track", remote.ID())
			return
		}
	}
	r.mu.Lock()
	if r.closed || r.pub != p {
		r.mu.Unlock()
		return
	}
	var f *receiver
	for _, cand := range r.receivers {
		if cand.kind == remote.Kind() && cand.rid == rid && cand.owner != p &&
			codecMatches(cand.codec.RTPCodecCapability, remote.Codec().RTPCodecCapability) {
			f = cand
			break
		}
	}
	var viewers []*Subscriber // who may need the receiver as a new layer
	if f == nil {
		f = newReceiver(r, remote.Kind(), trackID, rid, remote.Codec())
		r.receivers = append(r.receivers, f)
		if len(r.receivers) == r.expected {
			close(r.ready)
		}
		if f.rid != "" {
			for s := range r.subs {
				viewers = append(viewers, s)
			}
		}
	}
	f.owner = p
	ext := parseExtIDs(rtpReceiver.GetParameters().HeaderExtensions)
	f.ext.Store(&ext) // a reconnected encoder may number its extensions otherwise
	r.wg.Add(2)
	r.mu.Unlock()
	for _, s := range viewers {
		s.addLayer(f)
	}

	go func() { defer r.wg.Done(); f.run(src) }()
	// Reading RTCP lets the interceptors see the publisher's sender reports.
	simulcastRID := remote.RID()
	go func() {
		defer r.wg.Done()
		for {
			var err error
			if simulcastRID != "" {
				_, _, err = rtpReceiver.ReadSimulcastRTCP(simulcastRID)
			} else {
				_, _, err = rtpReceiver.ReadRTCP()
			}
			if err != nil {
				return
			}
		}
	}()
}

// waitTracks returns the publisher's tracks, waiting a little for a publisher that has
// only just connected.
func (r *Room) waitTracks(ctx context.Context) ([]*receiver, error) {
	t := time.NewTimer(r.sfu.cfg.TracksWait)
	defer t.Stop()
	select {
	case <-r.ready:
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.done:
		return nil, ErrNotLive
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.receivers) == 0 {
		return nil, ErrNotLive
	}
	return append([]*receiver(nil), r.receivers...), nil
}

func (r *Room) addSubscriber(s *Subscriber) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrNotLive
	}
	r.subs[s] = struct{}{}
	return nil
}

func (r *Room) removeSubscriber(s *Subscriber) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.subs[s]
	delete(r.subs, s)
	return ok
}

// connected marks the room live the first time a publisher connects.
func (r *Room) connected() {
	r.mu.Lock()
	onLive := r.opts.OnLive
	r.mu.Unlock()
	if r.live.CompareAndSwap(false, true) && onLive != nil {
		go onLive()
	}
}

// Close ends the room: viewers are disconnected, then the publisher, then OnEnd runs.
func (r *Room) Close(reason string) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	// Counted while r.mu is held, so that SFU.Close, whose own Close of this room finds
	// it closed, still waits for the ending under way.
	r.sfu.endings.Add(1)
	defer r.sfu.endings.Done()
	close(r.done)
	if r.grace != nil {
		r.grace.Stop()
	}
	pub := r.pub
	onEnd := r.opts.OnEnd
	subs := make([]*Subscriber, 0, len(r.subs))
	for s := range r.subs {
		subs = append(subs, s)
	}
	r.mu.Unlock()

	r.sfu.removeRoom(r)
	for _, s := range subs {
		s.Close()
	}
	if pub != nil {
		pub.release()
	}
	r.log.Info("room ended", "reason", reason, "viewers", len(subs))
	if onEnd != nil {
		r.sfu.endings.Add(1) // within the count taken above: never from zero
		go func() {
			defer r.sfu.endings.Done()
			onEnd(reason, r.live.Load())
		}()
	}
}

// Publisher is one connection of the creator's encoder to a room.
type Publisher struct {
	peer
	room    *Room
	counted atomic.Bool    // in the publishers gauge
	relay   bool           // a pull from the stream's origin, not an encoder
	opts    PublishOptions // what the room does when this publisher makes it live and ends
}

// Close ends the broadcast (the encoder's DELETE). A publisher that another connection
// has replaced only closes itself.
func (p *Publisher) Close() {
	p.room.mu.Lock()
	current := p.room.pub == p
	p.room.mu.Unlock()
	if current {
		p.room.Close("publisher ended the broadcast")
		return
	}
	p.release()
}

// release closes the publisher's connection and takes it off the gauge.
func (p *Publisher) release() {
	if p.counted.CompareAndSwap(true, false) {
		p.room.sfu.metrics.Publishers.Dec()
	}
	p.closePC()
}

// Layer describes one track of the room's publisher as it arrives: a simulcast layer
// (RID set) or a whole track.
type Layer struct {
	Kind    string `json:"kind"`
	RID     string `json:"rid,omitempty"`
	Codec   string `json:"codec"`
	Bitrate int64  `json:"bitrate"` // bits per second, as last measured
}

// Layers lists the publisher's tracks, simulcast layers from low to high.
func (r *Room) Layers() []Layer {
	r.mu.Lock()
	receivers := append([]*receiver(nil), r.receivers...)
	r.mu.Unlock()
	var out []Layer
	for _, t := range trackLayers(receivers) {
		for _, f := range t {
			out = append(out, Layer{Kind: f.kind.String(), RID: f.rid, Codec: f.codec.MimeType, Bitrate: f.bitrate.Load()})
		}
	}
	return out
}
