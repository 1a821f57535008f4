package sfu

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"
)

// peer is what publishers and viewers share: one PeerConnection, trickle ICE and ICE
// restart as the answering side.
type peer struct {
	id        string
	pc        *webrtc.PeerConnection
	mu        sync.Mutex // serialises negotiation (answer, ICE restart)
	closeOnce sync.Once
	done      chan struct{}
	closed    hooks
	// preferRED answers a publisher's audio with RED first, so that an encoder that
	// offers it sends it (a browser sends the first codec of the answer).
	preferRED bool
}

func newPeer(id string, pc *webrtc.PeerConnection) peer {
	return peer{id: id, pc: pc, done: make(chan struct{})}
}

// ID is the peer's session identifier, used in the WHIP/WHEP session URL.
func (p *peer) ID() string { return p.id }

// Done is closed when the peer is closed.
func (p *peer) Done() <-chan struct{} { return p.done }

// OnClose runs f once, when the peer closes (at once if it has), so that whoever keeps
// the peer in a registry forgets it without a goroutine parked per peer. f runs on the
// closing goroutine and must not block.
func (p *peer) OnClose(f func()) { p.closed.add(f) }

// answer negotiates the first offer; parsed is the same offer as ParseOffer read it.
func (p *peer) answer(ctx context.Context, offer string, parsed Offer) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	answer, err := p.negotiate(ctx, offer)
	if err != nil {
		return "", err
	}
	return shapeAnswer(parsed, answer)
}

// negotiate applies a remote offer and returns the local answer with every candidate.
func (p *peer) negotiate(ctx context.Context, offer string) (string, error) {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if p.preferRED {
		preferRED(p.pc)
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-p.done:
		return "", ErrClosed
	}
	return p.pc.LocalDescription().SDP, nil
}

// AddICECandidate adds a trickled remote candidate ("candidate:..." without "a=").
func (p *peer) AddICECandidate(c webrtc.ICECandidateInit) error {
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("add ice candidate: %w", err)
	}
	return nil
}

// LocalICE returns this side's current ICE credentials.
func (p *peer) LocalICE() (ufrag, pwd string) {
	ld := p.pc.CurrentLocalDescription()
	if ld == nil {
		return "", ""
	}
	return sdpAttr(ld.SDP, "ice-ufrag"), sdpAttr(ld.SDP, "ice-pwd")
}

var (
	ufragLine = regexp.MustCompile(`(?m)^a=ice-ufrag:[^\r\n]*`)
	pwdLine   = regexp.MustCompile(`(?m)^a=ice-pwd:[^\r\n]*`)
)

// RestartICE applies the client's new ICE credentials (an ICE restart requested by a WHIP
// or WHEP PATCH) and returns our new local SDP, which carries fresh credentials and
// candidates.
func (p *peer) RestartICE(ctx context.Context, ufrag, pwd string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rd := p.pc.CurrentRemoteDescription()
	if rd == nil {
		return "", fmt.Errorf("%w: not negotiated yet", ErrBadOffer)
	}
	offer := ufragLine.ReplaceAllString(rd.SDP, "a=ice-ufrag:"+ufrag)
	offer = pwdLine.ReplaceAllString(offer, "a=ice-pwd:"+pwd)
	return p.negotiate(ctx, offer)
}

func (p *peer) closePC() {
	p.closeOnce.Do(func() {
		close(p.done)
		_ = p.pc.Close()
		p.closed.fire()
	})
}

// RemoteICE returns the client's current ICE credentials.
func (p *peer) RemoteICE() (ufrag, pwd string) {
	rd := p.pc.CurrentRemoteDescription()
	if rd == nil {
		return "", ""
	}
	return sdpAttr(rd.SDP, "ice-ufrag"), sdpAttr(rd.SDP, "ice-pwd")
}

// preferRED moves RED to the front of each audio section's codecs, keeping the
// offerer's payload types. A section whose offer has no RED is left as it is.
func preferRED(pc *webrtc.PeerConnection) {
	for _, tr := range pc.GetTransceivers() {
		if tr.Kind() != webrtc.RTPCodecTypeAudio || tr.Receiver() == nil {
			continue
		}
		cs := tr.Receiver().GetParameters().Codecs
		i := slices.IndexFunc(cs, func(c webrtc.RTPCodecParameters) bool { return strings.EqualFold(c.MimeType, mimeTypeRED) })
		if i <= 0 {
			continue
		}
		red := cs[i]
		cs = append([]webrtc.RTPCodecParameters{red}, slices.Delete(cs, i, i+1)...)
		_ = tr.SetCodecPreferences(cs) // every codec in it came from the engine: cannot fail
	}
}
