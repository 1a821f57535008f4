package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/store"
	"github.com/livegate/livegate/internal/testservices"
)

func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LIVEGATE_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testservices.Missing(t, "Chromium", exec.ErrNotFound)
	return ""
}

// A real browser opens the viewer page, asks for access and plays the stream over WHEP.
// Chromium offers only loopback candidates (the page's ?loopback=1), without mDNS.
func TestBrowserWatchesOverWHEP(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, nil)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)

	browser := startBrowser(t, chromium)
	if _, err := chromedp.Run(browser, chromedp.Navigate(n.URL()+"/watch/"+s.ID+"?loopback=1")); err != nil {
		t.Fatalf("open the viewer page: %v", err)
	}
	got := waitBrowserMedia(t, browser)
	if got.State != "connected" || got.Status != "Live" {
		t.Fatalf("browser state %+v", got)
	}
	t.Logf("Chromium received %d video and %d audio packets (%d frames assembled)", got.Video, got.Audio, got.Frames)
}

// startBrowser runs a headless Chromium for the test, loopback-only for WebRTC.
func startBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// A fake camera and microphone, granted without a prompt (the studio's getUserMedia).
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancel() })
	return browser
}

type browserStats struct {
	State  string `json:"state"`
	Video  int    `json:"video"`
	Audio  int    `json:"audio"`
	Frames int    `json:"frames"`
	Status string `json:"status"`
}

// waitBrowserMedia waits until the page's peer connection has received media.
func waitBrowserMedia(t *testing.T, browser context.Context) browserStats {
	t.Helper()
	const inbound = `(async () => {
		const pc = window.livegatePC;
		if (!pc) return {state: "none", video: 0, audio: 0, status: document.getElementById("status").textContent};
		const out = {state: pc.connectionState, video: 0, audio: 0, frames: 0, status: document.getElementById("status").textContent};
		(await pc.getStats()).forEach((r) => {
			if (r.type === "inbound-rtp") { out[r.kind] = r.packetsReceived; if (r.kind === "video") out.frames = r.framesReceived || 0; }
		});
		return out;
	})()`
	var got browserStats
	poll.Until(t, 20*time.Second, "60 video and 50 audio packets in the browser", func() error {
		var err error
		got, err = chromedp.Run(browser, chromedp.Evaluate[browserStats](inbound, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("read the browser's stats: %v", err)
		}
		return poll.Want(got.Video >= 60 && got.Audio >= 50, "%+v", got)
	})
	return got
}

// A viewer in a browser logs in (development login), meets the paywall, buys through the
// development checkout, and then watches.
func TestBrowserBuysAndWatches(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) { c.DefaultCountry = "MA" })
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	// The creator goes live from Chromium's fake camera in the first tab: real frames,
	// which the viewer's video element, in a tab of its own, decodes and plays.
	creator := startBrowser(t, chromium)
	chromiumPublish(t, creator, n, s, false)
	browser, cancelViewer := chromedp.NewContext(creator)
	defer cancelViewer()

	watch := n.URL() + "/watch/" + s.ID + "?loopback=1"
	card := `a[data-stream="` + s.ID + `"]`
	if err := chromedp.Do(browser,
		chromedp.Navigate(n.URL()+"/dev/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name="viewer_id"]`), "browser-viewer"),
		chromedp.Submit(chromedp.CSS(`input[name="viewer_id"]`)),
		chromedp.WaitVisible(chromedp.ID("token")),
		// The viewer finds the stream in the catalog, with its creator and local price.
		chromedp.Navigate(n.URL()+"/?loopback=1"),
		chromedp.WaitVisible(chromedp.CSS(card)),
	); err != nil {
		t.Fatalf("login and catalog: %v", err)
	}
	entry, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS(card)))
	for _, want := range []string{"Gnawa night", "by Yasmine", "Ticket", "MAD 49.00"} {
		if !strings.Contains(entry, want) {
			t.Errorf("the catalog shows the stream as %q, without %q", entry, want)
		}
	}
	screenshots(t, browser, "catalog")
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(card)), chromedp.WaitVisible(chromedp.ID("paywall"))); err != nil {
		t.Fatalf("from the catalog to the paywall: %v", err)
	}
	price, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("price")))
	if err != nil {
		t.Fatal(err)
	}
	if price != "Watch for MAD 49.00" {
		t.Fatalf("paywall says %q", price)
	}
	heading, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.getElementById("title").textContent + " / " + document.getElementById("creator").textContent`))
	if heading != "Gnawa night / by Yasmine" {
		t.Errorf("the viewer page shows %q, want the title and the creator", heading)
	}
	screenshots(t, browser, "paywall")
	step := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, a); err != nil {
			loc, _ := chromedp.Run(browser, chromedp.Location())
			body, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v (at %s: %q)", what, err, loc, body)
		}
	}
	step("buy", chromedp.Click(chromedp.ID("buy")))
	step("checkout page", chromedp.WaitVisible(chromedp.CSS(`form[action$="/pay"] button`)))
	step("pay", chromedp.Click(chromedp.CSS(`form[action$="/pay"] button`)))
	poll.Until(t, 10*time.Second, "the checkout completed", func() error {
		body, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.body.innerText`))
		return poll.Want(strings.Contains(body, "This checkout is completed"), "the page says %q", body)
	})
	step("back to the stream", chromedp.Navigate(watch))
	got := waitBrowserMedia(t, browser)
	if got.State != "connected" || got.Status != "Live" {
		t.Fatalf("after buying: %+v", got)
	}
	waitPlaying(t, browser)
	screenshots(t, browser, "watching")
}

