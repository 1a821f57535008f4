package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/netsim"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/whipclient"
)

// simulcastLayers are a publisher's three layers: rid, bitrate and packet size (the size
// tells a viewer which layer a packet is from).
var simulcastLayers = []struct {
	rid     string
	bitrate int
	size    int
}{{"q", 150_000, 300}, {"h", 500_000, 700}, {"f", 1_200_000, 1100}}

// layerOf names a video packet's layer by its size ("" for none of them).
func layerOf(p received) string {
	for _, l := range simulcastLayers {
		if p.size == l.size {
			return l.rid
		}
	}
	return ""
}

type simulcastPublisher struct {
	sess   *whipclient.Session
	layers []*mediagen.Source
	audio  *mediagen.Source
}

// publishSimulcast publishes VP8 in three layers (keyframes every 2 s and on request)
// and Opus.
func publishSimulcast(t *testing.T, n *testNode, s streamInfo) *simulcastPublisher {
	t.Helper()
	return publishSimulcastAfter(t, n, s, 0)
}

// publishSimulcastAfter is publishSimulcast whose layers above the lowest start sending
// only after late, as a browser's do until its own estimate allows them.
func publishSimulcastAfter(t *testing.T, n *testNode, s streamInfo, late time.Duration) *simulcastPublisher {
	t.Helper()
	return publishSimulcastWith(t, n, s, late, nil)
}

// publishSimulcastWith is publishSimulcastAfter with each layer's source set up by
// setup (i: the layer, low to high) before it starts.
func publishSimulcastWith(t *testing.T, n *testNode, s streamInfo, late time.Duration, setup func(i int, src *mediagen.Source)) *simulcastPublisher {
	t.Helper()
	return publishSimulcastCodec(t, n, s, webrtc.MimeTypeVP8, late, setup)
}

// publishSimulcastCodec is publishSimulcastWith in another video codec (VP8 or VP9).
func publishSimulcastCodec(t *testing.T, n *testNode, s streamInfo, mime string, late time.Duration, setup func(i int, src *mediagen.Source)) *simulcastPublisher {
	t.Helper()
	api, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true, Simulcast: true, TWCC: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &simulcastPublisher{}
	var tracks []webrtc.TrackLocal
	for _, l := range simulcastLayers {
		src, err := mediagen.NewLayer(mime, l.bitrate, l.rid, l.size)
		if err != nil {
			t.Fatal(err)
		}
		src.KeyframeEvery = 60
		if setup != nil {
			setup(len(p.layers), src)
		}
		p.layers = append(p.layers, src)
		tracks = append(tracks, src.Track)
	}
	if p.audio, err = mediagen.NewOpus(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, senders, err := whipclient.PublishSimulcast(ctx, api, n.URL()+"/whip/"+s.ID, s.StreamKey, tracks, p.audio.Track)
	if err != nil {
		t.Fatalf("publish simulcast: %v", err)
	}
	p.sess = sess
	for i, src := range p.layers {
		tag, err := whipclient.LayerTagger(sess, senders[0], simulcastLayers[i].rid)
		if err != nil {
			t.Fatal(err)
		}
		src.Decorate = tag
	}
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, src := range append(append([]*mediagen.Source(nil), p.layers...), p.audio) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i > 0 && i < len(p.layers) && late > 0 {
				select {
				case <-time.After(late):
				case <-runCtx.Done():
					return
				}
			}
			src.Run(runCtx)
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); mediagen.ReadRTCPLayers(senders[0], p.layers) }()
	go func() { defer wg.Done(); p.audio.ReadRTCP(senders[1]) }()
	t.Cleanup(func() { stop(); sess.PC.Close(); wg.Wait() })
	return p
}

