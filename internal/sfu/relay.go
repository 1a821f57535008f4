package sfu

// The relay between nodes: an edge pulls a stream from its origin over one pion-to-pion
// WebRTC connection, which the origin serves as a viewer that takes every track and
// every simulcast layer, and the edge opens a room with as its publisher. Everything a
// viewer connection has comes with it (SRTP, NACKs answered from the origin's packet
// cache, keyframe requests the origin throttles), and an edge's room is a room like any
// other: its viewers get layers, pacing and keyframe-aligned joins from the edge.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/ids"
)

// RelayTrack is one track of a stream as its origin relays it: each simulcast layer is
// a track of its own, so that all of them travel.
type RelayTrack struct {
	Kind  string `json:"kind"`  // audio or video
	Track string `json:"track"` // the publisher's track: the layers of one track share it
	RID   string `json:"rid,omitempty"`
	Codec string `json:"codec"`
}

// RelayLayout lists the tracks a relay of the stream carries, waiting a little for a
// publisher that has only just connected.
func (s *SFU) RelayLayout(ctx context.Context, streamID string) ([]RelayTrack, error) {
	room := s.Room(streamID)
	if room == nil {
		return nil, ErrNotLive
	}
	recvs, err := room.waitTracks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RelayTrack, 0, len(recvs))
	for _, r := range recvs {
		out = append(out, RelayTrack{Kind: r.kind.String(), Track: r.track, RID: r.rid, Codec: r.codec.MimeType})
	}
	return out, nil
}

// relayTrackID names a relay's track so that the edge knows which of the publisher's
// tracks and layers it carries.
func relayTrackID(r *receiver) string { return "lg:" + r.kind.String() + ":" + r.rid + ":" + r.track }

func parseRelayTrackID(id string) (kind, rid, track string, ok bool) {
	rest, ok := strings.CutPrefix(id, "lg:")
	if !ok {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 || (parts[0] != "audio" && parts[0] != "video") {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// Dial sends a relay offer to the stream's origin and returns its answer.
type Dial func(ctx context.Context, offer string) (answer string, err error)

// Pull opens the stream's room on this node with the origin's relay as its publisher:
// one receive-only section per track of layout, offered through dial. opts.OnEnd is told
// when the room ends (the relay lost, or closed by the caller).
func (s *SFU) Pull(ctx context.Context, streamID string, layout []RelayTrack, dial Dial, opts PublishOptions) (*Publisher, error) {
	if s.draining.Load() {
		return nil, ErrDraining
	}
	if len(layout) == 0 {
		return nil, errors.New("relay: the origin offers no track")
	}
	pc, err := s.relayAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("relay peer connection: %w", err)
	}
	for _, t := range layout {
		kind := webrtc.NewRTPCodecType(t.Kind)
		if kind == 0 {
			_ = pc.Close()
			return nil, fmt.Errorf("relay: unknown track kind %q", t.Kind)
		}
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("relay transceiver: %w", err)
		}
	}
	p := &Publisher{peer: newPeer(ids.Session(), pc), relay: true, opts: opts}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = pc.Close()
		return nil, ErrDraining
	}
	room, ok := s.rooms[streamID]
	if !ok {
		room = newRoom(s, streamID, len(layout), opts)
		room.relayed = true
		s.rooms[streamID] = room
	}
	s.mu.Unlock()
	// A room whose relay was lost takes the new one over, its viewers carrying on.
	if ok && !room.waitingForRelay() {
		_ = pc.Close()
		return nil, ErrRoomExists
	}
	p.room = room
	if !room.takeOver(p) {
		_ = pc.Close()
		return nil, ErrNotLive
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, rtpReceiver *webrtc.RTPReceiver) {
		room.addTrack(p, remote, rtpReceiver, pc)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			room.connected()
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected:
			room.publisherGone(p, "relay from the origin lost")
		case webrtc.PeerConnectionStateClosed:
			room.publisherGone(p, "relay from the origin closed")
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err == nil {
		gathered := webrtc.GatheringCompletePromise(pc)
		if err = pc.SetLocalDescription(offer); err == nil {
			select {
			case <-gathered:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
	}
	var answer string
	if err == nil {
		answer, err = dial(ctx, pc.LocalDescription().SDP)
	}
	if err == nil {
		err = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	}
	if err != nil {
		room.publisherGone(p, "relay negotiation failed")
		return nil, fmt.Errorf("relay from the origin: %w", err)
	}
	return p, nil
}

// tracksNow returns the room's receivers without waiting.
func (r *Room) tracksNow() []*receiver {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	return append([]*receiver(nil), r.receivers...)
}

// relayGrace is how long an edge's room waits at least, its viewers attached, to pull
// again when its relay from the origin is lost (a relay closed to offer a new layer);
// when the origin died it waits as long as the origin would have waited for its encoder
// (ReconnectGrace), for the encoder to come back to some node and the edge to pull
// from there.
const relayGrace = 3 * time.Second

// relaySilence is how long a relay may be silent before its edge takes it for lost.
const relaySilence = time.Second

// waitingForRelay reports whether the room is an edge's that lost its relay and waits
// for another.
func (r *Room) waitingForRelay() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.relayed && r.pub == nil && !r.closed
}

// Relayed reports whether the stream's room on this node is an edge's pull.
func (r *Room) Relayed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.relayed
}

// Done is closed when the room closes.
func (r *Room) Done() <-chan struct{} { return r.done }
