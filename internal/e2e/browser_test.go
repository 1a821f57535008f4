package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/testenv"
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
	testenv.Missing(t, "Chromium", exec.ErrNotFound)
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		got, err = chromedp.Run(browser, chromedp.Evaluate[browserStats](inbound, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("read the browser's stats: %v", err)
		}
		if got.Video >= 60 && got.Audio >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("browser after 20 s: %+v", got)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return got
}

// A viewer in a browser logs in (development login), meets the paywall, buys through the
// development checkout, and then watches.
func TestBrowserBuysAndWatches(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) { c.DefaultCountry = "MA" })
	n.launchCountries()
	_, s := n.ticketStream("MA", map[string]int64{"MAD": 4900})
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	browser := startBrowser(t, chromium)

	watch := n.URL() + "/watch/" + s.ID + "?loopback=1"
	if err := chromedp.Do(browser,
		chromedp.Navigate(n.URL()+"/dev/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name="viewer_id"]`), "browser-viewer"),
		chromedp.Submit(chromedp.CSS(`input[name="viewer_id"]`)),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Navigate(watch),
		chromedp.WaitVisible(chromedp.ID("paywall")),
	); err != nil {
		t.Fatalf("login and paywall: %v", err)
	}
	price, err := chromedp.Run(browser, chromedp.Text(chromedp.ID("price")))
	if err != nil {
		t.Fatal(err)
	}
	if price != "Watch for MAD 49.00" {
		t.Fatalf("paywall says %q", price)
	}
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
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.body.innerText`))
		if strings.Contains(body, "This checkout is completed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkout page after paying: %q", body)
		}
	}
	step("back to the stream", chromedp.Navigate(watch))
	got := waitBrowserMedia(t, browser)
	if got.State != "connected" || got.Status != "Live" {
		t.Fatalf("after buying: %+v", got)
	}
}
