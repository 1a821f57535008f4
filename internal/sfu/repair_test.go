package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A viewer that keeps asking for one lost packet gets it once per round trip, three
// times at most, and never once it is too old to be played.
func TestRepairsAreBounded(t *testing.T) {
	r := benchRoom()
	f := &receiver{room: r, kind: webrtc.RTPCodecTypeVideo, mime: "video/vp8", cache: newPacketCache(1024)}
	w := &countingWriter{}
	d := newDownTrack(&Subscriber{room: r}, []*receiver{f})
	d.bound, d.active, d.cur, d.ws, d.ssrc, d.pt = true, true, 0, w, 7, 96
	d.munger.start(1000, 0)
	d.started = true
	t0 := time.Now().UnixNano()
	for seq := uint16(1000); seq < 1010; seq++ {
		pkt, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq}, Payload: []byte{0x10, 0, 1}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		f.cache.put(seq, pkt, t0)
		d.munger.rewrite(seq, 0)
	}
	viewerSeq := func(up uint16) uint16 { s, _ := d.munger.rewrite(up, 0); return s }
	ms := func(n int) int64 { return t0 + int64(n)*int64(time.Millisecond) }
	rtt := 40 * time.Millisecond
	steps := []struct {
		at     int64
		rtt    time.Duration
		resent int
		what   string
	}{
		{ms(10), rtt, 1, "the first NACK"},
		{ms(20), rtt, 1, "asked again within the round trip"},
		{ms(49), rtt, 1, "still within it"},
		{ms(51), rtt, 2, "a round trip later"},
		{ms(95), rtt, 3, "another"},
		{ms(200), rtt, 3, "a fourth time: three is the most"},
	}
	seq := viewerSeq(1003)
	for _, s := range steps {
		d.retransmit(seq, s.rtt, s.at)
		if w.n != s.resent {
			t.Fatalf("%s: %d resends, want %d", s.what, w.n, s.resent)
		}
	}
	// Unknown round trip: 100 ms apart.
	other := viewerSeq(1004)
	d.retransmit(other, 0, ms(10))
	d.retransmit(other, 0, ms(90))
	if w.n != 4 {
		t.Errorf("unknown round trip: %d resends after two NACKs 80 ms apart, want one more (4)", w.n)
	}
	d.retransmit(other, 0, ms(111))
	if w.n != 5 {
		t.Errorf("unknown round trip: %d resends 101 ms later, want 5", w.n)
	}
	// Too old: a packet that arrived over a second ago is not resent at all.
	d.retransmit(viewerSeq(1005), rtt, ms(1001))
	if w.n != 5 {
		t.Errorf("a packet 1.001 s old was resent")
	}
	if got := testutil.ToFloat64(r.sfu.metrics.RepairsHeld); got != 5 {
		t.Errorf("repairs held %v, want 5", got)
	}
}

// Repairs take at most half of a viewer's estimate, whatever the viewer asks: at
// 1 Mbit/s, 200 ms worth (12.5 kB) at once, then 62.5 kB a second.
func TestRepairsKeepToTheirShare(t *testing.T) {
	p := newPacer(NewMetrics(nil))
	p.SetTargetBitrate(1_000_000)
	t0 := time.Now()
	n := 0
	for p.allowRepair(1200, t0) {
		n++
	}
	if n != 10 {
		t.Fatalf("%d repairs of 1,200 bytes at once, want 10 (12.5 kB)", n)
	}
	// A viewer asking for a repair every millisecond for a second.
	got := 0
	for ms := 1; ms <= 1000; ms++ {
		if p.allowRepair(1200, t0.Add(time.Duration(ms)*time.Millisecond)) {
			got++
		}
	}
	if want := 62_500 / 1200; got < want-1 || got > want+1 {
		t.Fatalf("%d repairs in a second, want about %d (62.5 kB)", got, want)
	}
	// The share follows the estimate.
	p.SetTargetBitrate(100_000)
	later := t0.Add(10 * time.Second)
	n = 0
	for p.allowRepair(1200, later) {
		n++
	}
	if n != 1 {
		t.Fatalf("at 100 kbit/s: %d repairs at once, want 1 (one packet's worth)", n)
	}
}
