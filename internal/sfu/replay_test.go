package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// recordingSink keeps what a receiver sends it.
type recordingSink struct {
	got []sent
}

type sent struct {
	seq uint16
	nal byte
	key bool
}

func (s *recordingSink) WriteRTP(h *rtp.Header, payload []byte, key bool) bool {
	s.got = append(s.got, sent{seq: h.SequenceNumber, nal: payload[0] & 0x1f, key: key})
	return true
}
func (s *recordingSink) Detached()        {}
func (s *recordingSink) Rebase(time.Time) {}

// An H.264 encoder (OBS, a browser, a hardware encoder) sends each keyframe as SPS, PPS
// and the IDR slice, in packets of their own with one timestamp. A viewer who joins must
// get the cached keyframe from the SPS on, marked as the keyframe's start once: started
// at the IDR slice, a decoder has no parameter sets and waits for the next keyframe (or
// asks the encoder for one).
func TestH264ReplayStartsAtTheParameterSets(t *testing.T) {
	f := &receiver{room: benchRoom(), kind: webrtc.RTPCodecTypeVideo, mime: "video/h264",
		codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{ClockRate: 90000}}, cache: newPacketCache(1024)}
	empty := []sink{}
	f.sinks.Store(&empty)
	var parsed rtp.Header
	send := func(seq uint16, ts uint32, nal byte) {
		h := rtp.Header{Version: 2, PayloadType: 102, SSRC: 1, SequenceNumber: seq, Timestamp: ts}
		pkt, err := (&rtp.Packet{Header: h, Payload: []byte{nal, 0x88, 0x80}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		f.forward(&parsed, pkt)
	}
	const sps, pps, idr, slice = 7, 8, 5, 1
	send(100, 3000, sps)
	send(101, 3000, pps)
	send(102, 3000, idr)
	send(103, 6000, slice)
	if f.keySeq != 100 {
		t.Fatalf("the keyframe starts at packet %d, want 100 (the SPS)", f.keySeq)
	}
	s := &recordingSink{}
	f.join(s)
	send(104, 9000, slice)
	want := []sent{{100, sps, true}, {101, pps, false}, {102, idr, false}, {103, slice, false}, {104, slice, false}}
	if len(s.got) != len(want) {
		t.Fatalf("the joiner got %+v, want %+v", s.got, want)
	}
	for i := range want {
		if s.got[i] != want[i] {
			t.Errorf("packet %d: got %+v, want %+v", i, s.got[i], want[i])
		}
	}
	// The next keyframe, with a new timestamp, starts anew.
	send(105, 12000, sps)
	send(106, 12000, idr)
	if f.keySeq != 105 {
		t.Errorf("the next keyframe starts at %d, want 105", f.keySeq)
	}
}
