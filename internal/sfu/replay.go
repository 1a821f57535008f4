package sfu

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A viewer's video starts on a keyframe. Waiting for the encoder's next one costs up to a
// GOP (seconds), and asking it for one per joining viewer floods it. So each video
// receiver remembers where the newest keyframe starts in its packet cache, and a joining
// viewer is sent that keyframe and the frames after it at once, then live packets: its
// first frame is one packet cache read away, and the encoder is not asked at all.
//
// The replayed frames are old. Sent with their own timestamps they would start the
// viewer a whole GOP behind live, and a player keeps that delay. So they are sent as a
// fast-forward: their timestamps are rewritten to fall just before the live packet's,
// one millisecond apart, and the player decodes through them (each references the one
// before) and lands on the live edge.

// maxReplay bounds the packets one join replays; a longer GOP so far falls back to a
// keyframe request, as does a keyframe no longer in the cache.
const maxReplay = 512

// replayWindow bounds a replay by the viewer's link: one that its pacer could not send
// within this long (a large GOP to a viewer with a small estimate) waits for the next
// keyframe instead, which it can take.
const replayWindow = 500 * time.Millisecond

// budgeted is a sink that knows how many bytes its viewer's link takes within a while.
type budgeted interface {
	Budget(d time.Duration) int
}

// join queues s to start on the next packet the receiver forwards. A sink must drop
// video until a keyframe's first packet, as a down track does: without a usable cached
// keyframe it joins the live fan-out and waits for the next one.
func (f *receiver) join(s sink) {
	f.mu.Lock()
	f.joiners = append(f.joiners, s)
	f.mu.Unlock()
	f.pendingJoins.Add(1)
}

// noteKeyframe remembers where the newest keyframe starts, and reports whether h starts
// one. An H.264 keyframe is an access unit whose parameter sets (SPS, PPS) and IDR slice
// may travel in packets of their own, each a keyframe start to isKeyframeStart; they
// share the access unit's timestamp, and the keyframe starts at the first of them: a
// replay or a switch from the IDR slice would leave the decoder without its parameter
// sets until the next keyframe. The receiver goroutine owns these fields.
func (f *receiver) noteKeyframe(h *rtp.Header) bool {
	if f.haveKey && h.Timestamp == f.keyTS && uint16(h.SequenceNumber-f.keySeq) < maxKeyframeLead {
		return false // the same keyframe's next unit
	}
	f.keySeq, f.keyTS, f.haveKey = h.SequenceNumber, h.Timestamp, true
	return true
}

// maxKeyframeLead bounds how many packets a keyframe's parameter sets may come before
// the unit that is also marked a start (a few: SPS, PPS, perhaps SEI).
const maxKeyframeLead = 8

// serveJoiners starts every queued joiner, before cur (the packet now being forwarded)
// goes out: each gets the cached GOP up to cur, fast-forwarded, then joins the live
// sinks, so cur and what follows reach it through the fan-out.
func (f *receiver) serveJoiners(cur *rtp.Header) {
	f.mu.Lock()
	joiners := f.joiners
	f.joiners = nil
	f.pendingJoins.Store(0)
	f.mu.Unlock()
	if len(joiners) == 0 {
		return
	}
	n := int(uint16(cur.SequenceNumber - f.keySeq))
	replay := f.haveKey && f.kind == webrtc.RTPCodecTypeVideo && n <= maxReplay && f.loadReplay(cur, n)
	waited := false
	for _, s := range joiners {
		if !replay || !fits(s, len(f.replayBuf)) {
			waited = true // it joins the fan-out and drops video until the next keyframe
			continue
		}
		for i := range f.replay {
			p := &f.replay[i]
			s.WriteRTP(&p.h, f.replayBuf[p.off:p.end], i == 0)
		}
	}
	f.addSink(joiners...)
	if waited {
		f.requestKeyframe()
	}
}

// fits says whether a replay of size bytes reaches s's viewer within replayWindow.
func fits(s sink, size int) bool {
	b, ok := s.(budgeted)
	return !ok || size <= b.Budget(replayWindow)
}

// replayed is one packet of a replay, its header rewritten, its payload in replayBuf.
type replayed struct {
	h        rtp.Header
	off, end int
}

// loadReplay reads the n packets from the cached keyframe up to cur into f.replay, with
// fast-forward timestamps. It reports false when the keyframe is gone from the cache.
func (f *receiver) loadReplay(cur *rtp.Header, n int) bool {
	f.replay = f.replay[:0]
	f.replayBuf = f.replayBuf[:0]
	var pkt [maxPacket]byte
	for i := 0; i < n; i++ {
		seq := f.keySeq + uint16(i)
		size := f.cache.get(seq, pkt[:])
		if size == 0 {
			if i == 0 {
				return false
			}
			continue // lost upstream, not yet repaired: the viewer's NACK fetches it later
		}
		var p replayed
		payload, ok := parseRTP(&p.h, pkt[:size])
		if !ok {
			return i > 0
		}
		p.off = len(f.replayBuf)
		f.replayBuf = append(f.replayBuf, payload...)
		p.end = len(f.replayBuf)
		p.h.Extensions = nil // they pointed into pkt; the down track drops them anyway
		f.replay = append(f.replay, p)
	}
	if len(f.replay) == 0 {
		return false
	}
	// Frames after each packet, up to cur's frame: packets of cur's own frame keep cur's
	// timestamp, each earlier frame lands one step before the next.
	step := f.codec.ClockRate / 1000
	if step == 0 {
		step = 1
	}
	after := uint32(0)
	next := cur.Timestamp
	for i := len(f.replay) - 1; i >= 0; i-- {
		p := &f.replay[i]
		if p.h.Timestamp != next {
			after++
			next = p.h.Timestamp
		}
		p.h.Timestamp = cur.Timestamp - after*step
	}
	return true
}
