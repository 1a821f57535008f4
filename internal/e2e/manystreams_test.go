package e2e

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// streamLoss is what a viewer lost of the publisher's packets between the first and
// the last it got, counted on unique publisher packets, and how many it got.
func streamLoss(pkts []received) (lost float64, got int) {
	if len(pkts) == 0 {
		return 1, 0
	}
	seen := map[uint64]bool{}
	lo, hi := pkts[0].index, pkts[0].index
	for _, p := range pkts {
		seen[p.index] = true
		lo, hi = min(lo, p.index), max(hi, p.index)
	}
	return 1 - float64(len(seen))/float64(hi-lo+1), len(seen)
}

// Ten streams live on one node, each watched on another: every relay between the same
// two nodes is clean (a relay of its own per stream used to share the nodes' one UDP
// port with every other, which hands the packets of one pair of addresses to whichever
// relay spoke last).
func TestManyStreamsBetweenTwoNodes(t *testing.T) {
	const streams = 10
	fleet := newProcessFleet(t)
	a, b := fleet.start("node-a"), fleet.start("node-b")
	var viewers []*viewer
	for range streams {
		s := a.newStream()
		publish(t, a, s, webrtc.MimeTypeVP8, 30)
		viewers = append(viewers, mustWatch(t, b, s))
	}
	for _, v := range viewers {
		v.waitPackets(t, "video", 30, 15*time.Second)
	}
	counts := make([]int, streams)
	for i, v := range viewers {
		counts[i] = len(v.snapshot("video"))
	}
	// About time: every stream watched for a while, long enough for a relay that loses
	// its address to another to show it (the freezes came every few seconds).
	time.Sleep(8 * time.Second)
	for i, v := range viewers {
		pkts := v.snapshot("video")
		lost, got := streamLoss(pkts[counts[i]:])
		t.Logf("stream %d on the edge: %d packets in 8 s, %.2f%% lost", i, got, 100*lost)
		if lost > 0.005 {
			t.Errorf("stream %d on the edge lost %.2f%% of its packets (want < 0.5%%)", i, 100*lost)
		}
		if got < 8*25 { // 30 packets a second are sent
			t.Errorf("stream %d on the edge got %d packets in 8 s: frozen", i, got)
		}
	}
}