// serverUDP is the node's UDP address on 127.0.0.1.
func serverUDP(t *testing.T, n *testNode) netip.AddrPort {
	t.Helper()
	for _, a := range n.SFU.UDPAddrs() {
		if ap := a.(*net.UDPAddr).AddrPort(); ap.Addr().Unmap() == netip.MustParseAddr("127.0.0.1") {
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	t.Fatalf("node has no UDP address on 127.0.0.1: %v", n.SFU.UDPAddrs())
	return netip.AddrPort{}
}

// watchThrough joins as a browser-like viewer (transport-wide feedback on) whose media
// goes through a relay, the viewer's link; query is added to the WHEP URL.
func watchThrough(t *testing.T, n *testNode, s streamInfo, relay *netsim.Relay, query string) *viewer {
	t.Helper()
	api, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true, TWCC: true})
	if err != nil {
		t.Fatal(err)
	}
	v := &viewer{packets: map[string][]received{}, mimes: map[string]string{}, closed: make(chan struct{}), started: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shape := whipclient.Shape{}
	if relay != nil {
		shape.Answer = func(a string) string { return netsim.PointAnswer(a, relay.Addr()) }
	}
	sess, err := whipclient.ViewShaped(ctx, api, n.URL()+"/whep/"+s.ID+query, "", shape, v.record)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	v.sess = sess
	t.Cleanup(func() { sess.PC.Close(); v.wg.Wait() })
	return v
}

// layerSince is the layer of the newest video packet that arrived after t, and when it
// arrived; "" when none did.
func (v *viewer) layerSince(t time.Time) (string, time.Time) {
	pkts := v.snapshot("video")
	if len(pkts) == 0 || pkts[len(pkts)-1].at.Before(t) {
		return "", time.Time{}
	}
	return layerOf(pkts[len(pkts)-1]), pkts[len(pkts)-1].at
}

// waitLayer waits until the viewer's newest video packets are of layer want.
func (v *viewer) waitLayer(t *testing.T, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if got, _ := v.layerSince(time.Now().Add(-200 * time.Millisecond)); got == want {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, _ := v.layerSince(time.Now().Add(-time.Second))
	t.Fatalf("viewer on layer %q after %v, want %q", got, within, want)
	return 0
}

// checkSwitches asserts what a viewer sees across layer switches, in sequence-number
// order (retransmissions have arrived by now): the first packet of a new layer is a
// keyframe's, and it follows the old layer's last packet with the next number, so the
// numbering runs on unbroken. Switches next to a packet the link lost for good cannot
// be judged and are skipped. It returns the switches judged.
func checkSwitches(t *testing.T, pkts []received) (switches int) {
	t.Helper()
	byExt := map[int64]received{}
	var ext, maxExt int64
	for i, p := range pkts {
		if i == 0 {
			ext = 1 << 20
		} else {
			ext = maxExt + int64(int16(p.seq-uint16(maxExt)))
		}
		if _, dup := byExt[ext]; dup {
			continue
		}
		byExt[ext] = p
		maxExt = max(maxExt, ext)
	}
	first := int64(1 << 20)
	for e := range byExt {
		first = min(first, e)
	}
	prev, havePrev := received{}, false
	for e := first; e <= maxExt; e++ {
		p, ok := byExt[e]
		if !ok {
			havePrev = false // lost for good: the next switch cannot be judged
			continue
		}
		if havePrev && layerOf(p) != layerOf(prev) {
			switches++
			if !p.key {
				t.Errorf("switch %s→%s at seq %d is not on a keyframe", layerOf(prev), layerOf(p), p.seq)
			}
		}
		prev, havePrev = p, true
	}
	return switches
}

// A viewer whose link narrows moves down to a layer that fits within 2 s, to audio only
// when even the lowest layer does not, and back up when the link widens, switching only
// on keyframes with one unbroken run of sequence numbers; audio flows all along.
func TestSimulcastFollowsViewerBandwidth(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	publishSimulcast(t, n, s)
	relay, err := netsim.NewRelay(serverUDP(t, n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	v := watchThrough(t, n, s, relay, "")
	v.waitPackets(t, "video", 30, 10*time.Second)
	v.waitLayer(t, "f", 10*time.Second)

	relay.SetRate(450_000)
	took := v.waitLayer(t, "q", 8*time.Second)
	t.Logf("adapted down to q %v after the link fell to 450 kbit/s", took)
	if took > 2*time.Second {
		t.Errorf("took %v to adapt down, want under 2s", took)
	}

	relay.SetRate(120_000) // under the lowest layer: audio only
	audioBefore := len(v.snapshot("audio"))
	poll.Until(t, 8*time.Second, "video paused once the link fell below the lowest layer", func() error {
		l, _ := v.layerSince(time.Now().Add(-1500 * time.Millisecond))
		return poll.Want(l == "", "layer %q still flowing", l)
	})
	v.waitPackets(t, "audio", audioBefore+50, 3*time.Second) // audio flows on while video starves

	relay.SetRate(0)
	recovered := time.Now()
	var climb []string
	for _, l := range []string{"q", "h", "f"} { // one layer at a time, each held a second at least
		v.waitLayer(t, l, 40*time.Second)
		climb = append(climb, fmt.Sprintf("%s at %.1f s", l, time.Since(recovered).Seconds()))
	}
	t.Logf("back up after the link recovered: %s", strings.Join(climb, ", "))
	pkts := v.snapshot("video")
	if sw := checkSwitches(t, pkts); sw < 2 {
		t.Errorf("judged %d layer switches, want at least the way back up (q→h→f)", sw)
	}
}

// Viewers who joined while only the lowest layer flowed (a waiting audience, a browser
// still ramping up) get the higher layers once they start, and climb to the best.
func TestLayersStartedLaterReachViewers(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	publishSimulcastAfter(t, n, s, 4*time.Second) // past the node's wait for tracks
	v := watchThrough(t, n, s, nil, "")
	v.waitPackets(t, "video", 30, 10*time.Second)
	if got, _ := v.layerSince(time.Now().Add(-time.Second)); got != "q" {
		t.Fatalf("before the higher layers start the viewer gets %q, want q", got)
	}
	took := v.waitLayer(t, "f", 30*time.Second)
	t.Logf("on the top layer %v after joining on the lowest", took)
	checkSwitches(t, v.snapshot("video"))
}

// A viewer pins a maximum layer on join (?max_layer=low) and lifts it with a JSON PATCH
// on its WHEP session.
func TestViewerPinsMaxLayer(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	publishSimulcast(t, n, s)
	v := watchThrough(t, n, s, nil, "?max_layer=low")
	v.waitPackets(t, "video", 60, 10*time.Second)
	v.waitPackets(t, "video", 180, 10*time.Second) // long enough for a higher layer to have crept in
	for _, p := range v.snapshot("video") {
		if l := layerOf(p); l != "q" {
			t.Fatalf("viewer pinned to low got a packet of layer %q", l)
		}
	}
	req, _ := http.NewRequest("PATCH", v.sess.Location, strings.NewReader(`{"max_layer": "any"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH max_layer: %d", resp.StatusCode)
	}
	v.waitLayer(t, "f", 30*time.Second)
	checkSwitches(t, v.snapshot("video"))

	res := n.raw("POST", "/whep/"+s.ID+"?max_layer=ultra", "application/sdp", offerSDP(t, false), nil)
	expectProblem(t, "unknown layer", res, 400, "bad-max-layer")
}

// A simulcast encoder reconnecting takes over layer by layer: its viewers, on whatever
// layer they were, resume from a keyframe with one unbroken run of sequence numbers.
func TestSimulcastReconnect(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	publishSimulcast(t, n, s)
	low := watchThrough(t, n, s, nil, "?max_layer=low")
	top := watchThrough(t, n, s, nil, "")
	low.waitPackets(t, "video", 30, 10*time.Second)
	// A precondition, not what this test measures: on a busy CI machine a probe may
	// fail and back off before the viewer climbs.
	top.waitLayer(t, "f", 20*time.Second)

	publishSimulcast(t, n, s) // the same key again: takes over
	for _, v := range []*viewer{low, top} {
		v.waitPackets(t, "video", len(v.snapshot("video"))+60, 10*time.Second)
		v.waitPackets(t, "audio", len(v.snapshot("audio"))+50, 10*time.Second)
		checkAcrossSwitch(t, "audio", v.snapshot("audio"))
	}
	// Video runs on unbroken; the pinned viewer resumes on its layer.
	pkts := low.snapshot("video")
	if sw := checkAcrossSwitch(t, "video", pkts); layerOf(pkts[sw]) != "q" {
		t.Errorf("the viewer pinned to low resumed on layer %q", layerOf(pkts[sw]))
	}
	checkSwitches(t, top.snapshot("video"))
	if st := n.stream(s.ID); st.State != "live" || st.Publisher != "connected" {
		t.Errorf("after the simulcast reconnect: %+v", st)
	}
}

// A simulcast encoder restarts ICE over WHIP PATCH (RFC 9725 §4.3): viewers keep their
// layers and their media.
func TestSimulcastPublisherICERestart(t *testing.T) {
	n := startNode(t, nil)
	s := n.newStream()
	pub := publishSimulcast(t, n, s)
	v := watchThrough(t, n, s, nil, "")
	v.waitLayer(t, "f", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	etag := pub.sess.ETag
	if err := pub.sess.RestartICE(ctx); err != nil {
		t.Fatalf("publisher ICE restart: %v", err)
	}
	if pub.sess.ETag == etag {
		t.Error("ETag unchanged by the ICE restart")
	}
	v.waitPackets(t, "video", len(v.snapshot("video"))+90, 10*time.Second)
	v.waitLayer(t, "f", 5*time.Second)
	checkSwitches(t, v.snapshot("video"))
	if st := n.stream(s.ID); st.State != "live" || st.Publisher != "connected" {
		t.Errorf("after the publisher's ICE restart: %+v", st)
	}
}

// A viewer moving up simulcast layers whose encoders number their pictures apart (each
// layer's picture ids start 5,000 from the last's, as hardware encoders and GStreamer's
// payloaders do) sees one run of picture ids and TL0PICIDX: each new picture is the
// last one plus one, across every switch, in VP8 (RFC 7741) and VP9 (RFC 9628). A
// decoder that follows the ids takes a jump for lost pictures and waits for a keyframe.
func TestPictureIDsRunOnAcrossSwitches(t *testing.T) {
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeVP9} {
		t.Run(mime, func(t *testing.T) {
			n := startNode(t, nil)
			s := n.newStream()
			publishSimulcastCodec(t, n, s, mime, 0, func(i int, src *mediagen.Source) {
				src.PictureIDs = true
				src.FirstPictureID = uint16(1000+5000*i) & 0x7fff
			})
			v := watchThrough(t, n, s, nil, "?max_layer=low")
			v.waitPackets(t, "video", 60, 10*time.Second)
			v.mu.Lock()
			got := v.mimes["video"]
			v.mu.Unlock()
			if !strings.EqualFold(got, mime) {
				t.Fatalf("the viewer receives %s, want %s", got, mime)
			}
			res := n.raw("PATCH", strings.TrimPrefix(v.sess.Location, n.URL()), "application/json", `{"max_layer": "any"}`, nil)
			if res.status/100 != 2 {
				t.Fatalf("lift max_layer: %d %s", res.status, res.body)
			}
			v.waitLayer(t, "f", 20*time.Second)
			seen := len(v.snapshot("video"))
			v.waitPackets(t, "video", seen+60, 10*time.Second)

			lastPic, lastTl0, pictures, jumps := -1, -1, 0, 0
			var layers []string
			for _, p := range v.snapshot("video") {
				if p.pic < 0 {
					continue // padding
				}
				if l := layerOf(p); len(layers) == 0 || layers[len(layers)-1] != l {
					layers = append(layers, l)
				}
				if p.pic == lastPic {
					continue // the same picture's next packet
				}
				if lastPic >= 0 && (p.pic != (lastPic+1)&0x7fff || p.tl0 != (lastTl0+1)&0xff) {
					jumps++
					t.Errorf("picture %d (TL0PICIDX %d) after %d (%d), layer %s", p.pic, p.tl0, lastPic, lastTl0, layerOf(p))
				}
				lastPic, lastTl0 = p.pic, p.tl0
				pictures++
			}
			t.Logf("%s: %d pictures over layers %v, %d jumps in picture ids", mime, pictures, layers, jumps)
			if len(layers) < 3 {
				t.Errorf("layers seen %v, want q, h and f", layers)
			}
		})
	}
}
