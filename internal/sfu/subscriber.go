package sfu

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Subscriber is one viewer's connection to a room.
type Subscriber struct {
	peer
	room  *Room
	downs []*downTrack
	// The viewer connection's estimator and pacer; they see packets only when the
	// viewer negotiated transport-wide sequence numbers.
	sendSide  *sendSide
	maxLayer  atomic.Int32 // the highest layer the viewer allows
	alloc     allocState   // the room's allocator goroutine's
	joinStart time.Time
	firstSent sync.Once
	closeOnce sync.Once
	connected hooks        // fired when the connection is first up
	relay     bool         // an edge node's pull (SubscribeOptions.Relay)
	paid      bool         // SubscribeOptions.Paid: shed after every free viewer
	shed      atomic.Int32 // the shed level the node's load holds the viewer at (shed.go)
	probing   atomic.Bool  // a padding probe runs (probe.go)
	verdict   atomic.Int32 // the last probe's outcome, until the allocator takes it
}

// estimated says the viewer's bandwidth is estimated: it negotiated transport-wide
// sequence numbers, so its packets are paced and its feedback read. Without, the
// estimate would stay at its initial value, a guess no metric should average in.
func (s *Subscriber) estimated() bool { return s.sendSide != nil && s.sendSide.paced.Load() }

// rtt is the viewer's round trip as its bandwidth estimator measures it (0: unknown).
func (s *Subscriber) rtt() time.Duration {
	if !s.estimated() {
		return 0
	}
	return s.sendSide.est.Stats().RTT
}

// OnConnected runs f once the viewer's connection is first up (ICE and DTLS), at once if
// it is. f runs on pion's callback goroutine and must not block.
func (s *Subscriber) OnConnected(f func()) { s.connected.add(f) }

// AnyLayer is a viewer's maximum layer when it pins none.
const AnyLayer = 1 << 10

// SetMaxLayer pins the highest simulcast layer the viewer gets: 0 is the lowest. The
// allocator moves the viewer down at once if it is above.
func (s *Subscriber) SetMaxLayer(i int) { s.maxLayer.Store(int32(min(max(i, 0), AnyLayer))) }

// activate starts media once the viewer's transport is up, so its first video packet is a
// keyframe it can actually receive.
func (s *Subscriber) activate() {
	for _, d := range s.downs {
		d.activate(s.initialLayer(d))
	}
}

// initialLayer is where a new viewer starts: the lowest layer that flows, whose GOP is
// the cheapest to replay (a fast first frame on any link); the allocator moves it up
// within a few ticks if its bandwidth allows.
func (s *Subscriber) initialLayer(d *downTrack) int {
	in := s.room.allocInput(s, d)
	for i := 0; i < len(in.rates) && i <= in.max; i++ {
		if in.rates[i] > 0 {
			return i
		}
	}
	return 0
}

// addLayer adds a simulcast layer that started after the viewer joined to the down
// track carrying the other layers of its track.
func (s *Subscriber) addLayer(f *receiver) {
	if s.relay {
		// A relay's tracks are fixed when it is negotiated: the edge pulls again and gets
		// the new layer with the others.
		s.room.log.Info("new layer; relay to the edge closed for it to pull again", "rid", f.rid, "relay", s.ID())
		go s.Close()
		return
	}
	for _, d := range s.downs {
		if d.kind != f.kind || !codecMatches(d.codec.RTPCodecCapability, f.codec.RTPCodecCapability) {
			continue
		}
		if layers, _, _ := d.snapshot(); layers[0].r.track == f.track && layers[0].r.rid != "" {
			d.addLayer(f)
			return
		}
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
		d.detachAll()
	}
	s.closePC()
}

// trackLayers groups the receivers a viewer can use into the publisher's tracks, each
// with its simulcast layers ordered from low to high quality by the usual rid names (q/h/
// f, l/m/h), else as they arrived. Measured bitrates would not do: while a browser's own
// estimate ramps up, its top layer can run below its middle one for seconds.
func trackLayers(usable []*receiver) [][]*receiver {
	var tracks [][]*receiver
	index := map[string]int{}
	for _, f := range usable {
		key := f.kind.String() + "/" + f.track
		i, ok := index[key]
		if !ok || f.rid == "" {
			index[key] = len(tracks)
			tracks = append(tracks, []*receiver{f})
			continue
		}
		tracks[i] = append(tracks[i], f)
	}
	for _, t := range tracks {
		sort.SliceStable(t, func(a, b int) bool { return ridRank(t[a].rid) < ridRank(t[b].rid) })
	}
	return tracks
}

