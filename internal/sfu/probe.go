package sfu

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A probe asks one viewer's link whether it would carry the next simulcast layer,
// without sending the layer: a train of RTX padding-only packets (RFC 4588 streams
// carry them as libwebrtc's own probes; receivers drop them, pion's and browsers'
// alike), sent back to back. They carry transport-wide sequence numbers, so the
// viewer's feedback reports when each arrived, and the bottleneck has spaced the train
// out to its own rate: the cluster's bytes over their arrival span (internal/bwe's
// ProbeRate) say what the link can deliver. At or past the layer's need, the allocator
// moves the viewer up; short of it, the viewer stays and the next probe waits twice as
// long. A train is a few kilobytes: a link that cannot take it queues it for tens of
// milliseconds, where sending the layer to find out froze the picture for seconds.
const (
	// probeTrain is a train's length at the probe's target rate, and probeMinPackets
	// its fewest packets: long enough that a token bucket's burst (a shaper lets a few
	// kilobytes through at once) does not make the link look faster than it is.
	probeTrain      = 60 * time.Millisecond
	probeMinPackets = 12
	// probeWait bounds how long the train's feedback may take to come back.
	probeWait = time.Second
	probeTick = 10 * time.Millisecond
	// padBytes is one padding packet's padding: the most one RTP padding length byte
	// counts.
	padBytes = 255
)

// startProbe runs a probe for target bits per second on d's RTX stream. Its goroutine
// belongs to the viewer: it ends within probeWait, or when the viewer closes; its
// verdict waits in s.verdict for the allocator. It does nothing while a probe runs.
func (s *Subscriber) startProbe(d *downTrack, target int) {
	if !s.estimated() || !s.probing.CompareAndSwap(false, true) {
		return
	}
	s.room.sfu.metrics.Probes.Inc()
	go func() {
		v := s.probe(d, target)
		if v == probeCongested {
			s.room.sfu.metrics.ProbesFailed.Inc()
		}
		s.verdict.Store(v)
		s.probing.Store(false)
	}()
}

// probe sends one train and waits for its rate: probeCarried when the link delivered
// it at target or more, probeCongested when not (or when its feedback never came),
// probeNone when nothing could be sent or the viewer went.
func (s *Subscriber) probe(d *downTrack, target int) int32 {
	if !s.sendSide.pacer.idle() {
		return probeNone // media is queued: the link is busy enough already
	}
	before := s.sendSide.est.Stats().Bitrate
	id := s.sendSide.nextCluster()
	bytes := max(int(float64(target)/8*probeTrain.Seconds()), probeMinPackets*padBytes)
	s.sendSide.cluster.Store(uint32(id))
	sent := d.pad(bytes)
	s.sendSide.cluster.Store(0)
	if sent == 0 {
		return probeNone
	}
	t := time.NewTicker(probeTick)
	defer t.Stop()
	deadline := time.After(probeWait)
	for {
		select {
		case <-s.Done():
			return probeNone
		case <-deadline:
			s.room.log.Debug("probe unanswered", "viewer", s.ID(), "target", target, "bytes", sent)
			return probeCongested
		case <-t.C:
			rate, ok := s.sendSide.est.ProbeRate(id)
			if !ok {
				continue
			}
			s.room.log.Debug("probe measured", "viewer", s.ID(), "rate", rate, "target", target, "bytes", sent)
			if rate < target {
				// The media queued behind the train may have cut the estimate: the
				// media alone was carried at the estimate before.
				s.sendSide.est.Restore(before)
				s.sendSide.pacer.SetTargetBitrate(before)
				return probeCongested
			}
			s.sendSide.est.Lift(target)
			s.sendSide.pacer.SetTargetBitrate(s.sendSide.est.Stats().Bitrate)
			return probeCarried
		}
	}
}

// canPad says a probe can pad beside the track: the viewer has its RTX stream.
func (d *downTrack) canPad() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rtx && d.kind == webrtc.RTPCodecTypeVideo
}

// pad sends about n bytes of padding-only packets on the viewer's RTX stream and
// returns the bytes sent (0: no RTX stream, or no media sent yet to pad beside).
func (d *downTrack) pad(n int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.bound || !d.rtx || !d.started || d.kind != webrtc.RTPCodecTypeVideo {
		return 0
	}
	sent := 0
	for n-sent >= padBytes {
		h := &d.hdr
		*h = rtp.Header{Version: 2, Padding: true, PayloadType: d.rtxPT, SSRC: d.rtxSSRC, Timestamp: d.munger.lastTS,
			Extensions: d.extBuf[:0]}
		if d.ext.twcc != 0 {
			_ = h.SetExtension(d.ext.twcc, d.twccBuf[:])
		}
		d.rtxSeq++
		h.SequenceNumber = d.rtxSeq
		// The padding is the payload's whole length, its last byte the count (RFC 3550
		// 5.1); the bytes before it are zero.
		pad := d.padBuf[:padBytes]
		pad[padBytes-1] = padBytes
		if _, err := d.ws.WriteRTP(h, pad); err != nil {
			break
		}
		sent += h.MarshalSize() + padBytes
	}
	return sent
}
