package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/poll"
)

// chromiumViewJS joins a stream over WHEP from the page (?max_layer=low), keeps the
// session's URL for a PATCH, and records each poll (every 10 ms) that saw the count of
// frames (framesDecoded or framesReceived) grow: when (the page's clock), the frame's
// width, and the video bytes and packets received so far.
const chromiumViewJS = `(async (path, counter) => {
	const pc = new RTCPeerConnection();
	pc.addTransceiver("video", {direction: "recvonly"});
	pc.addTransceiver("audio", {direction: "recvonly"});
	const video = document.createElement("video");
	video.muted = true; video.autoplay = true; document.body.appendChild(video);
	const stream = new MediaStream();
	pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; };
	await pc.setLocalDescription(await pc.createOffer());
	await new Promise((done) => {
		if (pc.iceGatheringState === "complete") return done();
		pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
		setTimeout(done, 3000);
	});
	const sdp = pc.localDescription.sdp.split("\r\n")
		.filter((l) => !l.startsWith("a=candidate") || l.includes(" 127.0.0.1 ")).join("\r\n");
	const res = await fetch(path, {method: "POST", headers: {"Content-Type": "application/sdp"}, body: sdp});
	if (res.status !== 201) return "WHEP answered " + res.status + ": " + await res.text();
	window.session = new URL(res.headers.get("Location"), location.href).href;
	await pc.setRemoteDescription({type: "answer", sdp: await res.text()});
	window.decoded = [];
	let last = 0;
	setInterval(async () => {
		(await pc.getStats()).forEach((r) => {
			if (r.type === "inbound-rtp" && r.kind === "video" && (r[counter] || 0) > last) {
				last = r[counter];
				window.decoded.push([performance.now(), r.frameWidth || 0, r.bytesReceived, r.packetsReceived]);
			}
		});
	}, 10);
	return "ok";
})`

// decodedFrame is one poll that saw new frames: when, the frame's width, and the video
// bytes and packets received so far.
type decodedFrame struct {
	At             float64
	Width          int
	Bytes, Packets int
}

func readDecoded(t *testing.T, browser context.Context) []decodedFrame {
	t.Helper()
	raw, err := chromedp.Run(browser, chromedp.Evaluate[[][4]float64](`window.decoded || []`))
	if err != nil {
		t.Fatalf("read the viewer's decoded frames: %v", err)
	}
	out := make([]decodedFrame, len(raw))
	for i, r := range raw {
		out[i] = decodedFrame{At: r[0], Width: int(r[1]), Bytes: int(r[2]), Packets: int(r[3])}
	}
	return out
}

// chromiumView is a Chromium viewer of s pinned to its lowest layer (chromiumViewJS),
// counting frames by counter.
func chromiumView(t *testing.T, chromium string, n *testNode, s streamInfo, counter string) context.Context {
	t.Helper()
	view := startBrowser(t, chromium)
	if _, err := chromedp.Run(view, chromedp.Navigate(n.URL()+"/healthz")); err != nil {
		t.Fatal(err)
	}
	call := fmt.Sprintf("%s(%q, %q)", chromiumViewJS, "/whep/"+s.ID+"?max_layer=low", counter)
	if got, err := chromedp.Run(view, chromedp.Evaluate[string](call, chromedp.EvalAwaitPromise)); err != nil || got != "ok" {
		t.Fatalf("Chromium's WHEP view: %q %v", got, err)
	}
	return view
}

