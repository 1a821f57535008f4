package e2e

import (
	"bytes"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/poll"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTwentyViewersVP8AndOpus(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 60)

	const viewers = 20
	vs := make([]*viewer, viewers)
	var wg sync.WaitGroup
	errs := make(chan error, viewers)
	for i := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := watch(t, n, s)
			if err != nil {
				errs <- err
				return
			}
			vs[i] = v
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("viewer join: %v", err)
	}
	for _, v := range vs {
		v.waitPackets(t, "video", 60, 10*time.Second)
		v.waitPackets(t, "audio", 100, 10*time.Second)
	}
	if got := n.stream(s.ID); got.State != "live" || got.Viewers != viewers {
		t.Errorf("stream state %s with %d viewers, want live with %d", got.State, got.Viewers, viewers)
	}
	for i, v := range vs {
		if v.mimes["video"] != webrtc.MimeTypeVP8 || v.mimes["audio"] != webrtc.MimeTypeOpus {
			t.Errorf("viewer %d got codecs %v", i, v.mimes)
		}
		checkStream(t, "video", v.snapshot("video"), true)
		checkStream(t, "audio", v.snapshot("audio"), false)
	}
	if f := testutil.ToFloat64(n.Metrics.PacketsForwarded); f < viewers*160 {
		t.Errorf("packets forwarded metric = %v, want at least %d", f, viewers*160)
	}
}

// Every video codec livegate relays reaches viewers unchanged, starting at a keyframe.
func TestVideoCodecs(t *testing.T) {
	for _, mime := range []string{webrtc.MimeTypeH264, webrtc.MimeTypeVP9, webrtc.MimeTypeAV1} {
		t.Run(mime, func(t *testing.T) {
			n := startNode(t, nil)
			s := n.newStream()
			publish(t, n, s, mime, 30)
			for i := 0; i < 2; i++ {
				v := mustWatch(t, n, s)
				v.waitPackets(t, "video", 45, 10*time.Second)
				if v.mimes["video"] != mime {
					t.Fatalf("viewer codec %s, want %s", v.mimes["video"], mime)
				}
				checkStream(t, mime, v.snapshot("video"), true)
			}
		})
	}
}

// A viewer joining long after the last keyframe, when that keyframe is gone from the
// packet cache, starts at a fresh keyframe, got by PLI.
func TestLateJoinerStartsAtKeyframe(t *testing.T) {
	n := startNode(t, func(c *config.Config) { c.PacketCacheSize = 64 })
	s := n.newStream()
	pub := publish(t, n, s, webrtc.MimeTypeVP8, 0) // keyframes only on request
	first := mustWatch(t, n, s)
	// The cache of 64 packets rolls past the stream's only keyframe (the first packet),
	// and the first viewer's keyframe request is more than the PLI throttle's second old.
	first.waitPackets(t, "video", 70, 10*time.Second)
	plisBefore := pub.video.PLIs()

	late := mustWatch(t, n, s)
	late.waitPackets(t, "video", 10, 5*time.Second)
	pkts := late.snapshot("video")
	if !pkts[0].key {
		t.Fatalf("late joiner's first video packet (publisher packet %d) is not a keyframe", pkts[0].index)
	}
	if wait := pkts[0].at.Sub(late.started); wait > 2*time.Second {
		t.Errorf("late joiner waited %v for its first keyframe", wait)
	}
	if pub.video.PLIs() <= plisBefore {
		t.Errorf("publisher got no keyframe request for the late joiner")
	}
	checkStream(t, "late video", pkts, true)
}

// A viewer joining mid-GOP starts at once from the cached keyframe, fast-forwarded to the
// live edge, without asking the encoder for anything.
func TestJoinerStartsFromCachedKeyframe(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	pub := publish(t, n, s, webrtc.MimeTypeVP8, 0) // keyframes only on request
	first := mustWatch(t, n, s)
	first.waitPackets(t, "video", 30, 10*time.Second)
	cachedKey := first.snapshot("video")[0].index
	time.Sleep(1200 * time.Millisecond) // about time: the cached keyframe is over a second old
	plisBefore := pub.video.PLIs()

	late := mustWatch(t, n, s)
	late.waitPackets(t, "video", 60, 5*time.Second)
	time.Sleep(500 * time.Millisecond)
	pkts := late.snapshot("video")
	if !pkts[0].key || pkts[0].index != cachedKey {
		t.Fatalf("late joiner started on publisher packet %d (key %v), want the cached keyframe %d", pkts[0].index, pkts[0].key, cachedKey)
	}
	if got := pub.video.PLIs(); got != plisBefore {
		t.Errorf("the join sent %d keyframe requests to the publisher, want none", got-plisBefore)
	}
	checkStream(t, "late video", pkts, true)
	// At the live edge: from the first packet on, the viewer's timestamps advance with
	// the clock, not a GOP behind it. Without the fast-forward the lag would be the
	// keyframe's age (over a second).
	last := pkts[len(pkts)-1]
	media := float64(last.ts-pkts[0].ts) / 90000
	wall := last.at.Sub(pkts[0].at).Seconds()
	if lag := media - wall; lag > 0.25 {
		t.Errorf("viewer plays %.2fs behind live (timestamps span %.2fs over %.2fs)", lag, media, wall)
	}
}

