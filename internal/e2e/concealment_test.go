package e2e

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/netns"
	"github.com/livegate/livegate/internal/poll"
	"github.com/livegate/livegate/internal/testservices"
)

var devtoolsURL = regexp.MustCompile(`DevTools listening on ws://127\.0\.0\.1:(\d+)(/devtools/browser/\S+)`)

// startBrowserIn runs a headless Chromium inside the link's namespace, a viewer on
// another network: its WebRTC gathers on the link alone (no loopback candidates) and
// every packet crosses the link's real queue and loss. Its DevTools listen on the
// namespace's loopback only, reached through a forward (netns.Forward).
func startBrowserIn(t *testing.T, chromium string, l *netns.Link, flags ...string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--mute-audio",
		"--remote-debugging-port=0", "--user-data-dir=" + t.TempDir(),
		"--disable-quic", "--disable-component-update", "--no-first-run",
		"--disable-features=WebRtcHideLocalIpsWithMdns", "--autoplay-policy=no-user-gesture-required"}, flags...)
	cmd := l.Command(ctx, chromium, append(args, "about:blank")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("Chromium in %s: %v", l.NS, err)
	}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() { // read to the end, so that Chromium never blocks on a full pipe
			if m := devtoolsURL.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m
				sent = true
			}
		}
	}()
	var m []string
	select {
	case m = <-found:
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("Chromium in the namespace never said where its DevTools listen")
	}
	ws := "ws://" + l.Forward(t, "127.0.0.1:"+m[1]) + m[2]
	allocCtx, cancelAlloc := remote.NewAllocator(ctx, ws, remote.NoModifyURL)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
		_ = cmd.Wait()
	})
	return browser
}

// audioStats is what Chromium's decoder says of the audio it received (W3C
// webrtc-stats, inbound-rtp): concealment is what it played in place of audio it did
// not have in time.
type audioStats struct {
	Mime      string  `json:"mime"`      // what Chromium decodes: Opus, with RED or without
	RED       bool    `json:"red"`       // the node's answer has RED
	Events    int     `json:"events"`    // concealmentEvents: each gap the listener hears
	Concealed int     `json:"concealed"` // concealedSamples
	Samples   int     `json:"samples"`   // totalSamplesReceived
	Received  int     `json:"received"`  // packetsReceived
	Lost      int     `json:"lost"`      // packetsLost
	At        float64 `json:"at"`        // the page's clock, ms
}

const audioStatsJS = `(async () => {
	const pc = window.livegatePC;
	if (!pc) return {mime: ""};
	const stats = await pc.getStats();
	let out = {mime: ""};
	const red = /a=rtpmap:\d+ red\/48000/.test(pc.remoteDescription ? pc.remoteDescription.sdp : "");
	stats.forEach((r) => {
		if (r.type !== "inbound-rtp" || r.kind !== "audio") return;
		const c = stats.get(r.codecId);
		out = {mime: c ? c.mimeType : "", events: r.concealmentEvents || 0, concealed: r.concealedSamples || 0,
			samples: r.totalSamplesReceived || 0, received: r.packetsReceived || 0, lost: r.packetsLost || 0, at: performance.now(), red};
	});
	return out;
})()`