// liftMaxLayer PATCHes the viewer's session to any layer, and returns when (the page's
// clock).
func liftMaxLayer(t *testing.T, view context.Context) float64 {
	t.Helper()
	lifted, err := chromedp.Run(view, chromedp.Evaluate[float64](`(async () => {
		const res = await fetch(window.session, {method: "PATCH", headers: {"Content-Type": "application/json"}, body: '{"max_layer": "any"}'});
		return res.status === 204 ? performance.now() : -res.status;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || lifted < 0 {
		t.Fatalf("PATCH max_layer: %v %v", lifted, err)
	}
	return lifted
}

// A Chromium viewer of a Chromium publisher's three simulcast layers, pinned to the
// lowest and then let go, moves up layer by layer with no gap in its pictures: each
// first frame of a higher layer comes within 200 ms of the last frame of the layer
// before, and no frame waits longer than that in the seconds after.
//
// The node rewrites VP8 picture ids and TL0PICIDX per viewer across switches
// (picMunger, table-tested and fuzzed in internal/sfu). This test does not hinge on
// it: Chromium 156 here shows no gap with or without the rewrite, a browser publisher
// numbering its layers' pictures as one sequence, and Chromium's frame buffer taking a
// keyframe with an older picture id but a newer timestamp as a restart. The freeze
// the issue reported (6-8 s with no frame) did not reproduce here.
func TestBrowserSwitchesUpWithoutAGap(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, nil)
	s := n.newStream()
	pub := startBrowser(t, chromium)
	chromiumPublish(t, pub, n, s, true)
	var st streamTracks
	poll.Until(t, 25*time.Second, "the three layers flowing", func() error {
		n.call("GET", "/v1/streams/"+s.ID, nil, &st)
		flowing := map[string]bool{}
		for _, tr := range st.Tracks {
			if tr.Kind == "video" && tr.Bitrate > 0 {
				flowing[tr.RID] = true
			}
		}
		return poll.Want(flowing["q"] && flowing["h"] && flowing["f"], "tracks %+v", st.Tracks)
	})

	view := chromiumView(t, chromium, n, s, "framesDecoded")
	poll.Until(t, 20*time.Second, "60 frames of the lowest layer decoded", func() error {
		fr := readDecoded(t, view)
		return poll.Want(len(fr) >= 60 && fr[len(fr)-1].Width > 0 && fr[len(fr)-1].Width <= 320, "%d polls, last %+v", len(fr), fr[max(len(fr)-1, 0):])
	})
	lifted := liftMaxLayer(t, view)
	var top float64
	poll.Until(t, 30*time.Second, "frames of the 1280-wide layer decoded", func() error {
		for _, f := range readDecoded(t, view) {
			if f.At > lifted && f.Width >= 1280 {
				top = f.At
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	// About time: the seconds after reaching the top layer, where a viewer whose
	// picture ids jumped saw nothing.
	time.Sleep(3 * time.Second)
	frames := readDecoded(t, view)
	var switches []string
	worst := 0.0
	for i := 1; i < len(frames); i++ {
		prev, f := frames[i-1], frames[i]
		if f.At <= lifted {
			continue
		}
		gap := f.At - prev.At
		worst = max(worst, gap)
		if f.Width != prev.Width {
			switches = append(switches, fmt.Sprintf("%d->%d px after %.0f ms", prev.Width, f.Width, gap))
			if f.Width > prev.Width && gap > 200 {
				t.Errorf("moving up %d -> %d px: the first frame came %.0f ms after the last one", prev.Width, f.Width, gap)
			}
		}
	}
	t.Logf("figures: top layer %.0f ms after the lift; switches: %v; longest wait between frames after the lift %.0f ms", top-lifted, switches, worst)
	if len(switches) == 0 {
		t.Fatal("no switch seen")
	}
	if worst > 200 {
		t.Errorf("a frame waited %.0f ms after the lift (want none over 200 ms)", worst)
	}
}

// The same through a publisher whose layers number their pictures each from a start of
// its own, as GStreamer's rtpvp8pay and hardware encoders do (a browser shares one
// numbering across its layers): each higher layer's picture ids here run 5,000 behind
// the layer below, and Chromium goes on assembling frames across each switch. Its media
// is synthetic (mediagen), so frames are counted as Chromium assembles them
// (framesReceived), not decoded, and the layer is told by packet size. As above,
// Chromium here also keeps assembling without the node's rewrite.
func TestBrowserFollowsPictureIDsAcrossSwitches(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, nil)
	s := n.newStream()
	publishSimulcastWith(t, n, s, 0, func(i int, src *mediagen.Source) {
		src.PictureIDs = true
		src.FirstPictureID = uint16(1000-5000*i) & 0x7fff
	})
	view := chromiumView(t, chromium, n, s, "framesReceived")
	poll.Until(t, 20*time.Second, "60 frames of the lowest layer", func() error {
		return poll.Want(len(readDecoded(t, view)) >= 60, "%d", len(readDecoded(t, view)))
	})
	lifted := liftMaxLayer(t, view)
	var reached float64
	poll.Until(t, 30*time.Second, "frames of the top layer", func() error {
		fr := readDecoded(t, view)
		for i := 1; i < len(fr); i++ {
			if fr[i].At > lifted && layerBySize(fr[i-1], fr[i]) == "f" {
				reached = fr[i].At
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	// About time: the seconds after reaching the top layer, where a viewer whose
	// picture ids jumped assembled nothing.
	time.Sleep(3 * time.Second)
	fr := readDecoded(t, view)
	worst, layers := 0.0, []string{}
	for i := 1; i < len(fr); i++ {
		if fr[i].At <= lifted {
			continue
		}
		worst = max(worst, fr[i].At-fr[i-1].At)
		if l := layerBySize(fr[i-1], fr[i]); l != "" && (len(layers) == 0 || layers[len(layers)-1] != l) {
			layers = append(layers, l)
		}
	}
	t.Logf("figures: top layer %.0f ms after the lift; layers %v; longest wait between frames after the lift %.0f ms", reached-lifted, layers, worst)
	if worst > 200 {
		t.Errorf("a frame waited %.0f ms after the lift (want none over 200 ms)", worst)
	}
}

// layerBySize names the layer of the packets received between two polls by their mean
// size (simulcastLayers' sizes, plus what RTP headers and the descriptor add).
func layerBySize(a, b decodedFrame) string {
	if b.Packets <= a.Packets {
		return ""
	}
	mean := (b.Bytes - a.Bytes) / (b.Packets - a.Packets)
	best, dist := "", 1<<30
	for _, l := range simulcastLayers {
		if d := abs(mean - l.size); d < dist {
			best, dist = l.rid, d
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