// ridRank orders the rid names encoders use for their layers.
func ridRank(rid string) int {
	switch strings.ToLower(rid) {
	case "q", "l", "low", "lo", "0", "quarter":
		return 0
	case "h", "m", "mid", "medium", "1", "half":
		return 1
	case "f", "high", "hi", "2", "full":
		return 2
	}
	return 1 // unknown names keep their arrival order among themselves
}

// allocInput gathers one viewer's numbers for chooseLayer.
func (r *Room) allocInput(s *Subscriber, d *downTrack) allocInput {
	layers, cur, _ := d.snapshot()
	in := allocInput{estimate: initialEstimate, max: int(s.maxLayer.Load()), rates: make([]int, len(layers)), cur: cur}
	if s.estimated() {
		st := s.sendSide.est.Stats()
		in.estimate = st.Bitrate
		in.congested = st.Overusing || st.Loss >= congestedLoss
		in.canPad, in.probing = d.canPad(), s.probing.Load()
		if !in.probing {
			in.verdict = s.verdict.Swap(probeNone)
		}
	}
	for _, o := range s.downs {
		if o.kind == webrtc.RTPCodecTypeAudio {
			if ls, _, _ := o.snapshot(); len(ls) > 0 {
				in.audio += o.audioRate(int(ls[0].r.bitrate.Load()))
			}
		}
	}
	for i, l := range layers {
		in.rates[i] = int(l.r.bitrate.Load())
	}
	switch s.shed.Load() {
	case shedLowest:
		if lowest := lowestFlowing(in.rates); lowest >= 0 {
			in.max = min(in.max, lowest)
		}
	case shedAudio:
		in.max = -1
	}
	return in
}

// allocatorTick is how often the room measures its layers and re-decides its viewers'.
const allocatorTick = 250 * time.Millisecond

// allocate runs for the room's life: it measures each receiver's bitrate and moves each
// viewer's video to the layer its bandwidth estimate affords.
func (r *Room) allocate() {
	t := time.NewTicker(allocatorTick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-r.done:
			return
		case now := <-t.C:
			dt := now.Sub(last).Seconds()
			last = now
			r.mu.Lock()
			receivers := append([]*receiver(nil), r.receivers...)
			subs := make([]*Subscriber, 0, len(r.subs))
			for s := range r.subs {
				subs = append(subs, s)
			}
			r.mu.Unlock()
			for _, f := range receivers {
				rate := float64(f.bytesIn.Swap(0)) * 8 / dt
				old := float64(f.bitrate.Load())
				if old > 0 {
					rate = 0.7*old + 0.3*rate // smooth a GOP's keyframe burst
				}
				f.bitrate.Store(int64(rate))
			}
			for _, s := range subs {
				r.allocateViewer(s, now)
			}
		}
	}
}

func (r *Room) allocateViewer(s *Subscriber, now time.Time) {
	for _, d := range s.downs {
		if d.kind != webrtc.RTPCodecTypeVideo {
			continue
		}
		in := r.allocInput(s, d)
		if s.estimated() {
			r.sfu.metrics.ViewerEstimate.Observe(float64(in.estimate))
		}
		dec := chooseLayer(in, &s.alloc, now)
		if to := dec.layer; to != in.cur {
			r.log.Debug("switching layer", "viewer", s.ID(), "from", in.cur, "to", to, "estimate", in.estimate, "rates", in.rates)
			d.switchTo(to)
		}
		if dec.probe > 0 {
			media := in.audio
			if in.cur >= 0 && in.cur < len(in.rates) {
				media += in.rates[in.cur]
			}
			r.log.Debug("probing", "viewer", s.ID(), "layer", in.cur, "target", dec.probe, "media", media, "estimate", in.estimate)
			s.startProbe(d, dec.probe)
		}
	}
}
