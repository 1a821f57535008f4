package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/config"
	"github.com/livegate/livegate/internal/netns"
	"github.com/livegate/livegate/internal/testservices"
)

// turnNode is a node whose HTTP and TURN listeners are on the link's host address (the
// namespace reaches nothing else) while its media socket stays on loopback: a viewer in
// the namespace can only get media through the node's TURN relay.
func turnNode(t *testing.T, l *netns.Link) (*testNode, string) {
	t.Helper()
	certFile, keyFile := testservices.Certificate(t, l.HostAddr)
	host := l.HostAddr.String()
	n := startNode(t, func(c *config.Config) {
		c.HTTPAddr = freeAddrOn(t, l.HostAddr)
		c.PublicURL = "http://" + c.HTTPAddr
		c.TURN = config.TURNConfig{Secret: "e2e-turn-secret-0123456789abcdefghij", Host: host,
			UDPAddr: host + ":0", TCPAddr: host + ":0", TLSAddr: host + ":0", CertFile: certFile, KeyFile: keyFile,
			RelayIP: "127.0.0.1", TTL: 10 * time.Minute, MaxPerSession: 12, MaxPerClient: 100}
	})
	return n, certFile
}

// A viewer whose network drops UDP plays through the node's TURN server, over TCP and
// over TLS; without TURN it cannot connect at all.
func TestViewerBehindUDPBlockPlaysThroughTURN(t *testing.T) {
	l := netns.New(t, netns.Unavailable{NotRoot: testservices.SkipHere, Missing: testservices.Missing})
	n, certFile := turnNode(t, l)
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)
	l.BlockUDP(t)
	endpoint := n.URL() + "/whep/" + s.ID

	t.Run("udp is blocked", func(t *testing.T) {
		res := runChildViewer(t, l, childView{Endpoint: endpoint, Iface: l.PeerIf, Transport: "udp", Watch: time.Second, Connect: 6 * time.Second})
		if res.Err == "" {
			t.Fatalf("a viewer connected over TURN/UDP through a network that drops UDP: %+v", res)
		}
	})
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			res := runChildViewer(t, l, childView{Endpoint: endpoint, Iface: l.PeerIf, Transport: transport, Watch: 4 * time.Second, Connect: 10 * time.Second},
				"SSL_CERT_FILE="+certFile) // the child trusts the node's certificate, as a browser trusts a CA's
			t.Logf("%s: %+v", transport, res)
			if res.Err != "" {
				t.Fatalf("viewer over TURN/%s: %s", transport, res.Err)
			}
			if res.CandidateType != "relay" || res.RelayProtocol != transport {
				t.Errorf("connected over a %s candidate (relay protocol %q), want relay over %s", res.CandidateType, res.RelayProtocol, transport)
			}
			// 300 kbit/s VP8 is about 30 packets a second; Opus 50.
			if res.Video < 60 || res.Audio < 100 {
				t.Errorf("in 4 s: %d video and %d audio packets", res.Video, res.Audio)
			}
			if !res.FirstVideoKey {
				t.Error("the first video packet did not start a keyframe")
			}
		})
	}
	if n.TURN == nil {
		t.Fatal("the node runs no TURN server")
	}
}

// A browser that may use nothing but TURN (iceTransportPolicy "relay", the page's
// ?relay=1) gets the node's TURN servers from the WHEP endpoint's Link headers and plays
// through them.
func TestBrowserPlaysThroughTURN(t *testing.T) {
	chromium := chromiumPath(t)
	n := startNode(t, func(c *config.Config) {
		c.TURN = config.TURNConfig{Secret: "e2e-turn-secret-0123456789abcdefghij", Host: "127.0.0.1",
			UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", RelayIP: "127.0.0.1", TTL: 10 * time.Minute, MaxPerSession: 12, MaxPerClient: 100}
	})
	s := n.newStream()
	publish(t, n, s, webrtc.MimeTypeVP8, 30)

	browser := startBrowser(t, chromium)
	if _, err := chromedp.Run(browser, chromedp.Navigate(n.URL()+"/watch/"+s.ID+"?loopback=1&relay=1")); err != nil {
		t.Fatalf("open the viewer page: %v", err)
	}
	got := waitBrowserMedia(t, browser)
	if got.State != "connected" {
		t.Fatalf("browser state %+v", got)
	}
	const selected = `(async () => {
		let pairID = "", out = "";
		const stats = await window.livegatePC.getStats();
		stats.forEach((r) => { if (r.type === "transport" && r.selectedCandidatePairId) pairID = r.selectedCandidatePairId; });
		const pair = stats.get(pairID);
		if (pair) { const local = stats.get(pair.localCandidateId); if (local) out = local.candidateType + "/" + (local.relayProtocol || ""); }
		return out;
	})()`
	typ, err := chromedp.Run(browser, chromedp.Evaluate[string](selected, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(typ, "relay/") {
		t.Errorf("the browser's selected local candidate is %q, want a relay one", typ)
	}
	if n.TURN.Allocations() == 0 {
		t.Error("the node's TURN server holds no allocation while the browser plays through it")
	}
	t.Logf("Chromium played through TURN (%s): %d video, %d audio packets, %d frames", typ, got.Video, got.Audio, got.Frames)
}
