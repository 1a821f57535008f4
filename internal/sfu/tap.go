package sfu

import (
	"context"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Sink takes one track's packets as the room forwards them to viewers, on the track's
// own goroutine: it copies what it keeps and never blocks. A recorder is one (Galène's
// disk writer is just another down track).
type Sink interface {
	sink
}

// TrackInfo describes one of a room's tracks.
type TrackInfo struct {
	Kind      string // audio or video
	MimeType  string // video/VP8, audio/opus, ...
	ClockRate uint32
	Channels  uint16
	RID       string // the simulcast layer, empty for a single-layer track
}

// Track is a track a Sink can be attached to.
type Track struct {
	TrackInfo
	f *receiver
}

// Tracks lists the publisher's tracks, each at its top simulcast layer (what a recording
// keeps), waiting for them a little as a viewer's join does.
func (r *Room) Tracks(ctx context.Context) ([]Track, error) {
	receivers, err := r.waitTracks(ctx)
	if err != nil {
		return nil, err
	}
	var out []Track
	for _, layers := range trackLayers(receivers) {
		f := layers[len(layers)-1]
		mime := f.codec.MimeType
		if f.redIn {
			mime = webrtc.MimeTypeOpus // a tap gets the primary frames (Attach)
		}
		out = append(out, Track{f: f, TrackInfo: TrackInfo{Kind: f.kind.String(), MimeType: mime,
			ClockRate: f.codec.ClockRate, Channels: f.codec.Channels, RID: f.rid}})
	}
	return out, nil
}

// Attach makes s one of the track's sinks, from the next packet on; the encoder is asked
// for a keyframe, so that video can start.
func (t Track) Attach(s Sink) {
	t.f.addSink(t.sink(s))
	t.f.requestKeyframe()
}

// sink is s as the receiver holds it: for a RED track, taking the primary frames.
func (t Track) sink(s Sink) sink {
	if t.f.redIn {
		return primarySink{Sink: s, f: t.f}
	}
	return s
}

// primarySink passes a RED track's primary frames (plain Opus) to a tap.
type primarySink struct {
	Sink
	f *receiver
}

func (p primarySink) WriteRTP(h *rtp.Header, _ []byte, key bool) bool {
	if len(p.f.alt) == 0 {
		return false
	}
	return p.Sink.WriteRTP(h, p.f.alt, key)
}

// RequestKeyframe asks the track's encoder for a keyframe (throttled per publisher, as
// viewers' requests are). Safe from any goroutine.
func (t Track) RequestKeyframe() { t.f.requestKeyframe() }

// Detach stops s getting the track's packets.
func (t Track) Detach(s Sink) {
	t.f.removeSink(t.sink(s))
	s.Detached()
}