// waitJS waits until the page's js expression is true.
func waitJS(t *testing.T, browser context.Context, what, js string, within time.Duration) {
	t.Helper()
	poll.Until(t, within, what, func() error {
		ok, err := chromedp.Run(browser, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return nil
		}
		body, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.body.innerText`))
		return fmt.Errorf("%v; the page says %q", err, body)
	})
}

// waitPlaying waits until the page's video element shows frames: a width, and a
// current time that advances.
func waitPlaying(t *testing.T, browser context.Context) {
	t.Helper()
	type playback struct {
		Width int     `json:"width"`
		Time  float64 `json:"time"`
	}
	read := func() playback {
		p, err := chromedp.Run(browser, chromedp.Evaluate[playback](
			`(() => { const v = document.getElementById("video"); return {width: v.videoWidth, time: v.currentTime}; })()`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := read()
	poll.Until(t, 10*time.Second, "the video playing", func() error {
		now := read()
		return poll.Want(now.Width > 0 && now.Time > first.Time, "%+v then %+v", first, now)
	})
}

// screenshots saves the page at a desktop's and a phone's width as test artifacts, in
// $LIVEGATE_ARTIFACTS (default: artifacts/screenshots at the repository's root), and audits
// its accessibility at each width.
func screenshots(t *testing.T, browser context.Context, name string) {
	t.Helper()
	dir := os.Getenv("LIVEGATE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		if err := chromedp.Do(browser, chromedp.EmulateViewport(size.width, size.height, opts...)); err != nil {
			t.Fatal(err)
		}
		audit(t, browser, name+" at "+size.name+" width")
		shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, t.Name()+"-"+name+"-"+size.name+".png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_ = chromedp.Do(browser, chromedp.EmulateReset())
}

// chromiumPublishJS publishes a 1280×720 canvas in three simulcast layers (q, h, f) and
// a tone over WHIP from the page's origin, offering only 127.0.0.1 candidates.
const chromiumPublishJS = `(async (path, key, layers = true, red = true) => {
	const canvas = document.createElement("canvas");
	canvas.width = 1280; canvas.height = 720;
	const g = canvas.getContext("2d");
	let f = 0;
	window.paint = setInterval(() => {
		f++;
		g.fillStyle = "hsl(" + (f * 7 % 360) + ",70%,45%)"; g.fillRect(0, 0, 1280, 720);
		for (let i = 0; i < 40; i++) { g.fillStyle = "hsl(" + ((f + i * 37) % 360) + ",80%,60%)"; g.fillRect((f * 9 + i * 131) % 1280, (i * 97) % 720, 90, 60); }
		g.fillStyle = "#fff"; g.font = "80px sans-serif"; g.fillText(String(f), 40, 120);
	}, 33);
	const video = canvas.captureStream(30).getVideoTracks()[0];
	const ac = new AudioContext();
	const osc = ac.createOscillator();
	const dst = ac.createMediaStreamDestination();
	osc.connect(dst); osc.start();
	const pc = new RTCPeerConnection();
	pc.addTransceiver(video, layers ? {direction: "sendonly", sendEncodings: [
		{rid: "q", scaleResolutionDownBy: 4, maxBitrate: 200000},
		{rid: "h", scaleResolutionDownBy: 2, maxBitrate: 600000},
		{rid: "f", maxBitrate: 1500000},
	]} : {direction: "sendonly"});
	pc.addTransceiver(dst.stream.getAudioTracks()[0], {direction: "sendonly"});
	await pc.setLocalDescription(await pc.createOffer());
	await new Promise((done) => {
		if (pc.iceGatheringState === "complete") return done();
		pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
		setTimeout(done, 3000);
	});
	let sdp = pc.localDescription.sdp.split("\r\n")
		.filter((l) => !l.startsWith("a=candidate") || l.includes(" 127.0.0.1 ")).join("\r\n");
	if (!red) {
		// An encoder that sends plain Opus (OBS): RED left out of the offer.
		for (const [, pt] of sdp.matchAll(/a=rtpmap:(\d+) red\/48000/g)) {
			sdp = sdp.split("\r\n").filter((l) => !["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"].some((a) => l.startsWith(a + pt + " ")))
				.map((l) => l.startsWith("m=audio") ? l.split(" ").filter((x, i) => i < 3 || x !== pt).join(" ") : l).join("\r\n");
		}
	}
	const res = await fetch(path, {method: "POST", headers: {"Content-Type": "application/sdp", "Authorization": "Bearer " + key}, body: sdp});
	if (res.status !== 201) return "WHIP answered " + res.status + ": " + await res.text();
	await pc.setRemoteDescription({type: "answer", sdp: await res.text()});
	window.publisherPC = pc;
	return "ok";
})`

// chromiumPublish makes the browser's first tab publish to s from the node's origin, in
// three simulcast layers or one.
func chromiumPublish(t *testing.T, browser context.Context, n *testNode, s streamInfo, layers bool) {
	t.Helper()
	chromiumPublishAudio(t, browser, n, s, layers, true)
}

// chromiumPublishAudio is chromiumPublish offering RED for its audio or not.
func chromiumPublishAudio(t *testing.T, browser context.Context, n *testNode, s streamInfo, layers, red bool) {
	t.Helper()
	if _, err := chromedp.Run(browser, chromedp.Navigate(n.URL()+"/healthz")); err != nil {
		t.Fatal(err)
	}
	call := fmt.Sprintf("%s(%q, %q, %t, %t)", chromiumPublishJS, "/whip/"+s.ID, s.StreamKey, layers, red)
	got, err := chromedp.Run(browser, chromedp.Evaluate[string](call, chromedp.EvalAwaitPromise))
	if err != nil || got != "ok" {
		t.Fatalf("Chromium's WHIP publish: %q %v", got, err)
	}
}

// Chromium publishes three simulcast layers over WHIP; the node takes all three, a
// Chromium viewer decodes the stream, and pion viewers get the layer they ask for.
func TestBrowserPublishesSimulcast(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, nil)
	s := n.newStream()
	browser := startBrowser(t, chromium)
	chromiumPublish(t, browser, n, s, true)

	// Chromium's own estimate ramps up over a few seconds; the higher layers follow.
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
	t.Logf("publisher tracks: %+v", st.Tracks)

	low := watchThrough(t, n, s, nil, "?max_layer=low")
	high := watchThrough(t, n, s, nil, "")
	low.waitPackets(t, "video", 60, 10*time.Second)
	high.waitPackets(t, "video", 60, 10*time.Second)
	lowRate, highRate := videoRate(low, 2*time.Second), videoRate(high, 2*time.Second)
	if lowRate == 0 || highRate < 2*lowRate {
		t.Errorf("pion viewers: low layer %d bit/s, unpinned %d bit/s; want the unpinned one well above", lowRate, highRate)
	}

	viewer, cancel := chromedp.NewContext(browser)
	defer cancel()
	if _, err := chromedp.Run(viewer, chromedp.Navigate(n.URL()+"/watch/"+s.ID+"?loopback=1")); err != nil {
		t.Fatalf("open the viewer page: %v", err)
	}
	const decoded = `(async () => {
		const pc = window.livegatePC;
		const out = {frames: 0, width: 0};
		if (!pc) return out;
		(await pc.getStats()).forEach((r) => {
			if (r.type === "inbound-rtp" && r.kind === "video") { out.frames = r.framesDecoded || 0; out.width = r.frameWidth || 0; }
		});
		return out;
	})()`
	type frames struct {
		Frames int `json:"frames"`
		Width  int `json:"width"`
	}
	var fr frames
	poll.Until(t, 20*time.Second, "60 frames of the 1280-wide layer decoded by Chromium", func() error {
		var err error
		if fr, err = chromedp.Run(viewer, chromedp.Evaluate[frames](decoded, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		return poll.Want(fr.Frames >= 60 && fr.Width >= 1280, "%+v", fr)
	})
	t.Logf("Chromium viewer decoded %d frames, %d px wide", fr.Frames, fr.Width)
}

type streamTracks struct {
	Tracks []struct {
		Kind    string `json:"kind"`
		RID     string `json:"rid"`
		Bitrate int64  `json:"bitrate"`
	} `json:"tracks"`
}

// videoRate is the viewer's video payload bit rate over the last window.
func videoRate(v *viewer, window time.Duration) int {
	time.Sleep(window) // about time: a rate over the window
	from := time.Now().Add(-window)
	bytes := 0
	for _, p := range v.snapshot("video") {
		if p.at.After(from) {
			bytes += p.size
		}
	}
	return int(float64(bytes*8) / window.Seconds())
}

// Chromium's first decoded frame, from the WHEP answer to the first frame the page
// decodes, over ten joins while another Chromium tab publishes real VP8 (a canvas):
// logged for docs/BENCHMARKS.md, and each join must decode a frame.
func TestBrowserFirstFrame(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, nil)
	s := n.newStream()
	browser := startBrowser(t, chromium)
	chromiumPublish(t, browser, n, s, false)
	n.waitLive(t, s.ID)
	type times struct {
		Answered   float64 `json:"answered"`
		FirstFrame float64 `json:"firstFrame"`
	}
	var waits []float64
	for i := range 10 {
		time.Sleep(time.Duration(137*i%700) * time.Millisecond) // about time: joins spread across the GOP
		tab, cancel := chromedp.NewContext(browser)
		if _, err := chromedp.Run(tab, chromedp.Navigate(n.URL()+"/watch/"+s.ID+"?loopback=1")); err != nil {
			cancel()
			t.Fatalf("open the viewer page: %v", err)
		}
		// The page stamps its own times; how often they are read changes nothing.
		var got times
		poll.Until(t, 10*time.Second, fmt.Sprintf("join %d: a frame shown", i), func() error {
			var err error
			if got, err = chromedp.Run(tab, chromedp.Evaluate[times](`window.livegateTimes || {}`)); err != nil {
				t.Fatal(err)
			}
			if got.FirstFrame != 0 {
				return nil
			}
			dbg, _ := chromedp.Run(tab, chromedp.Evaluate[string](`(async () => { let o = ""; (await window.livegatePC.getStats()).forEach((r) => { if (r.type === "inbound-rtp") o += r.kind + ":" + r.framesDecoded + "/" + r.packetsReceived + " "; }); return o + document.getElementById("status").textContent; })()`, chromedp.EvalAwaitPromise))
			return fmt.Errorf("%+v (%s)", got, dbg)
		})
		cancel()
		waits = append(waits, got.FirstFrame-got.Answered)
	}
	sort.Float64s(waits)
	t.Logf("Chromium first frame after the WHEP answer over %d joins: p50 %.0f ms, max %.0f ms (all: %.0f)",
		len(waits), waits[len(waits)/2], waits[len(waits)-1], waits)
}

// A viewer page that meets a full node says so, waits the Retry-After it was given, and
// plays on its own once there is room.
func TestBrowserWaitsForRoomOnAFullNode(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) { c.MaxViewers = 1 })
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	first := mustWatch(t, n, s)
	first.waitPackets(t, "video", 5, 5*time.Second)

	browser := startBrowser(t, chromium)
	if _, err := chromedp.Run(browser, chromedp.Navigate(n.URL()+"/watch/"+s.ID+"?loopback=1")); err != nil {
		t.Fatalf("open the viewer page: %v", err)
	}
	poll.Until(t, 10*time.Second, "the page on a full node saying it is trying again", func() error {
		st, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(st, "trying again in") {
			t.Logf("the page says: %s", st)
			return nil
		}
		return fmt.Errorf("it shows %q", st)
	})
	first.sess.PC.Close() // room for one
	got := waitBrowserMedia(t, browser)
	if got.State != "connected" || got.Status != "Live" {
		t.Fatalf("browser state %+v", got)
	}
}

// The viewer page watches from an edge; the edge is killed outright; the page reconnects
// on its own to another node of the fleet and plays again.
func TestBrowserMovesToAnotherNodeWhenItsNodeDies(t *testing.T) {
	chromium := chromiumPath(t)
	for _, how := range []string{"killed", "drained"} { // SIGKILL, or SIGTERM's drain
		t.Run(how, func(t *testing.T) {
			fleet := newProcessFleet(t, "--session-ttl", "3s", "--shutdown-grace", "2s")
			a, b, c := fleet.start("node-a"), fleet.start("node-b"), fleet.start("node-c")
			s := a.newStream()
			publish(t, a, s, webrtc.MimeTypeVP8, 30)

			browser := startBrowser(t, chromium)
			if _, err := chromedp.Run(browser, chromedp.Navigate(b.URL()+"/watch/"+s.ID+"?loopback=1")); err != nil {
				t.Fatalf("open the viewer page: %v", err)
			}
			waitBrowserMedia(t, browser)
			if how == "killed" {
				b.proc.Kill()
			} else {
				b.proc.Terminate()
			}
			gone := time.Now()
			poll.Until(t, 30*time.Second, "the page watching from another node after its node "+how, func() error {
				on, err := chromedp.Run(browser, chromedp.Evaluate[string](`window.livegateNode || ""`))
				if err != nil {
					t.Fatal(err)
				}
				if on == a.URL() || on == c.URL() {
					t.Logf("the page moved to %s %v after its node was %s", on, time.Since(gone).Round(100*time.Millisecond), how)
					return nil
				}
				st, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
				return fmt.Errorf("it watches from %q (status %q)", on, st)
			})
			got := waitBrowserMedia(t, browser)
			if got.State != "connected" || got.Status != "Live" {
				t.Fatalf("after moving: %+v", got)
			}
		})
	}
}

// The pages speak the viewer's language (French and Arabic besides English, from one
// table of strings), and Arabic turns the layout right to left.
func TestBrowserPagesInFrenchAndArabic(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) { c.DefaultCountry = "MA" })
	n.launchCountries()
	n.ticketStream("MA", map[string]int64{"MAD": 4900})
	browser := startBrowser(t, chromium)
	type page struct {
		Dir     string `json:"dir"`
		Lang    string `json:"lang"`
		Heading string `json:"heading"`
		Badge   string `json:"badge"`
	}
	for lang, want := range map[string]page{
		"fr": {Dir: "ltr", Lang: "fr", Heading: "Directs", Badge: "Billet"},
		"ar": {Dir: "rtl", Lang: "ar", Heading: "البث المباشر", Badge: "تذكرة"},
	} {
		if err := chromedp.Do(browser, chromedp.Navigate(n.URL()+"/?lang="+lang), chromedp.WaitVisible(chromedp.CSS(".badge"))); err != nil {
			t.Fatalf("%s catalog: %v", lang, err)
		}
		got, err := chromedp.Run(browser, chromedp.Evaluate[page](`({dir: document.documentElement.dir, lang: document.documentElement.lang,
			heading: document.querySelector("h1").textContent, badge: document.querySelector(".badge").textContent})`))
		if err != nil || got != want {
			t.Errorf("catalog in %s: %+v (%v), want %+v", lang, got, err, want)
		}
		screenshots(t, browser, "catalog-"+lang)
	}
	// The studio and the console in Arabic: right to left, every string translated (the
	// tables are checked complete by internal/web's tests), and the studio usable from the
	// keyboard alone.
	var c struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Yasmine", "country": "MA"}, &c)
	var tok struct{ Token string }
	if st := n.call("POST", "/v1/admin/dev/tokens", map[string]any{"viewer_id": "yasmine-user", "role": "creator", "creator_id": c.ID}, &tok); st != 201 {
		t.Fatalf("mint a creator token: %d", st)
	}
	if err := chromedp.Do(browser,
		chromedp.Evaluate[chromedp.Void](`localStorage.setItem("livegate_creator_token", `+strconv.Quote(tok.Token)+`)`),
		chromedp.Navigate(n.URL()+"/studio?lang=ar"),
		chromedp.WaitVisible(chromedp.ID("create-form")),
	); err != nil {
		t.Fatalf("studio in Arabic: %v", err)
	}
	waitJS(t, browser, "the studio's price rows", `document.querySelectorAll("#prices input[data-currency]").length === 3`, 10*time.Second)
	got, err := chromedp.Run(browser, chromedp.Evaluate[page](`({dir: document.documentElement.dir, lang: document.documentElement.lang,
		heading: document.querySelector("h1").textContent, badge: document.getElementById("create-btn").textContent})`))
	if want := (page{Dir: "rtl", Lang: "ar", Heading: "الاستوديو", Badge: "إنشاء"}); err != nil || got != want {
		t.Errorf("studio in Arabic: %+v (%v), want %+v", got, err, want)
	}
	screenshots(t, browser, "studio-ar")
	// Tab from the top of the page reaches the title first; typing and Enter create the stream.
	if err := chromedp.Do(browser, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		focused, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.activeElement.id`))
		if focused == "title" {
			break
		}
		if err := chromedp.Do(browser, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(browser, chromedp.KeyEvent("Keyboard show"), chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.ID("golive"))); err != nil {
		t.Fatalf("create a stream from the keyboard: %v", err)
	}
	var listed struct{ Streams []struct{ Title string } }
	if n.call("GET", "/v1/streams?creator_id="+c.ID, nil, &listed); len(listed.Streams) != 1 || listed.Streams[0].Title != "Keyboard show" {
		t.Errorf("the stream created from the keyboard: %+v", listed.Streams)
	}
	if err := chromedp.Do(browser, chromedp.Navigate(n.URL()+"/admin?lang=ar"),
		chromedp.SendKeys(chromedp.ID("key"), testAPIKey), chromedp.Click(chromedp.ID("use-key"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, browser, "the console's countries", `document.querySelectorAll("#countries tr").length === 3`, 10*time.Second)
	got, err = chromedp.Run(browser, chromedp.Evaluate[page](`({dir: document.documentElement.dir, lang: document.documentElement.lang,
		heading: document.querySelector("h1").textContent, badge: document.querySelector("#countries .save").textContent})`))
	if want := (page{Dir: "rtl", Lang: "ar", Heading: "لوحة التشغيل", Badge: "حفظ"}); err != nil || got != want {
		t.Errorf("console in Arabic: %+v (%v), want %+v", got, err, want)
	}
	screenshots(t, browser, "console-ar")
}

// A creator signs in to the studio, creates a stream, goes live from the (fake) camera
// and microphone, sees a viewer arrive, and ends the stream.
func TestBrowserStudioGoesLive(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) { c.DefaultCountry = "MA" })
	n.launchCountries()
	n.setCountry("MA", map[string]any{"min_tip": 1000, "max_tip": 50000})
	var c struct{ ID string }
	if st := n.call("POST", "/v1/creators", map[string]any{"name": "Yasmine", "country": "MA"}, &c); st != 201 {
		t.Fatalf("create creator: %d", st)
	}
	browser := startBrowser(t, chromium)
	wait := func(what, js string, within time.Duration) { t.Helper(); waitJS(t, browser, what, js, within) }
	if err := chromedp.Do(browser,
		chromedp.Navigate(n.URL()+"/dev/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name="viewer_id"]`), "yasmine-user"),
		chromedp.SendKeys(chromedp.CSS(`input[name="creator_id"]`), c.ID),
		chromedp.Submit(chromedp.CSS(`input[name="viewer_id"]`)),
		chromedp.WaitVisible(chromedp.ID("studio")),
		chromedp.Navigate(n.URL()+"/studio?loopback=1"),
		chromedp.WaitVisible(chromedp.ID("create-form")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	// The studio prices the stream in every currency an enabled country sells in.
	wait("the price rows", `document.querySelectorAll("#prices input[data-currency]").length === 3`, 10*time.Second)
	if err := chromedp.Do(browser,
		chromedp.SendKeys(chromedp.ID("title"), "Sunday show"),
		chromedp.SetValue(chromedp.ID("access"), "ticket"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("access").dispatchEvent(new Event("change"))`),
		chromedp.WaitVisible(chromedp.ID("ticket-MAD")),
		chromedp.SendKeys(chromedp.ID("ticket-MAD"), "5"), // under Morocco's MAD 10.00
		chromedp.SendKeys(chromedp.ID("ticket-ZAR"), "120"),
		chromedp.Click(chromedp.ID("create-btn")),
	); err != nil {
		t.Fatalf("create with a price out of bounds: %v", err)
	}
	wait("the error next to the MAD price", `document.getElementById("ticket-MAD-error").textContent.includes("10.00")`, 5*time.Second)
	var listed struct{ Streams []streamInfo }
	if n.call("GET", "/v1/streams?creator_id="+c.ID, nil, &listed); len(listed.Streams) != 0 {
		t.Errorf("a price out of bounds created a stream anyway: %+v", listed.Streams)
	}
	screenshots(t, browser, "studio-price-error")
	if err := chromedp.Do(browser,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("ticket-MAD").value = ""`),
		chromedp.SendKeys(chromedp.ID("ticket-MAD"), "49,50"),
		chromedp.Click(chromedp.ID("create-btn")),
		chromedp.WaitVisible(chromedp.ID("golive")),
	); err != nil {
		t.Fatalf("create: %v", err)
	}
	wait("the camera preview", `document.getElementById("preview-video").videoWidth > 0`, 10*time.Second)
	who, _ := chromedp.Run(browser, chromedp.Text(chromedp.ID("who")))
	if who != "Yasmine" {
		t.Errorf("the studio signs in as %q", who)
	}
	// The studio's token is Yasmine's: another creator's stream is refused to it.
	var other struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Omar", "country": "MA"}, &other)
	var omars streamInfo
	n.call("POST", "/v1/streams", map[string]any{"creator_id": other.ID, "title": "Omar live"}, &omars)
	refused, err := chromedp.Run(browser, chromedp.Evaluate[string](`fetch("/v1/streams/`+omars.ID+`", {method: "DELETE",
		headers: {Authorization: "Bearer " + localStorage.getItem("livegate_creator_token")}}).then(async (r) => r.status + " " + (await r.json()).type)`,
		chromedp.EvalAwaitPromise))
	if err != nil || refused != "403 /problems/forbidden" {
		t.Errorf("the studio's token on another creator's stream: %q %v", refused, err)
	}
	if st := n.stream(omars.ID); st.State != "scheduled" {
		t.Errorf("another creator's stream after the refused call: %+v", st)
	}
	if err := chromedp.Do(browser, chromedp.Click(chromedp.ID("golive"))); err != nil {
		t.Fatal(err)
	}
	wait("live", `window.livegateStudioState === "live"`, 15*time.Second)
	id, _ := chromedp.Run(browser, chromedp.Evaluate[string](`window.livegateStudioStream`))
	s := n.stream(id)
	if s.State != "live" || s.Publisher != "connected" {
		t.Fatalf("the studio's stream: %+v", s)
	}
	var prices struct {
		Prices map[string]struct{ Amount int64 }
	}
	n.call("GET", "/v1/streams/"+id+"/prices", nil, &prices)
	if len(prices.Prices) != 2 || prices.Prices["MAD"].Amount != 4950 || prices.Prices["ZAR"].Amount != 12000 {
		t.Errorf("the prices the studio saved: %+v, want MAD 4950 and ZAR 12000", prices.Prices)
	}
	var created struct {
		Record bool `json:"record"`
	}
	if n.call("GET", "/v1/streams/"+id, nil, &created); !created.Record {
		t.Error("the studio's ticket stream is not recorded for replays")
	}
	// A viewer in Morocco buys and watches; the studio counts them.
	b := n.buyer("viewer-ma", "")
	co := b.checkout("/v1/streams/" + id + "/checkout")
	if r := n.raw("POST", "/dev/checkout/"+co.ID+"/pay", "", "", map[string]string{"Accept": "application/json"}); r.status != 200 {
		t.Fatalf("the development checkout: %d %s", r.status, r.body)
	}
	v := mustWatchToken(t, n, s, b.mustAccess(id).PlaybackToken)
	v.waitPackets(t, "video", 30, 10*time.Second)
	wait("the studio's viewer count", `window.livegateStudioViewers === 1`, 10*time.Second)
	// The viewer tips; the studio shows it once its payment is in, and once.
	r := b.postJSON("/v1/streams/"+id+"/tips", map[string]any{"amount": 2500, "message": "Bravo"})
	var tip checkoutInfo
	if err := json.Unmarshal([]byte(r.body), &tip); err != nil || r.status != 201 {
		t.Fatalf("tip: %d %s", r.status, r.body)
	}
	if r := n.raw("POST", "/dev/checkout/"+tip.ID+"/pay", "", "", map[string]string{"Accept": "application/json"}); r.status != 200 {
		t.Fatalf("paying the tip: %d %s", r.status, r.body)
	}
	wait("the tip in the studio", `window.livegateStudioTips === 1 && document.getElementById("tiplist").textContent.includes("A tip of MAD 25.00 · Bravo") && !document.getElementById("tiplist").textContent.includes("viewer-ma")`, 5*time.Second)
	// The creator makes a promo code for this stream in the studio; a viewer's checkout
	// takes it off.
	wait("the stream in the promo form", `!!document.querySelector('#promo-stream option[value="`+id+`"]')`, 10*time.Second)
	if err := chromedp.Do(browser,
		chromedp.SendKeys(chromedp.ID("promo-code"), "sunday20"),
		chromedp.SendKeys(chromedp.ID("promo-percent"), "20"),
		chromedp.SendKeys(chromedp.ID("promo-max"), "5"),
		chromedp.SetValue(chromedp.ID("promo-stream"), id),
		chromedp.Click(chromedp.CSS(`#promo-form button[type=submit]`)),
	); err != nil {
		t.Fatal(err)
	}
	wait("the code in the studio", `window.livegateStudioPromos === 1 && document.querySelector('#promos tr[data-code="SUNDAY20"]').textContent.includes("0 of 5")`, 5*time.Second)
	screenshots(t, browser, "studio-promo")
	r = n.buyer("viewer-promo", "").postJSON("/v1/streams/"+id+"/checkout", map[string]any{"promo_code": "SUNDAY20"})
	var discounted checkoutInfo
	if err := json.Unmarshal([]byte(r.body), &discounted); err != nil || r.status != 201 || discounted.Amount != 3960 {
		t.Fatalf("a checkout with the studio's code: %d %s, want MAD 39.60 (20%% off 49.50)", r.status, r.body)
	}
	screenshots(t, browser, "studio-live")
	if err := chromedp.Do(browser, chromedp.Click(chromedp.ID("end"))); err != nil {
		t.Fatal(err)
	}
	wait("ended", `window.livegateStudioState === "ended"`, 10*time.Second)
	if got := n.stream(id); got.State != "ended" {
		t.Errorf("after End stream: %+v", got)
	}
	// Morocco pays out manually: the studio shows what the operator owes, as the API has it.
	// The operator paid MAD 10.00 of it: the studio shows the payout, its date and
	// reference, and what is still owed.
	if st := n.call("POST", "/v1/admin/payouts", map[string]any{"creator_id": c.ID, "currency": "MAD", "amount": 1000, "reference": "TRX-STUDIO-1"}, nil); st != 201 {
		t.Fatalf("record a payout: %d", st)
	}
	var earned struct {
		Owed []struct{ Currency, Display string }
	}
	n.call("GET", "/v1/creators/"+c.ID+"/earnings", nil, &earned)
	if len(earned.Owed) != 1 || earned.Owed[0].Currency != "MAD" {
		t.Fatalf("owed after a sale in Morocco: %+v", earned.Owed)
	}
	if err := chromedp.Do(browser, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	wait("what is owed", `(document.querySelector('#owed li[data-currency="MAD"]') || {}).textContent?.includes(`+strconv.Quote(earned.Owed[0].Display)+`)`, 10*time.Second)
	wait("what was paid", `(document.querySelector('#paid li[data-reference="TRX-STUDIO-1"]') || {}).textContent?.includes("MAD 10.00")`, 10*time.Second)
	if hidden, _ := chromedp.Run(browser, chromedp.Evaluate[bool](`document.getElementById("connect-p").hidden`)); !hidden {
		t.Error("a creator paid out manually is offered Stripe Connect onboarding")
	}
	screenshots(t, browser, "studio-earnings")
}

// The operator console enables a country: a value the API refuses shows its error next
// to its field; once saved and enabled, a viewer in that country can buy.
func TestBrowserOperatorConsoleEnablesACountry(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) { c.DefaultCountry = "MA" })
	var c struct{ ID string }
	n.call("POST", "/v1/creators", map[string]any{"name": "Yasmine", "country": "MA"}, &c)
	var s streamInfo
	n.call("POST", "/v1/streams", map[string]any{"creator_id": c.ID, "title": "Gnawa night", "access_mode": "ticket"}, &s)
	hooks := &countingReceiver{}
	platform := httptest.NewServer(hooks)
	defer platform.Close()
	if st := n.call("POST", "/v1/admin/webhooks/endpoints", map[string]any{"url": platform.URL, "event_types": []string{"entitlement.granted"}}, nil); st != 201 {
		t.Fatalf("webhook endpoint: %d", st)
	}
	browser := startBrowser(t, chromium)
	wait := func(what, js string) { t.Helper(); waitJS(t, browser, what, js, 10*time.Second) }
	field := func(name string) chromedp.CSS { return chromedp.CSS(`tr[data-code="MA"] [name="` + name + `"]`) }
	if err := chromedp.Do(browser, chromedp.Navigate(n.URL()+"/admin")); err != nil {
		t.Fatal(err)
	}
	wait("the console's first load", `window.livegateAdminLoaded >= 1`)
	if err := chromedp.Do(browser,
		chromedp.SendKeys(chromedp.ID("key"), testAPIKey),
		chromedp.Click(chromedp.ID("use-key")),
	); err != nil {
		t.Fatal(err)
	}
	wait("the console with the key", `window.livegateAdminLoaded >= 2`)
	if err := chromedp.Do(browser,
		chromedp.SendKeys(chromedp.ID("new-code"), "ma"),
		chromedp.Click(chromedp.ID("add")),
		chromedp.WaitVisible(field("currency")),
		chromedp.SetValue(field("launch_at"), time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")),
		chromedp.SendKeys(field("currency"), "MAD"),
		chromedp.SendKeys(field("min_ticket"), "1000"),
		chromedp.SendKeys(field("max_ticket"), "50000"),
		chromedp.SendKeys(field("min_subscription"), "2000"),
		chromedp.SendKeys(field("max_subscription"), "20000"),
		chromedp.SendKeys(field("fee_bps"), "20000"), // 200%: refused
		chromedp.Click(chromedp.CSS(`tr[data-code="MA"] button.save`)),
	); err != nil {
		t.Fatalf("fill in a country: %v", err)
	}
	wait("the fee's error next to its field", `(document.querySelector('tr[data-code="MA"] .error[data-field="fee_bps"]') || {}).textContent !== ""`)
	screenshots(t, browser, "console-error")
	if err := chromedp.Do(browser,
		chromedp.SetValue(field("fee_bps"), "1500"),
		chromedp.Click(chromedp.CSS(`tr[data-code="MA"] button.save`)),
	); err != nil {
		t.Fatal(err)
	}
	wait("the saved country", `!!document.querySelector('tr[data-code="MA"] input[type=checkbox]') && window.livegateAdminLoaded >= 3`)
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`tr[data-code="MA"] input[type=checkbox]`))); err != nil {
		t.Fatal(err)
	}
	wait("the country enabled", `document.querySelector('tr[data-code="MA"] input[type=checkbox]').checked && window.livegateAdminLoaded >= 4`)
	screenshots(t, browser, "console")
	var p struct {
		Enabled  bool
		Currency string
		FeeBPS   int `json:"fee_bps"`
	}
	if st := n.call("GET", "/v1/admin/countries/MA", nil, &p); st != 200 || !p.Enabled || p.Currency != "MAD" || p.FeeBPS != 1500 {
		t.Fatalf("Morocco after the console: %d %+v", st, p)
	}
	var audit struct {
		Audit []struct{ Object, Actor string }
	}
	n.call("GET", "/v1/admin/audit", nil, &audit)
	if len(audit.Audit) == 0 {
		t.Error("the console's changes left no audit entry")
	}

	// A viewer in Morocco can buy now.
	if st := n.call("PUT", "/v1/streams/"+s.ID+"/prices", map[string]any{"prices": map[string]int64{"MAD": 4900}}, nil); st != 200 {
		t.Fatalf("price the stream in MAD: %d", st)
	}
	viewer, cancel := chromedp.NewContext(browser)
	defer cancel()
	if err := chromedp.Do(viewer,
		chromedp.Navigate(n.URL()+"/dev/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name="viewer_id"]`), "viewer-ma"),
		chromedp.Submit(chromedp.CSS(`input[name="viewer_id"]`)),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Navigate(n.URL()+"/watch/"+s.ID+"?loopback=1"),
		chromedp.WaitVisible(chromedp.ID("paywall")),
		chromedp.Click(chromedp.ID("buy")),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/pay"] button`)),
		chromedp.Click(chromedp.CSS(`form[action$="/pay"] button`)),
	); err != nil {
		t.Fatalf("a Moroccan viewer buys: %v", err)
	}
	poll.Until(t, 10*time.Second, "a ticket after paying in a country the console enabled", func() error {
		return poll.Want(n.hasTicket("viewer-ma", s.ID, c.ID), "none")
	})

	// The sale's webhook out is in the console's deliveries, and the operator replays it.
	poll.Until(t, 10*time.Second, "the delivery", func() error { return poll.Want(hooks.count() == 1, "%d deliveries", hooks.count()) })
	if err := chromedp.Do(browser, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	wait("the delivery in the console", `!!document.querySelector('#deliveries tr[data-event="entitlement.granted"] button')`)
	wait("the sale's country in the growth report", `!!document.querySelector('#growth tr[data-country="MA"]')`)
	screenshots(t, browser, "console-deliveries")
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#deliveries tr[data-event="entitlement.granted"] button`))); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the replayed delivery at the platform", func() error { return poll.Want(hooks.count() == 2, "%d deliveries", hooks.count()) })

	// Morocco pays out by hand: the console shows what the creator is owed and records
	// the transfer the operator made, which settles it.
	row := `#balances tr[data-creator="` + c.ID + `"][data-currency="MAD"]`
	if err := chromedp.Do(browser, chromedp.Reload()); err != nil { // no load of the replay's still rendering
		t.Fatal(err)
	}
	wait("the creator's balance", `(document.querySelector('`+row+`') || {}).textContent?.includes("MAD 41.65")`)
	if err := chromedp.Do(browser,
		chromedp.SendKeys(chromedp.CSS(row+` .payout-reference`), "TRX-CONSOLE-1"),
		chromedp.Click(chromedp.CSS(row+` .payout-record`)),
	); err != nil {
		t.Fatalf("record a payout in the console: %v", err)
	}
	var paid struct {
		Payouts []struct {
			Reference string
			Amount    int64
		}
	}
	poll.Until(t, 10*time.Second, "the console's payout", func() error {
		n.call("GET", "/v1/admin/payouts?creator_id="+c.ID, nil, &paid)
		return poll.Want(len(paid.Payouts) > 0, "no payout recorded")
	})
	if len(paid.Payouts) != 1 || paid.Payouts[0].Amount != 4165 || paid.Payouts[0].Reference != "TRX-CONSOLE-1" {
		t.Fatalf("payouts after the console: %+v", paid.Payouts)
	}
	wait("nothing owed", `(document.querySelector('`+row+`') || {}).textContent?.includes("MAD 0.00")`)
}

// countingReceiver answers every webhook out with 204 and counts them.
type countingReceiver struct {
	mu sync.Mutex
	n  int
}

func (c *countingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (c *countingReceiver) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// After a stream ends, its viewer page offers the replay: a viewer without a ticket meets
// the paywall, buys through the development checkout, and the recording plays in the
// page's video element.
func TestBrowserReplaysABoughtStream(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) { c.DefaultCountry = "MA" })
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	creator := startBrowser(t, chromium)
	chromiumPublish(t, creator, n, s, false)
	waitRecorded(t, n, s.ID, 5*time.Second) // the show, from Chromium's fake camera
	if st := n.call("DELETE", "/v1/streams/"+s.ID, nil, nil); st != 200 {
		t.Fatalf("end the stream: %d", st)
	}
	waitRecording(t, n, s.ID, store.RecordingComplete)
	browser, cancel := chromedp.NewContext(creator)
	defer cancel()
	watch := n.URL() + "/watch/" + s.ID + "?loopback=1"
	if err := chromedp.Do(browser,
		chromedp.Navigate(n.URL()+"/dev/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name="viewer_id"]`), "replay-viewer"),
		chromedp.Submit(chromedp.CSS(`input[name="viewer_id"]`)),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Navigate(watch),
		chromedp.WaitVisible(chromedp.ID("paywall")),
	); err != nil {
		t.Fatalf("to the ended stream's page: %v", err)
	}
	if price, _ := chromedp.Run(browser, chromedp.Text(chromedp.ID("price"))); price != "Watch the replay for MAD 49.00" {
		t.Errorf("the replay's paywall says %q", price)
	}
	screenshots(t, browser, "replay-paywall")
	if err := chromedp.Do(browser,
		chromedp.Click(chromedp.ID("buy")),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/pay"] button`)),
		chromedp.Click(chromedp.CSS(`form[action$="/pay"] button`)),
	); err != nil {
		t.Fatalf("buy the replay: %v", err)
	}
	waitJS(t, browser, "the checkout completed", `document.body.innerText.includes("This checkout is completed")`, 10*time.Second)
	if err := chromedp.Do(browser, chromedp.Navigate(watch)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, browser, "the replay", `window.livegateReplay === true`, 10*time.Second)
	waitPlaying(t, browser)
	if status, _ := chromedp.Run(browser, chromedp.Text(chromedp.ID("status"))); status != "Replay" {
		t.Errorf("the page says %q while replaying", status)
	}
	screenshots(t, browser, "replay")
}

// A viewer tips from the watch page (the amount typed in MAD, checked against Morocco's
// bounds), pays in the development checkout, and every open page of the stream shows the
// tip; on a ticket stream the paywall sells a gift to another viewer.
func TestBrowserViewerTipsAndGifts(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) { c.DefaultCountry = "MA" })
	n.launchCountries()
	n.setCountry("MA", map[string]any{"min_tip": 1000, "max_tip": 50000})
	s := n.newStream()
	goLive(t, n, s)
	tipper := startBrowser(t, chromium)
	step := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v (%q)", what, err, body)
		}
	}
	watch := n.URL() + "/watch/" + s.ID + "?loopback=1"
	// A tab's first action is not under a timeout: ending that context would close the tab.
	if err := chromedp.Do(tipper, chromedp.Navigate(n.URL()+"/dev/login")); err != nil {
		t.Fatal(err)
	}
	step(tipper, "sign in",
		chromedp.SendKeys(chromedp.CSS(`input[name="viewer_id"]`), "browser-tipper"),
		chromedp.Submit(chromedp.CSS(`input[name="viewer_id"]`)),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Navigate(watch),
		chromedp.WaitVisible(chromedp.ID("tipform")),
	)
	other, cancelOther := chromedp.NewContext(tipper) // a second tab of the same browser
	defer cancelOther()
	if err := chromedp.Do(other, chromedp.Navigate(watch), chromedp.WaitVisible(chromedp.ID("tips"))); err != nil {
		t.Fatalf("another viewer's page: %v", err)
	}
	label, _ := chromedp.Run(tipper, chromedp.Text(chromedp.ID("tipamountlabel")))
	if label != "Amount in MAD (MAD 10.00 to MAD 500.00)" {
		t.Errorf("the tip form's label %q", label)
	}
	step(tipper, "a tip under the bound",
		chromedp.SendKeys(chromedp.ID("tipamount"), "5"),
		chromedp.Click(chromedp.CSS(`#tipform button`)),
	)
	waitJS(t, tipper, "the bound's error", `document.getElementById("tiperror").textContent === "Enter an amount such as 20.00"`, 5*time.Second)
	screenshots(t, tipper, "tip-form")
	step(tipper, "a tip",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("tipamount").value = ""`),
		chromedp.SendKeys(chromedp.ID("tipamount"), "20,50"),
		chromedp.SendKeys(chromedp.ID("tipmessage"), "Bravo Yasmine"),
		chromedp.Click(chromedp.CSS(`#tipform button`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/pay"] button`)),
	)
	if title, _ := chromedp.Run(tipper, chromedp.Evaluate[string](`document.body.innerText`)); !strings.Contains(title, "Tip") || !strings.Contains(title, "MAD 20.50") {
		t.Errorf("the development checkout for the tip shows %q", title)
	}
	if n, _ := chromedp.Run(other, chromedp.Evaluate[int](`window.livegateTips || 0`)); n != 0 {
		t.Fatalf("a tip showed before it was paid: %d", n)
	}
	step(tipper, "pay", chromedp.Click(chromedp.CSS(`form[action$="/pay"] button`)))
	waitJS(t, other, "the tip on another viewer's page", `window.livegateTips === 1 && document.getElementById("tiplist").textContent.includes("A tip of MAD 20.50 · Bravo Yasmine") && !document.getElementById("tiplist").textContent.includes("browser-tipper")`, 5*time.Second)
	screenshots(t, other, "tips")
	step(tipper, "back to the stream", chromedp.Navigate(watch))
	waitJS(t, tipper, "the tip in the list", `window.livegateTips === 1`, 5*time.Second)

	// A gift: the paywall of a ticket stream, for another viewer.
	creator, ticketed := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	step(tipper, "the paywall",
		chromedp.Navigate(n.URL()+"/watch/"+ticketed.ID+"?loopback=1"),
		chromedp.WaitVisible(chromedp.ID("paywall")),
		chromedp.Click(chromedp.CSS(`#giftpromo summary`)),
		chromedp.SendKeys(chromedp.ID("giftto"), "browser-friend"),
		chromedp.Click(chromedp.ID("buy")),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/pay"] button`)),
	)
	if body, _ := chromedp.Run(tipper, chromedp.Evaluate[string](`document.body.innerText`)); !strings.Contains(body, "Gifted ticket for browser-friend") {
		t.Errorf("the gift's checkout shows %q", body)
	}
	step(tipper, "pay the gift", chromedp.Click(chromedp.CSS(`form[action$="/pay"] button`)))
	poll.Until(t, 5*time.Second, "the friend's ticket", func() error { return poll.Want(n.hasTicket("browser-friend", ticketed.ID, creator), "no ticket") })
	if n.hasTicket("browser-tipper", ticketed.ID, creator) {
		t.Error("the giver got the ticket too")
	}
}