func readAudioStats(t *testing.T, browser context.Context) audioStats {
	t.Helper()
	got, err := chromedp.Run(browser, chromedp.Evaluate[audioStats](audioStatsJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("read Chromium's audio stats: %v", err)
	}
	return got
}

// concealmentRun is one measurement: a Chromium publisher on loopback, a Chromium
// viewer behind a link losing loss% each way.
type concealmentRun struct {
	name         string
	nodeRED      bool // the node's --audio-red
	publisherRED bool // the publisher offers RED (a browser) or not (OBS)
	loss         int
}

// concealment is what one run measured.
type concealment struct {
	mime          string
	red           bool    // negotiated with the viewer
	perMinute     float64 // concealment events per minute
	concealedPct  float64 // of the samples played
	lostPct       float64 // of the audio packets, as the viewer counts them
	windowSeconds float64
}

// measureConcealment runs one measurement and returns its figures.
func measureConcealment(t *testing.T, chromium string, c concealmentRun) concealment {
	t.Helper()
	l := netns.New(t, netns.Unavailable{NotRoot: testservices.SkipHere, Missing: testservices.Missing})
	n := startNode(t, func(cfg *config.Config) {
		cfg.HTTPAddr = freeAddrOn(t, l.HostAddr)
		cfg.PublicURL = "http://" + cfg.HTTPAddr
		cfg.Interfaces = []string{"lo", l.HostIf}
		cfg.RemoteNetworks = append(cfg.RemoteNetworks, l.Prefix.String())
		cfg.AudioRED = c.nodeRED
	})
	s := n.newStream()
	pub := startBrowser(t, chromium)
	chromiumPublishAudio(t, pub, n, s, false, c.publisherRED)
	n.waitLive(t, s.ID)

	l.LoseDown(t, c.loss)
	l.LoseUp(t, c.loss)
	view := startBrowserIn(t, chromium, l)
	if _, err := chromedp.Run(view, chromedp.Navigate(n.URL()+"/watch/"+s.ID)); err != nil {
		t.Fatalf("open the viewer page in the namespace: %v", err)
	}
	var first audioStats
	poll.Until(t, 30*time.Second, "Chromium in the namespace playing audio for 3 s", func() error {
		first = readAudioStats(t, view)
		return poll.Want(first.Samples >= 3*48000, "%+v", first)
	})
	// The measuring window: about time, a listener's 20 seconds of the stream.
	time.Sleep(20 * time.Second)
	last := readAudioStats(t, view)
	secs := (last.At - first.At) / 1000
	got := concealment{mime: last.Mime, red: last.RED, windowSeconds: secs,
		perMinute: float64(last.Events-first.Events) / secs * 60}
	if d := last.Samples - first.Samples; d > 0 {
		got.concealedPct = 100 * float64(last.Concealed-first.Concealed) / float64(d)
	}
	if d := (last.Received - first.Received) + (last.Lost - first.Lost); d > 0 {
		got.lostPct = 100 * float64(last.Lost-first.Lost) / float64(d)
	}
	if last.Samples-first.Samples < int(secs*48000*9/10) {
		t.Fatalf("Chromium played %d samples in %.1f s: the audio did not flow", last.Samples-first.Samples, secs)
	}
	return got
}

// Audio through a lossy last mile: a Chromium viewer behind a link that loses 5% or 10%
// of the packets each way (nftables, in a namespace of the test's own), its decoder's
// concealment events counted (webrtc-stats) over 20 s. Without RED every lost packet is
// a gap the listener hears; with RED (the browser publisher's own, or built by the node
// for an encoder that sends plain Opus) the lost frame arrives in the next packet. The
// figures are the ones docs/BENCHMARKS.md keeps.
func TestAudioConcealmentUnderLoss(t *testing.T) {
	chromium := chromiumPath(t)
	for _, loss := range []int{5, 10} {
		results := map[string]concealment{}
		for _, c := range []concealmentRun{
			{name: "RED off", nodeRED: false, publisherRED: true, loss: loss},
			{name: "publisher's RED", nodeRED: true, publisherRED: true, loss: loss},
			{name: "RED built by the node", nodeRED: true, publisherRED: false, loss: loss},
		} {
			t.Run(fmt.Sprintf("%d%% %s", loss, c.name), func(t *testing.T) {
				got := measureConcealment(t, chromium, c)
				t.Logf("figures: %d%% loss, %s: %s (RED negotiated: %v), %.1f concealment events/min, %.2f%% of samples concealed, %.1f%% of packets lost (%.0f s)",
					loss, c.name, got.mime, got.red, got.perMinute, got.concealedPct, got.lostPct, got.windowSeconds)
				if !strings.EqualFold(got.mime, "audio/opus") || got.red != c.nodeRED {
					t.Errorf("viewer decodes %s, RED negotiated %v; want Opus, RED %v", got.mime, got.red, c.nodeRED)
				}
				if got.lostPct < float64(loss)/3 {
					t.Errorf("only %.1f%% of the audio lost on a link losing %d%%: the link is not what the test says", got.lostPct, loss)
				}
				results[c.name] = got
			})
		}
		off := results["RED off"]
		for _, name := range []string{"publisher's RED", "RED built by the node"} {
			if on, ok := results[name]; ok && off.perMinute > 0 && on.perMinute > off.perMinute/3 {
				t.Errorf("%d%% loss: %s conceals %.1f times a minute, RED off %.1f: want a third or less", loss, name, on.perMinute, off.perMinute)
			}
		}
	}
}
