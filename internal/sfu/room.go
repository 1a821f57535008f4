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
// tracks, and the viewers.
type Room struct {
	id       string
	sfu      *SFU
	log      *slog.Logger // the node's, with this stream
	expected int
	opts     PublishOptions
	live     atomic.Bool // the publisher connected at least once

	pub *Publisher // set once, before the room is reachable by viewers' tracks

	mu        sync.Mutex
	receivers []*receiver
	ready     chan struct{} // closed once every announced track has arrived
	subs      map[*Subscriber]struct{}
	closed    bool
	wg        sync.WaitGroup // receiver goroutines
}

func newRoom(s *SFU, id string, expected int, opts PublishOptions) *Room {
	return &Room{id: id, sfu: s, log: s.log.With("stream", id), expected: expected, opts: opts,
		ready: make(chan struct{}), subs: map[*Subscriber]struct{}{}}
}

// ID is the stream id.
func (r *Room) ID() string { return r.id }

// Subscribers is how many viewers the room has.
func (r *Room) Subscribers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs)
}

func (r *Room) addTrack(remote *webrtc.TrackRemote, rtpReceiver *webrtc.RTPReceiver, pc *webrtc.PeerConnection) {
	f := newReceiver(r, trackSource{track: remote, pc: pc}, remote.Kind(), remote.Codec())
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.receivers = append(r.receivers, f)
	if len(r.receivers) == r.expected {
		close(r.ready)
	}
	r.wg.Add(2)
	r.mu.Unlock()

	go func() { defer r.wg.Done(); f.run() }()
	// Reading RTCP lets the interceptors see the publisher's sender reports.
	go func() {
		defer r.wg.Done()
		for {
			if _, _, err := rtpReceiver.ReadRTCP(); err != nil {
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
	case <-r.pub.done:
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

// connected marks the room live the first time its publisher connects.
func (r *Room) connected() {
	if r.live.CompareAndSwap(false, true) && r.opts.OnLive != nil {
		go r.opts.OnLive()
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
	subs := make([]*Subscriber, 0, len(r.subs))
	for s := range r.subs {
		subs = append(subs, s)
	}
	r.mu.Unlock()

	r.sfu.removeRoom(r)
	for _, s := range subs {
		s.Close()
	}
	if r.pub != nil {
		r.pub.closePC()
		r.sfu.metrics.Publishers.Dec()
	}
	r.log.Info("room ended", "reason", reason, "viewers", len(subs))
	if r.opts.OnEnd != nil {
		go r.opts.OnEnd(reason, r.live.Load())
	}
}

// Publisher is the creator's connection to a room.
type Publisher struct {
	peer
	room *Room
}

// Close ends the broadcast.
func (p *Publisher) Close() { p.room.Close("publisher ended the broadcast") }

// Subscriber is one viewer's connection to a room.
type Subscriber struct {
	peer
	room      *Room
	downs     []*downTrack
	joinStart time.Time
	firstSent sync.Once
	closeOnce sync.Once
}

// activate starts media once the viewer's transport is up, so its first video packet is a
// keyframe it can actually receive.
func (s *Subscriber) activate() {
	for _, d := range s.downs {
		d.activate()
	}
}

func (s *Subscriber) sentFirst() {
	s.firstSent.Do(func() {
		s.room.sfu.metrics.JoinLatency.Observe(time.Since(s.joinStart).Seconds())
	})
}

// Close disconnects the viewer.
func (s *Subscriber) Close() {
	s.closeOnce.Do(func() {
		if s.room.removeSubscriber(s) {
			s.room.sfu.metrics.Subscribers.Dec()
		}
		s.close()
	})
}

// close releases the viewer's resources without touching room bookkeeping.
func (s *Subscriber) close() {
	for _, d := range s.downs {
		d.receiver.removeSink(d)
	}
	s.closePC()
}