// An H.264 encoder sends each keyframe as SPS, PPS and the IDR slice in packets of their
// own. A joiner's replay starts at the SPS, so that its decoder has the parameter sets:
// no keyframe request is needed, and none reaches the encoder.
func TestH264JoinerGetsTheParameterSets(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	video, err := mediagen.NewVideo(webrtc.MimeTypeH264, 300_000)
	if err != nil {
		t.Fatal(err)
	}
	video.ParameterSets = true // keyframes only on request (and the first)
	pub := publishSource(t, n, s, video)
	first := mustWatch(t, n, s)
	first.waitPackets(t, "video", 30, 10*time.Second)
	plisBefore := pub.video.PLIs()

	late := mustWatch(t, n, s)
	late.waitPackets(t, "video", 30, 5*time.Second)
	for name, v := range map[string]*viewer{"first": first, "late": late} {
		pkts := v.snapshot("video")
		var heads []byte
		for _, p := range pkts[:3] {
			heads = append(heads, p.head&0x1f)
		}
		if want := []byte{7, 8, 5}; !bytes.Equal(heads, want) {
			t.Errorf("the %s viewer's video starts with NAL units %v, want SPS, PPS, IDR %v", name, heads, want)
		}
	}
	if got := pub.video.PLIs(); got != plisBefore {
		t.Errorf("the join sent %d keyframe requests to the publisher, want none", got-plisBefore)
	}
}

// 5% loss on one viewer's path is repaired by NACKs answered from the packet cache.
func TestLossRecoveredByNACK(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	loss := &lossFactory{rate: 0.05}
	v := mustWatch(t, n, s, loss)
	v.waitPackets(t, "video", 150, 15*time.Second)
	if loss.dropped.Load() == 0 {
		t.Fatal("loss injector dropped nothing")
	}
	// Judge the stream up to the newest packet seen now, once its repairs had the time
	// they need (a repair may be lost too and asked for again): wait for that condition,
	// not a fixed time, which a busy machine stretches.
	var mark uint64
	for _, p := range v.snapshot("video") {
		mark = max(mark, p.index)
	}
	var upToMark []received
	repaired := func() bool {
		upToMark = upToMark[:0]
		seen := map[uint64]bool{}
		var first uint64 = 1 << 63
		for _, p := range v.snapshot("video") {
			if p.index <= mark {
				upToMark = append(upToMark, p)
				seen[p.index] = true
				first = min(first, p.index)
			}
		}
		return first <= mark && uint64(len(seen)) == mark-first+1
	}
	_ = poll.Wait(10*time.Second, func() error { return poll.Want(repaired(), "gaps left") }) // the check says which
	checkStreamAllowingReorder(t, upToMark)
	if r := testutil.ToFloat64(n.Metrics.Retransmits); r == 0 {
		t.Error("server retransmitted nothing")
	}
	// The viewer offered RTX (pion does), so repairs come on its RTX stream (RFC 4588).
	m := regexp.MustCompile(`a=ssrc-group:FID (\d+) (\d+)`).FindStringSubmatch(v.sess.Answer)
	if m == nil {
		t.Fatalf("answer negotiates no RTX stream:\n%s", v.sess.Answer)
	}
	rtxSSRC, _ := strconv.ParseUint(m[2], 10, 32)
	if got := loss.got(uint32(rtxSSRC)); got == 0 {
		t.Errorf("no packet arrived on the RTX stream %d", rtxSSRC)
	}
	t.Logf("dropped %d packets, server retransmitted %v, %d on RTX", loss.dropped.Load(), testutil.ToFloat64(n.Metrics.Retransmits), loss.got(uint32(rtxSSRC)))
}

// checkStreamAllowingReorder is checkStream for a lossy path, where repaired packets come
// late by design.
func checkStreamAllowingReorder(t *testing.T, pkts []received) {
	t.Helper()
	sorted := append([]received(nil), pkts...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].index < sorted[j].index })
	// Duplicates are allowed (a NACK can race the original); the set must be complete.
	dedup := sorted[:0]
	for i, p := range sorted {
		if i == 0 || p.index != sorted[i-1].index {
			dedup = append(dedup, p)
		}
	}
	checkStream(t, "lossy video", dedup, true)
}

func TestPublisherLeavingEndsViewers(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	pub := publish(t, n, s, webrtc.MimeTypeVP8, 30)
	v1, v2 := mustWatch(t, n, s), mustWatch(t, n, s)
	v1.waitPackets(t, "video", 10, 10*time.Second)
	v2.waitPackets(t, "video", 10, 10*time.Second)

	if err := pub.sess.Close(t.Context()); err != nil {
		t.Fatalf("WHIP DELETE: %v", err)
	}
	for i, v := range []*viewer{v1, v2} {
		select {
		case <-v.closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("viewer %d still connected (%v) 5s after the publisher left", i, v.state.Load())
		}
	}
	n.waitState(t, s.ID, "ended", 3*time.Second)
	if _, err := watch(t, n, s); err == nil {
		t.Fatal("a viewer could join an ended stream")
	}
	if n.WHIP.Sessions() != 0 {
		t.Errorf("%d WHIP/WHEP sessions left open", n.WHIP.Sessions())
	}
}
